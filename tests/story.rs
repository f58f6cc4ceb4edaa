//! The same story against both backends: import → query → status change → re-import.
//! The PostgreSQL run uses a fresh database on the local server, dropped afterwards.

mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::{PgDatabase, Sandbox, sample};
use duban::config::Settings;
use duban::core::ledger::{Source, Status};
use duban::core::rules::{Colour, Context, assess};
use duban::ingest::import::{ImportOptions, import_file};
use duban::store::{Backend, Change, Store};

fn options(at: chrono::DateTime<Utc>) -> ImportOptions {
    ImportOptions {
        dry_run: false,
        sheet: None,
        actor: "整改办".into(),
        at,
        progress: None,
        max_megabytes: 200,
    }
}

fn red_codes(store_measures: &[duban::core::ledger::Measure], day: &str) -> Vec<String> {
    let settings = Settings::defaults();
    let ctx = Context {
        today: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    store_measures
        .iter()
        .filter(|m| assess(m, &ctx).colour == Colour::Red)
        .map(|m| m.code.clone())
        .collect()
}

async fn story(store: Store) {
    let monday = Utc.with_ymd_and_hms(2024, 1, 8, 2, 0, 0).unwrap();
    // Import.
    let report = import_file(&store, &sample(), options(monday))
        .await
        .unwrap();
    assert_eq!(report.outcome.created.len(), 66);
    assert_eq!(report.outcome.new_units.len(), 20);
    assert_eq!(report.outcome.new_leaders.len(), 8);
    // Query.
    let measures = store.measures().await.unwrap();
    assert_eq!(measures.len(), 66);
    assert_eq!(measures[0].code, "1-1");
    assert_eq!(measures.last().unwrap().code, "10-4");
    assert_eq!(
        red_codes(&measures, "2024-03-15"),
        ["1-4", "3-4", "4-6", "6-6", "8-7"]
    );
    let m = store.measure("2-8").await.unwrap();
    assert_eq!(m.units, ["行政审批局", "人才工作办公室"]);
    assert_eq!(m.status, Status::Claimed);
    // Status change, with history.
    let change = Change {
        actor: "整改办李四".into(),
        source: Source::Cli,
        at: Utc.with_ymd_and_hms(2024, 3, 1, 3, 0, 0).unwrap(),
        note: Some("已召开会议".into()),
        chat: None,
    };
    let done = store
        .set_status("4-6", Status::InProgress, &change)
        .await
        .unwrap();
    assert_eq!(
        (done.from, done.to),
        (Status::InProgress, Status::InProgress),
        "setting the status it has changes nothing"
    );
    let done = store
        .set_status("4-6", Status::Claimed, &change)
        .await
        .unwrap();
    assert_eq!(done.from, Status::InProgress);
    assert_eq!(
        store.measure("4-6").await.unwrap().claimed_at,
        Some(change.at)
    );
    store
        .add_note("4-6", "污水专线已通水", &change)
        .await
        .unwrap();
    let history = store.history("4-6").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0].source, history[0].from, history[0].to),
        (Source::Import, None, Status::InProgress)
    );
    assert_eq!(
        (history[1].actor.as_str(), history[1].to),
        ("整改办李四", Status::Claimed)
    );
    let notes = store.notes("4-6").await.unwrap();
    assert_eq!(notes.last().unwrap().body, "污水专线已通水");
    assert_eq!(
        store
            .measure("4-6")
            .await
            .unwrap()
            .latest_progress
            .as_deref(),
        Some("污水专线已通水")
    );
    // 4-6 was claimed after its deadline: still red on 03-15, with the claim's date known.
    assert_eq!(
        red_codes(&store.measures().await.unwrap(), "2024-03-15"),
        ["1-4", "3-4", "4-6", "6-6", "8-7"]
    );
    store
        .set_status("3-2", Status::Closed, &change)
        .await
        .unwrap();
    // Re-import the same ledger a week later: nothing changes, the statuses stay.
    let later = Utc.with_ymd_and_hms(2024, 3, 8, 2, 0, 0).unwrap();
    let report = import_file(&store, &sample(), options(later))
        .await
        .unwrap();
    assert_eq!(
        (
            report.outcome.created.len(),
            report.outcome.updated.len(),
            report.outcome.unchanged
        ),
        (0, 0, 66)
    );
    assert_eq!(
        report.outcome.status_kept,
        [
            duban::store::StatusKept {
                code: "3-2".into(),
                file: Status::InProgress,
                ledger: Status::Closed
            },
            duban::store::StatusKept {
                code: "4-6".into(),
                file: Status::InProgress,
                ledger: Status::Claimed
            }
        ]
    );
    assert_eq!(store.measure("4-6").await.unwrap().status, Status::Claimed);
    assert_eq!(store.measure("3-2").await.unwrap().status, Status::Closed);
    // Re-import an edited ledger: one measure moves, one is new, one is gone, and an empty
    // status cell keeps the ledger's status without a word.
    let (title, mut rows) = duban::ingest::sample::sample_measures().unwrap();
    rows.retain(|r| r.code != duban::ingest::sample::RawCell::Text("9-7".into()));
    for row in &mut rows {
        if row.code == duban::ingest::sample::RawCell::Text("4-6".into()) {
            row.status = String::new();
        }
    }
    rows[0].lead_unit = "管委会办公室".into();
    let mut extra = rows[1].clone();
    extra.code = duban::ingest::sample::RawCell::Text("1-99".into());
    rows.insert(2, extra);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edited.xlsx");
    duban::ingest::sample::write_ledger_file(
        &file,
        &title,
        &rows,
        duban::ingest::sample::Layout::AspectColumn,
    )
    .unwrap();
    let report = import_file(&store, &file, options(later)).await.unwrap();
    assert_eq!(report.outcome.created, ["1-99"]);
    assert_eq!(report.outcome.updated, ["1-1"]);
    assert_eq!(report.outcome.missing, ["9-7"]);
    assert!(
        report.outcome.status_kept.iter().all(|k| k.code != "4-6"),
        "{:?}",
        report.outcome.status_kept
    );
    assert_eq!(store.measure("4-6").await.unwrap().status, Status::Claimed);
    let measures = store.measures().await.unwrap();
    assert_eq!(measures.len(), 67);
    assert_eq!(
        measures.iter().position(|m| m.code == "1-99"),
        Some(2),
        "ledger order follows the new file"
    );
    assert_eq!(measures[0].lead_unit, "管委会办公室");
    let history = store.history("1-1").await.unwrap();
    assert!(
        history
            .last()
            .unwrap()
            .note
            .as_deref()
            .unwrap()
            .contains("牵头单位：党工委办公室 → 管委会办公室")
    );
    store.close().await;
}

