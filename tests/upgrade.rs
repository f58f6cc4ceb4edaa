//! Upgrade in place: a database as the release before channels wrote it (migrations 1–4,
//! Telegram's integer ids) is migrated with nothing lost, on SQLite and on PostgreSQL. The
//! ledger comes from the importer (its tables did not change); every row the chat side
//! wrote is written here by SQL as that release wrote it.

mod common;

use chrono::{TimeZone, Utc};
use common::{PgDatabase, Sandbox, sample};
use duban::core::chat::{Address, ChannelKind};
use duban::core::ledger::Status;
use duban::core::remind::RecipientKind;
use duban::ingest::import::{ImportOptions, import_file};
use duban::store::{Backend, Store};
use sqlx::Connection;

fn tg(id: &str) -> Address {
    Address::new(ChannelKind::Telegram, id)
}

/// What the release before channels wrote, beyond the ledger: people bound in Telegram
/// (and the console's), a group, an invitation, claims, evidence, an extension request, a
/// flag, history from a chat, the outbox (sent, queued, to a group, to the console) and
/// the updates applied.
const RELEASE_ROWS: &[&str] = &[
    "INSERT INTO people (id, name, unit_id, role, created_at, place, telegram_id, chat_id, bound_at) \
     VALUES (9001, '李联络', (SELECT id FROM units WHERE name = '经济发展局'), 'liaison', '2024-03-01T01:00:00.000000Z', NULL, 7001, 7001, '2024-03-01T01:00:00.000000Z')",
    "INSERT INTO people (id, name, unit_id, role, created_at, place, telegram_id, chat_id, bound_at) \
     VALUES (9002, '张三', NULL, 'office', '2024-03-01T01:00:00.000000Z', '整改办', 7003, 7003, '2024-03-01T01:00:00.000000Z')",
    "INSERT INTO people (id, name, unit_id, role, created_at, place, telegram_id, chat_id, bound_at, unreachable_at) \
     VALUES (9003, '王领导', NULL, 'leader', '2024-03-01T01:00:00.000000Z', '党工委', 7004, 7004, '2024-03-01T01:00:00.000000Z', '2024-03-10T01:00:00.000000Z')",
    "INSERT INTO people (id, name, unit_id, role, created_at, place, telegram_id, chat_id, bound_at) \
     VALUES (9004, '控制台联络员', (SELECT id FROM units WHERE name = '经济发展局'), 'liaison', '2024-03-01T01:00:00.000000Z', 'console', 1, 1, '2024-03-01T01:00:00.000000Z')",
    "INSERT INTO invites (code_hash, role, unit_id, created_by, created_at, expires_at, used_at, used_by, used_in_chat) \
     VALUES ('abc', 'liaison', (SELECT id FROM units WHERE name = '经济发展局'), '整改办', '2024-03-01T00:00:00.000000Z', '2024-03-08T00:00:00.000000Z', '2024-03-01T01:00:00.000000Z', 7001, 7001)",
    "INSERT INTO unit_chats (unit_id, chat_id, bound_at, bound_by) \
     VALUES ((SELECT id FROM units WHERE name = '国资办'), -5001, '2024-03-01T02:00:00.000000Z', 7002)",
    "INSERT INTO history (measure_id, at, actor, source, kind, from_status, to_status, note, unit, chat_id, raw_text) \
     VALUES ((SELECT id FROM measures WHERE code = '1-4'), '2024-03-12T01:00:00.000000Z', '李联络', 'chat', 'status', 'in_progress', 'claimed', '已完成', '经济发展局', 7001, '1-4 已完成')",
    "UPDATE measures SET status = 'claimed', claimed_at = '2024-03-12T01:00:00.000000Z' WHERE code = '1-4'",
    "INSERT INTO claims (id, measure_id, claimed_by, claimed_by_user, chat_id, claimed_at, state, rejecting_user) \
     VALUES (501, (SELECT id FROM measures WHERE code = '1-4'), '李联络', 7001, 7001, '2024-03-12T01:00:00.000000Z', 'pending', 7003)",
    "INSERT INTO evidence (measure_id, claim_id, file_id, file_name, kind, size, sha256, path, sent_by, sent_by_user, chat_id, created_at) \
     VALUES ((SELECT id FROM measures WHERE code = '1-4'), 501, 'F1', '验收报告.pdf', 'document', 1234, 'ab', 'evidence/ab/ab.pdf', '李联络', 7001, 7001, '2024-03-12T01:05:00.000000Z')",
    "INSERT INTO extension_requests (id, measure_id, person_id, requested_by, requested_until, reason, created_at, state, chat_id, requested_by_user) \
     VALUES (601, (SELECT id FROM measures WHERE code = '3-2'), 9001, '李联络', '2030-06-30', '设备未到货', '2024-03-12T02:00:00.000000Z', 'pending', 7001, 7001)",
    "INSERT INTO coordination_flags (id, measure_id, person_id, requested_by, reason, created_at, unit, chat_id) \
     VALUES (701, (SELECT id FROM measures WHERE code = '3-2'), 9001, '李联络', '资金缺口', '2024-03-12T03:00:00.000000Z', '经济发展局', 7001)",
    "INSERT INTO outbox (id, key, chat_id, person_id, kind, body, state, attempts, not_before, created_at, sent_at, message_id) \
     VALUES (801, 'reminder:7001:2024-03-11:x:1/1', 7001, 9001, 'reminder', '{\"text\":\"【督办提醒】\"}', 'sent', 1, '2024-03-11T01:00:00.000000Z', '2024-03-11T01:00:00.000000Z', '2024-03-11T01:00:01.000000Z', 555)",
    "INSERT INTO outbox_items (outbox_id, position, measure_id) VALUES (801, 0, (SELECT id FROM measures WHERE code = '1-4'))",
    "INSERT INTO outbox (id, key, chat_id, person_id, kind, body, state, attempts, not_before, created_at) \
     VALUES (802, 'reply:1004:0', 7001, 9001, 'reply', '{\"text\":\"排队中\"}', 'pending', 0, '2024-03-12T01:00:00.000000Z', '2024-03-12T01:00:00.000000Z')",
    "INSERT INTO outbox (id, key, chat_id, person_id, kind, body, state, attempts, not_before, created_at) \
     VALUES (803, 'reminder:-5001:2024-03-12:y:1/1', -5001, NULL, 'reminder', '{\"text\":\"群提醒\"}', 'pending', 0, '2024-03-12T01:00:00.000000Z', '2024-03-12T01:00:00.000000Z')",
    "INSERT INTO outbox (id, key, chat_id, person_id, kind, body, state, attempts, not_before, created_at, sent_at, message_id) \
     VALUES (804, 'reminder:1:2024-03-12:z:1/1', 1, 9004, 'reminder', '{\"text\":\"控制台\"}', 'sent', 1, '2024-03-12T01:00:00.000000Z', '2024-03-12T01:00:00.000000Z', '2024-03-12T01:00:01.000000Z', 7)",
    "INSERT INTO updates (update_id, received_at) VALUES (1003, '2024-03-12T01:00:00.000000Z')",
    "INSERT INTO updates (update_id, received_at) VALUES (1004, '2024-03-12T01:00:00.000000Z')",
    "INSERT INTO updates (update_id, received_at) VALUES (1005, '2024-03-12T01:00:00.000000Z')",
];

