//! Several instances on one PostgreSQL database behave like one bot: one sweeps, the other
//! takes over when it dies, no outbox row goes twice; the webhook checks its secret and
//! applies an update once; `/metrics` and `/healthz` tell what happens. Against the real
//! server on 127.0.0.1:5432 and the fake Bot API server.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_telegram::{FakeTelegram, TOKEN};
use common::scene::*;
use common::{PgDatabase, Running, Sandbox, by_code, free_port};
use duban::config::{Secret, Settings};
use duban::core::chat::Message;
use duban::service::{Instance, Service};
use duban::store::Store;
use sqlx::Connection;

/// A free port on 127.0.0.1.
/// An instance that runs the schedule: the sweep is due from midnight every day, so the
/// holder of the schedule lease sweeps as soon as it takes the lease.
fn scheduled(http: u16) -> Vec<(String, String)> {
    [
        ("DUBAN_SCHEDULE__ENABLED", "true".to_string()),
        ("DUBAN_SCHEDULE__SWEEP_AT", "00:00".to_string()),
        ("DUBAN_SCHEDULE__SEND_ON_DAYS_OFF", "true".to_string()),
        ("DUBAN_DIGEST__ENABLED", "false".to_string()),
        ("DUBAN_HTTP_LISTEN", format!("127.0.0.1:{http}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn start(sb: &Sandbox, fake: &FakeTelegram, env: &[(String, String)]) -> Running {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sb.start_bot(fake, &env)
}

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// Waits until `url` answers 200.
async fn wait_http(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if get(url).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

/// The samples of a metric family in a scrape, parsed as Prometheus text.
fn samples(text: &str, name: &str) -> Vec<prometheus_parse::Sample> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .into_iter()
        .filter(|s| s.metric == name)
        .collect()
}

fn value(sample: &prometheus_parse::Sample) -> f64 {
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

/// The sum of a family's samples with `label = wanted` (all samples when `label` is empty).
fn total(text: &str, name: &str, label: &str, wanted: &str) -> f64 {
    samples(text, name)
        .iter()
        .filter(|s| label.is_empty() || s.labels.get(label) == Some(wanted))
        .map(value)
        .sum()
}

async fn pg(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url).await.unwrap()
}

/// The schedule lease's holder, if it is held.
async fn schedule_holder(url: &str) -> Option<String> {
    let mut db = pg(url).await;
    let holder: Option<String> =
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'schedule' AND expires_at > $1")
            .bind(
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
            )
            .fetch_optional(&mut db)
            .await
            .unwrap();
    db.close().await.unwrap();
    holder
}

async fn pending(url: &str) -> i64 {
    let mut db = pg(url).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    n
}

async fn sent_rows(url: &str) -> i64 {
    let mut db = pg(url).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    n
}

/// Two `duban run` instances on one database: one of them sweeps and every reminder goes
/// exactly once; their metrics add up to what was sent; the token is in no log line. Then
/// the holder of the schedule is killed: the other takes the lease over and sends the next
/// sweep, again once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_are_one_bot_and_the_survivor_takes_over() {
    let db = PgDatabase::create().await;
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_url(&db.url);
    sb.ok(&["import", common::sample().to_str().unwrap()]);
    let bot = bound_bot(&fake, &sb).await;
    assert!(bot.stop());
    let settled = sent_rows(&db.url).await;
    let before = fake.sent().len();
    assert_eq!(settled as usize, before, "binding replies");

    let ports = [free_port(), free_port()];
    let mut a_env = scheduled(ports[0]);
    a_env.push(("DUBAN_LOG".into(), "debug".into()));
    a_env.push(("DUBAN_LOG_FORMAT".into(), "json".into()));
    let a = start(&sb, &fake, &a_env);
    let a_log_path = a.log.clone();
    let b = start(&sb, &fake, &scheduled(ports[1]));
    for port in ports {
        wait_http(&format!("http://127.0.0.1:{port}/healthz")).await;
    }
    fake.wait_for(30, "the first sweep's reminders", |f| {
        f.sent()[before..]
            .iter()
            .any(|s| s.chat_id == ECON && s.text.starts_with("【"))
            && f.sent()[before..]
                .iter()
                .any(|s| s.chat_id == -5001 && s.text.starts_with("【"))
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while pending(&db.url).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a second send of anything, if one were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first_round = fake.sent().len();
    let chats = once_each(&fake, before, Some(first_round));
    assert!(chats.contains(&ECON) && chats.contains(&ADMIN) && chats.contains(&7004));
    assert_eq!(
        sent_rows(&db.url).await as usize,
        first_round,
        "every outbox row sent is one message the server took"
    );
    // The two instances' counters add up to what the server took.
    let mut reminders = 0.0;
    for port in ports {
        let (status, text) = get(&format!("http://127.0.0.1:{port}/metrics")).await;
        assert_eq!(status, 200);
        reminders += total(&text, "duban_messages_sent_total", "", "");
        assert_eq!(total(&text, "duban_outbox_depth", "", ""), 0.0);
        assert_eq!(samples(&text, "duban_lease_holder").len(), 2, "{text}");
    }
    assert_eq!(reminders as usize, first_round - before);
    // The office's daily list goes with the first sweep only (the steps it names are
    // recorded then); the survivor's sweep of the same day repeats the reminders.
    let office_lists = fake.sent()[before..first_round]
        .iter()
        .filter(|s| s.text.starts_with("【今日待办】"))
        .count();
    let swept = first_round - before - office_lists;
    // A reply: applied by whichever instance polls; the counters move with it.
    let scrape_all = || async {
        let mut texts = Vec::new();
        for port in ports {
            texts.push(get(&format!("http://127.0.0.1:{port}/metrics")).await.1);
        }
        texts
    };
    let applied = |texts: &[String]| -> f64 {
        texts
            .iter()
            .map(|t| total(t, "duban_replies_applied_total", "", ""))
            .sum()
    };
    let replies_before = applied(&scrape_all().await);
    let econ = fake
        .sent_to(ECON)
        .into_iter()
        .rfind(|s| s.text.starts_with("【"))
        .unwrap();
    let code = listed_codes(&econ.text)[0].clone();
    let line = fake
        .ask(
            ECON,
            ECON,
            &format!("{code} 60% 合同已签"),
            Some(econ.message_id),
        )
        .await;
    assert!(line.contains(&code), "{line}");
    let texts = scrape_all().await;
    assert_eq!(applied(&texts), replies_before + 1.0);
    let replies_sent: f64 = texts
        .iter()
        .map(|t| total(t, "duban_messages_sent_total", "kind", "reply"))
        .sum();
    assert!(replies_sent >= 1.0, "{texts:?}");
    let first_round = fake.sent().len();
    // The holder of the schedule is one of them.
    let holder = schedule_holder(&db.url).await.expect("a schedule holder");
    let pid_of = |holder: &str| holder.split(':').nth(1).unwrap().parse::<u32>().unwrap();
    let (dead, survivor) = if pid_of(&holder) == a.child.id() {
        (a, b)
    } else {
        assert_eq!(pid_of(&holder), b.child.id(), "{holder}");
        (b, a)
    };
    let (_, health) = get(&format!("http://127.0.0.1:{}/healthz", ports[0])).await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["last_sweep"].is_string(), "{health}");
    assert_eq!(health["outbox"]["pending"], 0);
    assert_eq!(health["held_updates"], 0);

    // The holder dies. The next sweep (today's, made due again) is the survivor's.
    let dead_log = dead.log();
    dead.kill();
    let killed = Instant::now();
    let mut conn = pg(&db.url).await;
    sqlx::query("UPDATE outbox SET key = key || ':yesterday'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM runs WHERE kind = 'sweep'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    fake.wait_for(45, "the survivor's sweep", |f| {
        f.sent().len() >= first_round + swept
    })
    .await;
    let took_over = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.sent().len(), first_round + swept, "nothing twice");
    once_each(&fake, first_round, None);
    assert_eq!(pending(&db.url).await, 0);
    assert_eq!(sent_rows(&db.url).await as usize, fake.sent().len());
    let holder = schedule_holder(&db.url).await.expect("a schedule holder");
    assert_eq!(pid_of(&holder), survivor.child.id());
    eprintln!("the survivor swept {took_over:?} after the holder was killed");
    let survivor_log = survivor.log();
    assert!(survivor.stop());
    let a_log = std::fs::read_to_string(&a_log_path).unwrap();
    // No log line carries the token, not even at debug level with every request logged.
    for log in [dead_log, survivor_log] {
        assert!(!log.contains(TOKEN), "the token is in a log");
        assert!(!log.contains(TOKEN.split(':').nth(1).unwrap()));
    }
    // The first instance logged JSON: one object a line.
    let json: Vec<serde_json::Value> = a_log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        json.iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"].is_string()),
        "{json:?}"
    );
}