#[tokio::test]
async fn story_on_sqlite() {
    let sandbox = Sandbox::sqlite();
    let store = Store::open(&sandbox.url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    story(store).await;
}

#[tokio::test]
async fn story_on_postgres() {
    let db = PgDatabase::create().await;
    let store = Store::open(&db.url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    story(store).await;
}

#[tokio::test]
async fn migrations_apply_once() {
    let db = PgDatabase::create().await;
    let sandbox = Sandbox::sqlite();
    // SQLite has one more: 10 rebuilds `measures` with cheaper checks.
    for (url, count) in [(db.url.as_str(), 9), (sandbox.url.as_str(), 10)] {
        let store = Store::connect(url).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), count, "{url}");
        assert_eq!(store.migrate().await.unwrap(), 0, "{url}");
        store.close().await;
    }
}

/// The binary answers the same on both backends.
#[tokio::test]
async fn the_cli_gives_the_same_answers_on_both_backends() {
    let db = PgDatabase::create().await;
    let pg = Sandbox::with_url(&db.url);
    let lite = Sandbox::sqlite();
    let mut outputs = Vec::new();
    for sb in [&pg, &lite] {
        sb.ok(&["migrate"]);
        sb.ok(&["import", sample().to_str().unwrap()]);
        sb.ok(&["set-status", "7-3", "in_progress", "--note", "已启动"]);
        outputs.push((
            sb.measures("2024-03-15"),
            sb.ok(&["units", "--json", "--at", "2024-03-15"]),
        ));
    }
    assert_eq!(outputs[0], outputs[1]);
}