async fn execute(url: &str, sql: &[&str]) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    for statement in sql {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    conn.close().await.unwrap();
}

async fn text(url: &str, sql: &str) -> Vec<Option<String>> {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let values = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    values
}

/// The office importing the sample ledger on `day` March 2024.
fn import_at(day: u32) -> ImportOptions {
    ImportOptions {
        dry_run: false,
        sheet: None,
        actor: "整改办".into(),
        at: Utc.with_ymd_and_hms(2024, 3, day, 1, 0, 0).unwrap(),
        progress: None,
        max_megabytes: 200,
    }
}

async fn upgrade(url: &str) {
    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.migrate_until(4).await.unwrap(), 4, "{url}");
    import_file(&store, &sample(), import_at(1)).await.unwrap();
    execute(url, RELEASE_ROWS).await;
    let notes_before = store.notes("1-4").await.unwrap().len();

    // SQLite has one more: 10 rebuilds `measures`, which every table above refers to.
    let pending = if store.backend() == Backend::Sqlite {
        6
    } else {
        5
    };
    assert_eq!(store.migrate().await.unwrap(), pending, "{url}");

    // The ledger and its history are as they were.
    assert_eq!(store.measures().await.unwrap().len(), 66);
    let claimed = store.measure("1-4").await.unwrap();
    assert_eq!(claimed.status, Status::Claimed);
    assert_eq!(store.notes("1-4").await.unwrap().len(), notes_before);
    let history = store.history("1-4").await.unwrap();
    let from_chat = history.last().unwrap();
    assert_eq!(from_chat.chat_id, Some(tg("7001")), "{url}");
    assert_eq!(from_chat.unit.as_deref(), Some("经济发展局"));

    // Bindings: people keep their identities on the channel they had, the console's on
    // the console; the group stays bound; an unreachable leader stays unreachable.
    let liaison = store.bindings(&tg("7001")).await.unwrap();
    assert_eq!(liaison.len(), 1);
    assert_eq!(liaison[0].name, "李联络");
    assert_eq!(liaison[0].chat, Some(tg("7001")));
    let console = store
        .bindings(&Address::new(ChannelKind::Console, "1"))
        .await
        .unwrap();
    assert_eq!(console.len(), 1, "{url}");
    assert!(store.bindings(&tg("1")).await.unwrap().is_empty());
    let recipients = store.recipients().await.unwrap();
    let chats: Vec<(String, bool)> = recipients
        .iter()
        .map(|r| {
            (
                r.chat.to_string(),
                matches!(r.kind, RecipientKind::Group { .. }),
            )
        })
        .collect();
    assert!(
        chats.contains(&("telegram:7001".into(), false)),
        "{chats:?}"
    );
    assert!(
        chats.contains(&("telegram:-5001".into(), true)),
        "{chats:?}"
    );
    assert!(chats.contains(&("console:1".into(), false)), "{chats:?}");
    assert!(
        !chats.iter().any(|(c, _)| c == "telegram:7004"),
        "the unreachable leader: {chats:?}"
    );
    assert_eq!(store.office_chats().await.unwrap(), vec![tg("7003")]);
    let unreachable = store.unreachable().await.unwrap();
    assert_eq!(unreachable.len(), 1);
    assert_eq!(unreachable[0].name, "王领导");

    // Workflow rows name their chats and senders by address.
    let claims = store.claims("1-4").await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].claimed_by_user, Some(tg("7001")));
    assert_eq!(claims[0].chat_id, Some(tg("7001")));
    assert_eq!(claims[0].rejecting_user, Some(tg("7003")));
    assert_eq!(store.evidence("1-4").await.unwrap().len(), 1);
    assert_eq!(
        text(url, "SELECT sent_by_user FROM evidence").await,
        [Some("telegram:7001".into())]
    );
    assert_eq!(
        text(
            url,
            "SELECT chat_id || ' ' || requested_by_user FROM extension_requests"
        )
        .await,
        [Some("telegram:7001 telegram:7001".into())]
    );
    assert_eq!(
        text(url, "SELECT chat_id FROM coordination_flags").await,
        [Some("telegram:7001".into())]
    );
    assert_eq!(
        text(url, "SELECT used_by || ' ' || used_in_chat FROM invites").await,
        [Some("telegram:7001 telegram:7001".into())]
    );
    assert_eq!(
        text(url, "SELECT bound_by FROM unit_chats").await,
        [Some("telegram:7002".into())]
    );

    // The outbox: queued rows wait on their channel, sent ones answer replies to them.
    let now = Utc.with_ymd_and_hms(2024, 3, 12, 2, 0, 0).unwrap();
    let due = store
        .due_outbox(ChannelKind::Telegram, now, 100)
        .await
        .unwrap();
    assert_eq!(due, vec![(802, "7001".into()), (803, "-5001".into())]);
    assert!(
        store
            .due_outbox(ChannelKind::Console, now, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.outbox_row(803).await.unwrap().chat, tg("-5001"));
    let reminder = store
        .sent_reminder(&tg("7001"), "555")
        .await
        .unwrap()
        .expect("the reminder, found by its message id");
    assert_eq!(
        reminder.items,
        vec![(claimed_id(&store).await, "1-4".into())]
    );
    assert_eq!(
        store
            .last_message_id(&Address::new(ChannelKind::Console, "1"))
            .await
            .unwrap()
            .as_deref(),
        Some("7")
    );

    // Updates: those applied stay applied; polling goes on after the last.
    assert!(
        store
            .update_applied(ChannelKind::Telegram, "1004")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .cursor(ChannelKind::Telegram)
            .await
            .unwrap()
            .as_deref(),
        Some("1005")
    );
    assert!(
        store
            .begin_update(ChannelKind::Telegram, "1005", now)
            .await
            .unwrap()
            .is_none(),
        "applied once"
    );
    let tx = store
        .begin_update(ChannelKind::Telegram, "1006", now)
        .await
        .unwrap()
        .expect("a new update");
    tx.commit().await.unwrap();

    // The checks on measures refuse what they refused before the upgrade, and no row refers
    // to a measure that is not there.
    for bad in [
        "UPDATE measures SET status = 'done' WHERE code = '1-4'",
        "UPDATE measures SET initial_status = 'In_progress' WHERE code = '1-4'",
        "UPDATE measures SET deadline_kind = 'soon' WHERE code = '1-4'",
    ] {
        let refused = execute_fallible(url, bad).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("CHECK") || e.contains("check")),
            "{bad}: {refused:?}"
        );
    }
    for good in [
        "UPDATE measures SET status = 'closed' WHERE code = '1-4'",
        "UPDATE measures SET deadline_kind = 'long_term' WHERE code = '1-4'",
    ] {
        execute_fallible(url, good).await.unwrap();
    }
    if store.backend() == Backend::Sqlite {
        assert!(
            text(url, "SELECT \"table\" FROM pragma_foreign_key_check")
                .await
                .is_empty()
        );
        assert!(
            text(
                url,
                "SELECT name FROM sqlite_master WHERE sql LIKE '%measures_rebuilt%'"
            )
            .await
            .is_empty()
        );
        // The rebuilt table is the one the ledger's readers and writers use.
        let report = import_file(&store, &sample(), import_at(20)).await.unwrap();
        assert!(report.outcome.created.is_empty(), "{:?}", report.outcome);
        assert_eq!(store.measures().await.unwrap().len(), 66);
    }
    store.close().await;
}

/// Runs one statement on its own connection; the database's refusal as text.
async fn execute_fallible(url: &str, sql: &str) -> Result<(), String> {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let result = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    conn.close().await.unwrap();
    result
}

async fn claimed_id(store: &Store) -> i64 {
    store.find_measure("1-4").await.unwrap().unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_before_channels_upgrades_in_place_on_sqlite() {
    let sb = Sandbox::sqlite();
    upgrade(&sb.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_before_channels_upgrades_in_place_on_postgres() {
    let db = PgDatabase::create().await;
    upgrade(&db.url).await;
}