/// Many rows, two senders on one database with a server that has no limit: every row is
/// sent once; both senders send; two messages to one chat keep the chat's pace even when
/// different senders send them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_never_send_a_row_twice() {
    let db = PgDatabase::create().await;
    let fake = FakeTelegram::start().await;
    let mut settings = Settings::defaults();
    settings.config.delivery.per_second = 1_000.0;
    settings.config.delivery.per_chat_per_second = 10.0;
    settings.config.delivery.per_group_per_minute = 1_000;
    let settings = Arc::new(settings);
    let store = Store::open(&db.url).await.unwrap();
    let now = chrono::Utc::now();
    let chats = 150i64;
    for round in 0..2 {
        for chat in 0..chats {
            let text = format!("消息 {round} → {chat}");
            store
                .enqueue(
                    &format!("load:{chat}:{round}"),
                    &duban::core::chat::Address::new(
                        duban::core::chat::ChannelKind::Telegram,
                        (10_000 + chat).to_string(),
                    ),
                    None,
                    "load",
                    &Message::text(text),
                    now,
                )
                .await
                .unwrap();
        }
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut services = Vec::new();
    for _ in 0..2 {
        let delivery = &settings.config.delivery;
        let telegram = duban::channels::telegram::Telegram::new(
            &Secret::new(TOKEN),
            &fake.url,
            Duration::from_secs(1),
        )
        .unwrap()
        .with_rates(
            delivery.per_chat_per_second,
            delivery.per_group_per_minute,
            delivery.per_second,
        );
        let service = Arc::new(Service {
            store: Store::open(&db.url).await.unwrap(),
            settings: Arc::clone(&settings),
            channels: duban::channels::Channels::new().with(Arc::new(telegram)),
            wake: Arc::new(duban::service::Wake::new()),
            stop: stop.clone(),
            instance: Arc::new(Instance::new()),
        });
        services.push(service);
    }
    // They see each other, so they share the limits.
    for service in &services {
        let step = service.lease_step(&[], chrono::Utc::now()).await.unwrap();
        assert!(step.gained.is_empty());
    }
    for service in &services {
        let step = service.lease_step(&[], chrono::Utc::now()).await.unwrap();
        assert_eq!(step.instances, 2);
    }
    let loops: Vec<_> = services
        .iter()
        .map(|s| tokio::spawn(Arc::clone(s).deliver_loop(duban::core::chat::ChannelKind::Telegram)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending(&db.url).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    for l in loops {
        l.await.unwrap();
    }
    let sent = fake.sent();
    assert_eq!(sent.len() as i64, chats * 2, "every row once");
    let mut texts: Vec<&str> = sent.iter().map(|s| s.text.as_str()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len() as i64, chats * 2, "no row twice");
    let by_sender: Vec<u64> = services
        .iter()
        .map(|s| s.instance.metrics.kind("load").sent)
        .collect();
    assert_eq!(by_sender.iter().sum::<u64>() as i64, chats * 2);
    assert!(by_sender.iter().all(|n| *n > 0), "both sent: {by_sender:?}");
    // One chat's two messages are at least its spacing (100 ms) apart, whoever sent them.
    for chat in 0..chats {
        let times: Vec<Instant> = fake.sent_to(10_000 + chat).iter().map(|s| s.at).collect();
        assert_eq!(times.len(), 2);
        let gap = times[1].duration_since(times[0]);
        assert!(gap >= Duration::from_millis(95), "chat {chat}: {gap:?}");
    }
    for service in services {
        service.store.close().await;
    }
    store.close().await;
}

/// Webhook mode, two instances: each sets the webhook with the secret; a request without
/// it, or with a wrong one, gets 401 and changes nothing; the same update delivered to both
/// instances is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_checks_its_secret_and_applies_an_update_once() {
    let db = PgDatabase::create().await;
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_url(&db.url);
    sb.ok(&["import", common::sample().to_str().unwrap()]);
    let code = sb.invite("经济发展局", "liaison", None);
    let ports = [free_port(), free_port()];
    let hook = |port: u16| format!("http://127.0.0.1:{port}/telegram/hook");
    let instances: Vec<Running> = ports
        .iter()
        .map(|port| {
            let mut command = sb.bot_command(&fake);
            let log = sb.path(&format!("hook-{port}.log"));
            let file = std::fs::File::create(&log).unwrap();
            command
                .args([
                    "run",
                    "--webhook",
                    // Telegram would post to one public URL; here each instance is its own.
                    &hook(*port),
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                ])
                .env("DUBAN_LOG", "info,duban=debug")
                .stdout(file.try_clone().unwrap())
                .stderr(file);
            Running {
                child: command.spawn().unwrap(),
                log,
            }
        })
        .collect();
    fake.wait_for(20, "both webhooks set", |f| {
        f.calls("setWebhook").len() >= 2
    })
    .await;
    let calls = fake.calls("setWebhook");
    let secret = calls[0].body["secret_token"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32);
    assert_eq!(calls[1].body["secret_token"], secret.as_str(), "one secret");
    assert!(
        fake.calls("getUpdates").is_empty(),
        "no polling in webhook mode"
    );
    let client = reqwest::Client::new();
    let post = |port: u16, secret: Option<&str>, update: &serde_json::Value| {
        let mut request = client.post(hook(port)).json(update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send()
    };
    let updates = |url: String| async move {
        let mut db = pg(&url).await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM updates")
            .fetch_one(&mut db)
            .await
            .unwrap();
        db.close().await.unwrap();
        n
    };
    let bind = fake.text(ECON, ECON, &format!("/start {code}"), None);
    for secret in [None, Some("wrong"), Some(&secret[..secret.len() - 1])] {
        let response = post(ports[0], secret, &bind).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{secret:?}");
    }
    assert_eq!(updates(db.url.clone()).await, 0, "nothing changed");
    let response = post(ports[0], Some(&secret), &bind).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    fake.wait_for(15, "the binding's answer", |f| {
        f.sent_to(ECON)
            .iter()
            .any(|s| s.text.starts_with("绑定成功"))
    })
    .await;
    // One update, delivered twice to each instance (Telegram retries): applied once.
    let claim = fake.text(ECON, ECON, "/update 1-4 已完成", None);
    let mut answers = Vec::new();
    for port in [ports[0], ports[1], ports[1], ports[0]] {
        answers.push(post(port, Some(&secret), &claim));
    }
    for answer in answers {
        assert_eq!(answer.await.unwrap().status().as_u16(), 200);
    }
    fake.wait_for(15, "the confirmation", |f| {
        f.sent_to(ECON).iter().any(|s| s.text.contains("1-4"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let confirmations = fake
        .sent_to(ECON)
        .iter()
        .filter(|s| s.text.contains("1-4"))
        .count();
    assert_eq!(confirmations, 1);
    assert_eq!(updates(db.url.clone()).await, 2);
    assert_eq!(by_code(&sb.measures(AT), "1-4")["status"], "claimed");
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "1-4", "--json"])).unwrap();
    let claims = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "claimed" && e["source"] == "chat")
        .count();
    assert_eq!(claims, 1);
    // Many updates at once (Telegram sends up to 40 in parallel): each is applied, none
    // waits on another for a database connection until it times out.
    let burst: Vec<serde_json::Value> = (0..40)
        .map(|i| fake.text(ECON, ECON, &format!("/update 1-4 备注{i}"), None))
        .collect();
    let answers: Vec<_> = burst
        .iter()
        .map(|update| tokio::spawn(post(ports[0], Some(&secret), update)))
        .collect();
    for answer in answers {
        assert_eq!(answer.await.unwrap().unwrap().status().as_u16(), 200);
    }
    assert_eq!(updates(db.url.clone()).await, 42);
    for instance in instances {
        let log = instance.log();
        assert!(!log.contains(&secret), "the secret is in a log");
        assert!(!log.contains(TOKEN));
        assert!(instance.stop());
    }
}

/// SQLite takes one instance: a second `duban run` on the same file is refused, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_one_sqlite_file_is_refused() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let first = sb.start_bot(&fake, &[]);
    fake.wait_for(20, "the first instance polling", |f| {
        !f.calls("getUpdates").is_empty()
    })
    .await;
    let second = sb.bot_command(&fake).arg("run").output().unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("另一个 `duban run` 正在使用") && err.contains("PostgreSQL"),
        "{err}"
    );
    assert!(first.stop());
    // Once the first has stopped, the file is free again.
    let again = sb.start_bot(&fake, &[]);
    let polls = fake.calls("getUpdates").len();
    fake.wait_for(20, "the next instance polling", |f| {
        f.calls("getUpdates").len() > polls
    })
    .await;
    assert!(again.stop());
}

/// Under a service manager without a token, `duban run` stops with the reason instead of
/// turning into the console and loading the sample ledger into the database.
#[test]
fn no_token_and_no_input_is_an_error_not_the_console() {
    let sb = Sandbox::sqlite();
    let out = sb
        .command()
        .arg("run")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("没有设置 DUBAN_TELEGRAM_TOKEN"), "{err}");
    assert_eq!(
        sb.ok(&["measures", "--json"]).trim(),
        "[]",
        "nothing imported"
    );
}