/// A chat note followed by the weekly re-import: the file's old progress text is stale and
/// neither becomes a note again nor counts as a report.
async fn stale_progress(store: Store) {
    let start = Utc.with_ymd_and_hms(2024, 1, 8, 2, 0, 0).unwrap();
    import_file(&store, &sample(), options(start))
        .await
        .unwrap();
    let chat = Change {
        actor: "联络员王五".into(),
        source: Source::Chat,
        at: Utc.with_ymd_and_hms(2024, 2, 5, 3, 0, 0).unwrap(),
        note: None,
        chat: None,
    };
    store
        .add_note("2-4", "一季度检查已完成", &chat)
        .await
        .unwrap();
    let later = Utc.with_ymd_and_hms(2024, 4, 1, 2, 0, 0).unwrap();
    let report = import_file(&store, &sample(), options(later))
        .await
        .unwrap();
    assert_eq!(report.outcome.notes_added, 0);
    let m = store.measure("2-4").await.unwrap();
    assert_eq!(m.latest_progress.as_deref(), Some("一季度检查已完成"));
    assert_eq!(m.last_report_at, Some(chat.at));
    assert_eq!(store.notes("2-4").await.unwrap().len(), 2);
    // An export carries the chat note in 整改进展; importing it back adds nothing either.
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("export.xlsx");
    let measures = store.measures().await.unwrap();
    let settings = Settings::defaults();
    let ctx = Context {
        today: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    let assessed: Vec<_> = measures.iter().map(|m| assess(m, &ctx)).collect();
    let rows: Vec<_> = measures.iter().zip(&assessed).collect();
    duban::ingest::export::write_ledger(&exported, &rows, &[], ctx.today, settings.config.language)
        .unwrap();
    let report = import_file(&store, &exported, options(later))
        .await
        .unwrap();
    assert_eq!(
        (report.outcome.notes_added, report.outcome.updated.len()),
        (0, 0)
    );
    // New text in the file is a report.
    let (title, mut raw) = duban::ingest::sample::sample_measures().unwrap();
    let m53 = raw
        .iter_mut()
        .find(|r| r.code == duban::ingest::sample::RawCell::Text("2-4".into()))
        .unwrap();
    m53.progress = "二季度检查已部署".into();
    let file = dir.path().join("new-progress.xlsx");
    duban::ingest::sample::write_ledger_file(
        &file,
        &title,
        &raw,
        duban::ingest::sample::Layout::HeadingRows,
    )
    .unwrap();
    let report = import_file(&store, &file, options(later)).await.unwrap();
    assert_eq!(report.outcome.notes_added, 1);
    let m = store.measure("2-4").await.unwrap();
    assert_eq!(
        (m.latest_progress.as_deref(), m.last_report_at),
        (Some("二季度检查已部署"), Some(later))
    );
    store.close().await;
}

#[tokio::test]
async fn stale_progress_on_sqlite() {
    let sandbox = Sandbox::sqlite();
    stale_progress(Store::open(&sandbox.url).await.unwrap()).await;
}

#[tokio::test]
async fn stale_progress_on_postgres() {
    let db = PgDatabase::create().await;
    stale_progress(Store::open(&db.url).await.unwrap()).await;
}

/// A ledger imported by a release that stored FNV-1a fingerprints reads as unchanged when
/// the same file comes again, on both backends; a measure whose stored fingerprint no longer
/// matches is updated and gets this release's kind (`x3:`), and what is imported new does too.
#[tokio::test]
async fn fingerprints_of_releases_before_still_match() {
    use duban::ingest::import::LedgerReader;
    let (give_back, written) = std::sync::mpsc::channel();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut reader = LedgerReader::new(
        None,
        Box::new(move |batch: Vec<duban::core::ledger::LedgerLine>| {
            sink.lock().unwrap().extend(batch.iter().cloned());
            give_back.send(batch).is_ok()
        }),
    )
    .recycling(written);
    duban::ingest::import::source::read(&sample(), &mut reader, 200 << 20).unwrap();
    reader.finish();
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 66);

    let db = PgDatabase::create().await;
    let sandbox = Sandbox::sqlite();
    let at = Utc.with_ymd_and_hms(2024, 1, 8, 2, 0, 0).unwrap();
    for url in [sandbox.url.clone(), db.url.clone()] {
        let store = Store::open(&url).await.unwrap();
        import_file(&store, &sample(), options(at)).await.unwrap();
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT source_hash FROM measures ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(
            stored.iter().all(|h| h.starts_with("x3:") && h.len() == 19),
            "{url}: {stored:?}"
        );
        // As the release before left it: FNV-1a, and one measure's edited since.
        for line in &lines {
            let old = if line.code == "2-8" {
                "0123456789abcdef".to_string()
            } else {
                line.fnv_fingerprint()
            };
            let sql = match store.backend() {
                Backend::Sqlite => "UPDATE measures SET source_hash = ?1 WHERE code = ?2",
                Backend::Postgres => "UPDATE measures SET source_hash = $1 WHERE code = $2",
            };
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(old)
                .bind(&line.code)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let again = import_file(&store, &sample(), options(at)).await.unwrap();
        assert_eq!(again.outcome.unchanged, 65, "{url}");
        assert_eq!(again.outcome.updated, ["2-8"], "{url}");
        let sql = match store.backend() {
            Backend::Sqlite => "SELECT source_hash FROM measures WHERE code = ?1",
            Backend::Postgres => "SELECT source_hash FROM measures WHERE code = $1",
        };
        let updated: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind("2-8")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let line = lines.iter().find(|l| l.code == "2-8").unwrap();
        assert_eq!(updated, line.fingerprint(), "{url}");
        let third = import_file(&store, &sample(), options(at)).await.unwrap();
        assert_eq!(third.outcome.unchanged, 66, "{url}");
        store.close().await;
    }
}

/// Text PostgreSQL cannot store (a NUL byte) is cleaned on the way in, on both backends; and
/// what the import's `COPY` into PostgreSQL must escape (a backslash, `\N`, a tab, a line
/// break within a cell) reads back as on SQLite.
#[tokio::test]
async fn odd_characters_import_alike_on_both_backends() {
    let db = PgDatabase::create().await;
    let pg = Sandbox::with_url(&db.url);
    let lite = Sandbox::sqlite();
    let mut outputs = Vec::new();
    for sb in [&pg, &lite] {
        let file = sb.path("odd.csv");
        std::fs::write(
            &file,
            "序号,整改措施,牵头单位,完成时限\n1,措施\u{0}一,经发局,2024-06-30\n\
             2,\"见 C:\\台账\\N\\. 一节\",经发局,2024-06-30\n\
             3,\"第一行\n第二行\t甲\",经发局,2024-06-30\n",
        )
        .unwrap();
        sb.ok(&["import", file.to_str().unwrap()]);
        outputs.push(sb.measures("2024-03-15"));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0][0]["content"], "措施一");
    assert_eq!(outputs[0][1]["content"], "见 C:\\台账\\N\\. 一节");
    assert_eq!(outputs[0].len(), 3);
}

/// `value` without the moments things happened (`at`, `claimed_at`, …), which differ
/// between two runs.
fn without_moments(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != "at" && !k.ends_with("_at"))
                .map(|(k, v)| (k, without_moments(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_moments).collect()),
        other => other,
    }
}

/// The workflow's commands give the same answers on both backends: claims approved and
/// sent back, a measure reopened, a deadline moved, requests raised and answered in and
/// out of time, and the digest built from all of it.
#[tokio::test]
async fn the_workflow_gives_the_same_answers_on_both_backends() {
    let db = PgDatabase::create().await;
    let pg = Sandbox::with_url(&db.url);
    let lite = Sandbox::sqlite();
    let mut outputs = Vec::new();
    for sb in [&pg, &lite] {
        sb.ok(&["migrate"]);
        sb.ok(&["import", sample().to_str().unwrap()]);
        sb.ok(&["set-status", "1-4", "claimed"]);
        sb.ok(&["close", "1-4", "--note", "核验通过", "--by", "整改办张三"]);
        sb.ok(&["set-status", "4-6", "claimed"]);
        sb.ok(&["reject", "4-6", "--reason", "材料不全"]);
        sb.ok(&["close", "8-7"]);
        sb.ok(&["reopen", "8-7", "--reason", "问题反弹"]);
        sb.ok(&["extend", "3-2", "2030-06-30", "--reason", "政策调整"]);
        for (category, raised) in [
            ("consult", "2024-03-11T09:00:00+08:00"),
            ("general", "2024-03-01T09:00:00+08:00"),
            ("major", "2024-03-14T09:00:00+08:00"),
        ] {
            sb.ok(&[
                "request",
                "add",
                "--unit",
                "财政局",
                "--category",
                category,
                "企业诉求",
                "--now",
                raised,
            ]);
        }
        let late = sb.ok(&[
            "request",
            "answer",
            "R1",
            "已答复",
            "--now",
            "2024-03-13T10:00:00+08:00",
        ]);
        assert!(late.contains("计为超时答复"), "{late}");
        let mut histories = Vec::new();
        for code in ["1-4", "4-6", "8-7", "3-2"] {
            let h: serde_json::Value =
                serde_json::from_str(&sb.ok(&["history", code, "--json"])).unwrap();
            histories.push(without_moments(h));
        }
        let requests: serde_json::Value =
            serde_json::from_str(&sb.ok(&["requests", "--json", "--at", "2024-03-15"])).unwrap();
        let digest = sb.ok(&["digest", "--now", "2024-03-15T17:30:00+08:00", "--dry-run"]);
        assert!(digest.contains("经批准延期的措施1项"), "{digest}");
        assert!(
            digest.contains("咨询类：按时答复0 · 超时答复1 · 办理中0 · 超时未答复0"),
            "{digest}"
        );
        outputs.push((histories, requests, digest, sb.measures("2024-03-15")));
    }
    let (histories, requests, _, _) = &outputs[0];
    assert_eq!(histories[0]["claims"][0]["state"], "approved");
    assert_eq!(histories[0]["claims"][0]["decided_by"], "整改办张三");
    assert_eq!(histories[1]["claims"][0]["reason"], "材料不全");
    assert_eq!(histories[3]["history"][1]["old"], "2024-03-18");
    assert_eq!(requests[0]["state"]["state"], "answered_late");
    assert_eq!(outputs[0], outputs[1]);
}

/// Files the service makes are kept in PostgreSQL, for whichever instance sends them; SQLite
/// (one instance) keeps them on disk only.
#[tokio::test]
async fn made_files_are_kept_in_postgres_only() {
    let db = PgDatabase::create().await;
    let lite = Sandbox::sqlite();
    let at = Utc.with_ymd_and_hms(2024, 3, 15, 9, 30, 0).unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for (url, kept) in [(db.url.as_str(), true), (lite.url.as_str(), false)] {
        let store = Store::open(url).await.unwrap();
        store
            .keep_file("digests/2024-03-15/chart-2024-03-15.png", &bytes, at)
            .await
            .unwrap();
        let back = store
            .kept_file("digests/2024-03-15/chart-2024-03-15.png")
            .await
            .unwrap();
        assert_eq!(back.is_some(), kept, "{url}");
        if kept {
            assert_eq!(back.unwrap(), bytes);
            assert_eq!(store.kept_file("digests/none.png").await.unwrap(), None);
        }
        store.close().await;
    }
}

/// The foreign keys, primary and unique keys and indexes of the tables an import fills, on
/// PostgreSQL: `(table, name)`, a key named with its kind.
async fn ledger_keys(url: &str) -> Vec<(String, String)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT c.relname::text, k.contype::text || ' ' || k.conname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
         WHERE k.contype IN ('f', 'p', 'u') AND c.relname IN ('measures', 'measure_units', 'measure_leaders', 'problems') \
         UNION ALL \
         SELECT tablename::text, indexdef FROM pg_indexes \
         WHERE tablename IN ('measures', 'measure_units', 'measure_leaders', 'problems') \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// A large import into PostgreSQL (a thousand new or changed lines in a batch and more) takes
/// its other path: the foreign keys, plain indexes and the unique keys no foreign key leans
/// on (measures' code; the link tables' primary keys on a first load) of the tables it fills
/// are dropped for its length and added back, each key checked once, before it commits, and
/// its new rows go
/// in with `COPY`. The ledger then reads as the same file imported into SQLite, every key
/// and index is back, a large re-import changing every measure updates them in place on
/// both, and a large import that fails, first load or not, writes nothing and leaves keys
/// and indexes as they were.
#[tokio::test]
async fn large_imports_alike_on_both_backends() {
    use duban::ingest::sample::{Layout, RawCell, synthetic_measures, write_ledger_file};
    let db = PgDatabase::create().await;
    let pg = Sandbox::with_url(&db.url);
    let lite = Sandbox::sqlite();
    pg.ok(&["measures", "--json"]);
    let keys = ledger_keys(&db.url).await;
    assert!(keys.len() >= 6, "{keys:?}");
    for key in [
        "measures_lead_unit",
        "u measures_code_key",
        "p measure_units_pkey",
        "p measure_leaders_pkey",
    ] {
        assert!(keys.iter().any(|(_, k)| k.contains(key)), "{key}: {keys:?}");
    }
    let mut rows = synthetic_measures(2_500, 40, 5);
    let first = pg.path("large.xlsx");
    write_ledger_file(&first, "台账", &rows, Layout::AspectColumn).unwrap();
    for row in &mut rows {
        row.content.push_str("（修订）");
    }
    let changed = pg.path("large-changed.xlsx");
    write_ledger_file(&changed, "台账", &rows, Layout::AspectColumn).unwrap();
    rows.last_mut().unwrap().deadline = RawCell::Text("明年".into());
    let bad = pg.path("large-bad.xlsx");
    write_ledger_file(&bad, "台账", &rows, Layout::AspectColumn).unwrap();

    // A first load that fails (its last row is bad, after the keys were dropped and rows
    // written) leaves an empty ledger with every key, the link tables' too.
    let err = pg.fails(&["import", bad.to_str().unwrap()]);
    assert!(err.contains("无法识别“明年”"), "{err}");
    assert_eq!(pg.measures("2024-03-15").len(), 0);
    assert_eq!(
        ledger_keys(&db.url).await,
        keys,
        "a failed first load restores all"
    );
    let mut outputs = Vec::new();
    for sb in [&pg, &lite] {
        sb.ok(&["import", first.to_str().unwrap()]);
        outputs.push(sb.measures("2024-03-15"));
    }
    assert_eq!(outputs[0].len(), 2_500);
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(ledger_keys(&db.url).await, keys, "every key is back");
    // The planner's statistics came with the import: of measures, the columns listings join
    // and filter on (its unique id and code need none), and the link tables.
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let analyzed: Vec<String> = sqlx::query_scalar(
        "SELECT tablename || '.' || attname FROM pg_stats \
         WHERE schemaname = current_schema() AND tablename IN ('measures', 'measure_units') \
         ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for column in [
        "measure_units.measure_id",
        "measure_units.unit_id",
        "measures.deadline",
        "measures.lead_unit_id",
        "measures.status",
    ] {
        assert!(
            analyzed.iter().any(|a| a == column),
            "{column}: {analyzed:?}"
        );
    }
    assert!(
        !analyzed.iter().any(|a| a == "measures.content"),
        "{analyzed:?}"
    );

    let mut outputs = Vec::new();
    for sb in [&pg, &lite] {
        let out = sb.ok(&["import", changed.to_str().unwrap()]);
        assert!(out.contains("更新2500项"), "{out}");
        outputs.push(sb.measures("2024-03-15"));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(
        outputs[0]
            .iter()
            .all(|m| m["content"].as_str().unwrap().ends_with("（修订）"))
    );
    assert_eq!(ledger_keys(&db.url).await, keys);

    let err = pg.fails(&["import", bad.to_str().unwrap()]);
    assert!(err.contains("无法识别“明年”"), "{err}");
    assert_eq!(pg.measures("2024-03-15"), outputs[0], "nothing written");
    assert_eq!(ledger_keys(&db.url).await, keys);
}
