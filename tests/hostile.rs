//! Hostile input and bursts against the running binary: files built to exhaust the
//! importer, a webhook flooded, tied up by idle and slow connections, strangers flooding
//! the bot, an update that fails for good, control characters from a chat, and kills in
//! the middle of a send. Nothing may stall, flood or exhaust duban; the figures measured
//! are printed as `FIGURE` lines for the notes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::fake_telegram::FakeTelegram;
use common::scene::{AT, ECON, OFFICE};
use common::workbook::{XCell, ledger, write};
use common::{PgDatabase, Running, Sandbox, bind, by_code, figure, free_port, measured};

// ── import bombs ─────────────────────────────────────────────────────────────────────

/// Imports `file` in `sb` as a measured child process.
fn import_measured(sb: &Sandbox, file: &std::path::Path, env: &[(&str, &str)]) -> common::Measured {
    let mut command = sb.command();
    command.args(["import", file.to_str().unwrap()]);
    for (k, v) in env {
        command.env(k, v);
    }
    measured(command)
}

fn measure_count(sb: &Sandbox) -> usize {
    sb.measures(AT).len()
}

/// Patches the uncompressed size the archive declares for `part` (in its local header and
/// its central directory entry) to `size`: a file that lies about what it unpacks to.
fn lie_about_size(path: &std::path::Path, part: &str, size: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let name = part.as_bytes();
    let mut patched = 0;
    let mut i = 0;
    while i + 46 < bytes.len() {
        let signature = &bytes[i..i + 4];
        let (size_at, name_len_at, name_at) = match signature {
            [0x50, 0x4b, 0x03, 0x04] => (i + 22, i + 26, i + 30),
            [0x50, 0x4b, 0x01, 0x02] => (i + 24, i + 28, i + 46),
            _ => {
                i += 1;
                continue;
            }
        };
        let name_len = u16::from_le_bytes([bytes[name_len_at], bytes[name_len_at + 1]]) as usize;
        if bytes.get(name_at..name_at + name_len) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
        i += 4;
    }
    assert_eq!(patched, 2, "the local header and the central directory");
    std::fs::write(path, bytes).unwrap();
}

/// A 500 KB workbook whose one shared string unpacks to 512 MiB is refused before it is
/// parsed, naming the part, in little memory; the same file saying that the part is small
/// is refused as damaged, naming the part, as soon as the part outgrows what it declared.
/// Nothing is imported.
#[test]
fn a_shared_string_of_half_a_gigabyte_is_refused_naming_the_part() {
    let sb = Sandbox::sqlite();
    let mut sheet = ledger(2);
    sheet.rows[1][1] = Some(XCell::Shared);
    let bomb = sb.path("bomb.xlsx");
    write(&bomb, &sheet, Some(512 << 20));
    let packed = std::fs::metadata(&bomb).unwrap().len();
    assert!(packed < 2 << 20, "{packed} bytes");

    let run = import_measured(&sb, &bomb, &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("xl/sharedStrings.xml")
            && run.stderr.contains("解压后超过200MB")
            && run.stderr.contains("未导入任何内容"),
        "{}",
        run.stderr
    );
    assert!(run.peak_mb < 100.0, "peak {} MB", run.peak_mb);
    figure(&format!(
        "shared-string bomb ({} KB packed, 512 MiB unpacked), sizes declared: refused in {:.2} s ({:.2} s CPU), peak {:.1} MB",
        packed / 1024,
        run.seconds,
        run.cpu_seconds,
        run.peak_mb
    ));

    lie_about_size(&bomb, "xl/sharedStrings.xml", 1_000);
    let run = import_measured(&sb, &bomb, &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("其中的xl/sharedStrings.xml已损坏"),
        "{}",
        run.stderr
    );
    assert!(run.peak_mb < 100.0, "peak {} MB", run.peak_mb);
    figure(&format!(
        "shared-string bomb declaring 1,000 bytes: refused in {:.2} s ({:.2} s CPU), peak {:.1} MB",
        run.seconds, run.cpu_seconds, run.peak_mb
    ));
    assert_eq!(measure_count(&sb), 0);

    // The limit is the office's to set.
    let small = sb.path("small.csv");
    std::fs::write(&small, "序号,整改措施,牵头单位,完成时限\n".repeat(40_000)).unwrap();
    let run = import_measured(&sb, &small, &[("DUBAN_IMPORT__MAX_MEGABYTES", "1")]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("文件超过1MB（import.max_megabytes）"),
        "{}",
        run.stderr
    );
}

/// A merged area to the sheet's last cell (`E30:XFD1048576`, and `I30:XFD1048576` beside
/// the data) is bounded by the data: 20,000 rows import, each such area is named in a
/// remark, and the fill is that of the data's columns only.
#[test]
fn merged_areas_to_the_last_cell_are_bounded_by_the_data() {
    let sb = Sandbox::sqlite();
    let rows = 20_000;
    let mut sheet = ledger(rows);
    // The status of row 30 merged down to the sheet's end: rows below with a status keep
    // theirs; one without takes the merged value.
    sheet.rows[40][4] = None;
    sheet.merges = vec!["E30:XFD1048576".into(), "I30:XFD1048576".into()];
    let file = sb.path("merged.xlsx");
    write(&file, &sheet, None);
    let run = import_measured(&sb, &file, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains(&format!(
            "合并区域E30:XFD1048576超出数据范围，按E30:E{}读取",
            rows + 1
        )),
        "{said}"
    );
    assert!(
        said.contains("合并区域I30:XFD1048576在数据范围之外，已忽略"),
        "{said}"
    );
    assert_eq!(measure_count(&sb), rows);
    assert_eq!(by_code(&sb.measures(AT), "1-40")["status"], "in_progress");
    assert!(run.peak_mb < 300.0, "peak {} MB", run.peak_mb);
    figure(&format!(
        "merged area E30:XFD1048576 over {rows} rows: imported in {:.2} s ({:.2} s CPU), peak {:.1} MB",
        run.seconds, run.cpu_seconds, run.peak_mb
    ));
}

/// A cell longer than Excel allows (a 40,000-character unit name) is refused naming its
/// sheet, row and column, in .xlsx and .csv alike; nothing is imported.
#[test]
fn cells_longer_than_excel_allows_are_refused_naming_row_and_column() {
    let sb = Sandbox::sqlite();
    let long = "经".repeat(40_000);
    let mut sheet = ledger(3);
    sheet.rows[2][2] = Some(XCell::Text(long.clone()));
    let file = sb.path("long.xlsx");
    write(&file, &sheet, None);
    let err = sb.fails(&["import", file.to_str().unwrap()]);
    assert!(
        err.contains("工作表台账第3行C列：单元格有40000个字符，超过Excel每格32767个字符的上限"),
        "{err}"
    );
    let csv = sb.path("long.csv");
    std::fs::write(
        &csv,
        format!("序号,整改措施,牵头单位,完成时限\n1-1,完善制度,经济发展局,2030-06-30\n1-2,{long},经济发展局,2030-06-30\n"),
    )
    .unwrap();
    let err = sb.fails(&["import", csv.to_str().unwrap()]);
    assert!(err.contains("第3行B列：单元格有40000个字符"), "{err}");
    assert_eq!(measure_count(&sb), 0);
    // At the limit, a cell is kept whole.
    let mut sheet = ledger(1);
    sheet.rows[1][1] = Some(XCell::Text("措".repeat(32_767)));
    write(&file, &sheet, None);
    sb.ok(&["import", file.to_str().unwrap()]);
    let content = by_code(&sb.measures(AT), "1-1")["content"]
        .as_str()
        .unwrap()
        .chars()
        .count();
    assert_eq!(content, 32_767);
}

/// A needed cell holding a formula whose result the file does not keep (a workbook written
/// by a program that does not calculate) says so, instead of "empty".
#[test]
fn a_formula_without_its_result_says_so() {
    let sb = Sandbox::sqlite();
    let mut sheet = ledger(3);
    sheet.rows[2][3] = Some(XCell::Formula("TODAY()+30".into()));
    let file = sb.path("formula.xlsx");
    write(&file, &sheet, None);
    let err = sb.fails(&["import", file.to_str().unwrap()]);
    assert!(
        err.contains("第3行")
            && err.contains("完成时限是公式，但文件中没有保存计算结果（请在Excel或WPS中打开该文件、保存后再导入）"),
        "{err}"
    );
    assert!(!err.contains("为空"), "{err}");
    let out = sb
        .command()
        .args(["import", file.to_str().unwrap()])
        .env("DUBAN_LANGUAGE", "en")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a formula whose result the file does not keep"),
        "{err}"
    );
}

// ── the running bot ──────────────────────────────────────────────────────────────────

/// A connection to the sandbox's database, whichever it is.
async fn db(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Imports `n` measures of 经济发展局, `E-1` … `E-n`, due in 2030.
fn econ_measures(sb: &Sandbox, n: usize) {
    let file = sb.path("econ.csv");
    let mut csv = String::from("序号,整改措施,牵头单位,完成时限,状态\n");
    for i in 1..=n {
        csv.push_str(&format!(
            "E-{i},推进第{i}项重点工程,经济发展局,2030-06-30,未启动\n"
        ));
    }
    std::fs::write(&file, csv).unwrap();
    sb.ok(&["import", file.to_str().unwrap()]);
}

/// `duban run` in webhook mode on `port`, with `env`.
fn start_webhook(sb: &Sandbox, fake: &FakeTelegram, port: u16, env: &[(&str, &str)]) -> Running {
    let log = sb.path(&format!("hook-{port}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let mut command = sb.bot_command(fake);
    command
        .args([
            "run",
            "--webhook",
            &format!("http://127.0.0.1:{port}/telegram/hook"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("DUBAN_LOG", "info,duban=debug")
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    for (k, v) in env {
        command.env(k, v);
    }
    Running {
        child: command.spawn().unwrap(),
        log,
    }
}

/// The secret the instance gave Telegram, once it set its webhook.
async fn webhook_secret(fake: &FakeTelegram) -> String {
    fake.wait_for(20, "the webhook set", |f| !f.calls("setWebhook").is_empty())
        .await;
    fake.calls("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Posts `update` to the webhook as Telegram does: again a second later after anything but
/// 200, for up to two minutes. Returns how many tries it took.
async fn post_like_telegram(
    client: reqwest::Client,
    port: u16,
    secret: String,
    update: serde_json::Value,
) -> u32 {
    let url = format!("http://127.0.0.1:{port}/telegram/hook");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tries = 0;
    loop {
        tries += 1;
        let answer = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", &secret)
            .json(&update)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        if answer.is_ok_and(|a| a.status() == 200) {
            return tries;
        }
        assert!(Instant::now() < deadline, "not taken in two minutes");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Twenty updates posted to the webhook at once, with Telegram's retries: every one is
/// applied at the first try, on `sb`'s backend, and the burst drains in about the time its
/// writes take.
async fn a_webhook_burst_drains(sb: Sandbox, backend: &str) {
    let fake = FakeTelegram::start().await;
    econ_measures(&sb, 20);
    let code = sb.invite("经济发展局", "liaison", None);
    let port = free_port();
    let hook = start_webhook(&sb, &fake, port, &[]);
    let secret = webhook_secret(&fake).await;
    let client = reqwest::Client::new();
    let bind = fake.text(ECON, ECON, &format!("/bind {code}"), None);
    post_like_telegram(client.clone(), port, secret.clone(), bind).await;
    fake.wait_for(15, "the binding", |f| !f.sent_to(ECON).is_empty())
        .await;

    let burst: Vec<serde_json::Value> = (1..=20)
        .map(|i| {
            fake.text(
                ECON,
                ECON,
                &format!("/update E-{i} 推进中 第{i}批设备进场"),
                None,
            )
        })
        .collect();
    let started = Instant::now();
    let posts: Vec<_> = burst
        .into_iter()
        .map(|update| {
            tokio::spawn(post_like_telegram(
                client.clone(),
                port,
                secret.clone(),
                update,
            ))
        })
        .collect();
    let mut tries = Vec::new();
    for post in posts {
        tries.push(post.await.unwrap());
    }
    let drained = started.elapsed();
    assert!(
        tries.iter().all(|t| *t == 1),
        "tries: {tries:?}\n{}",
        hook.log()
    );
    let measures = sb.measures(AT);
    for i in 1..=20 {
        assert_eq!(
            by_code(&measures, &format!("E-{i}"))["status"],
            "in_progress",
            "E-{i}"
        );
    }
    let mut conn = db(&sb.url).await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM updates")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, 21);
    fake.wait_for(20, "twenty confirmations", |f| f.sent_to(ECON).len() >= 21)
        .await;
    figure(&format!(
        "webhook burst of 20 updates on {backend}: all applied at the first try, drained in {} ms",
        drained.as_millis()
    ));
    assert!(hook.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_burst_drains_on_sqlite() {
    a_webhook_burst_drains(Sandbox::sqlite(), "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_burst_drains_on_postgres() {
    let pg = PgDatabase::create().await;
    a_webhook_burst_drains(Sandbox::with_url(&pg.url), "PostgreSQL").await;
}

/// An update that fails every time (the database refuses it: a trigger) is held back: the
/// same chat's next update waits behind it, another chat is answered at once; after its
/// tries it is skipped, its sender told, and the one behind it applied. Control characters
/// sent in a chat (NUL, ESC, BEL, a right-to-left override) are dropped on the way in, the
/// same on both backends, and never reach the office's terminal.
async fn a_failing_update_holds_back_only_its_chat(sb: Sandbox) {
    let fake = FakeTelegram::start().await;
    econ_measures(&sb, 3);
    let bot = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, OFFICE, OFFICE, "整改办", "office", None).await;

    let mut conn = db(&sb.url).await;
    let trigger: &[&str] = if sb.url.starts_with("sqlite:") {
        &[
            "CREATE TRIGGER poison BEFORE INSERT ON history WHEN NEW.raw_text LIKE '%毒丸%' \
           BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        ]
    } else {
        &[
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.raw_text LIKE '%毒丸%' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poison BEFORE INSERT ON history FOR EACH ROW EXECUTE FUNCTION poison()",
        ]
    };
    for sql in trigger {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    let econ_before = fake.sent_to(ECON).len();
    fake.text(ECON, ECON, "/update E-1 推进中 毒丸", None);
    fake.text(ECON, ECON, "/update E-2 推进中 已完成选址", None);
    let whoami = fake.ask(OFFICE, OFFICE, "/whoami", None).await;
    assert!(whoami.contains("整改办"), "{whoami}");
    assert_eq!(
        fake.sent_to(ECON).len(),
        econ_before,
        "the liaison's chat waits behind its failing update"
    );
    fake.wait_for(40, "the failing update skipped and the next applied", |f| {
        f.sent_to(ECON).len() >= econ_before + 2
    })
    .await;
    let answers: Vec<String> = fake.sent_to(ECON)[econ_before..]
        .iter()
        .map(|s| s.text.clone())
        .collect();
    assert!(answers[0].contains("未能处理，未作任何更改"), "{answers:?}");
    assert!(answers[1].contains("E-2"), "{answers:?}");
    let measures = sb.measures(AT);
    assert_eq!(by_code(&measures, "E-1")["status"], "not_started");
    assert_eq!(by_code(&measures, "E-2")["status"], "in_progress");
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM held_updates")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 0);

    let dirty = "/update E-3 推进中 x\u{0}y\u{1b}[2J\u{7}\u{202e}z 已进场";
    let line = fake.ask(ECON, ECON, dirty, None).await;
    assert!(line.contains("E-3"), "{line}");
    let history = sb.ok(&["history", "E-3"]);
    assert!(history.contains("xy[2Jz 已进场"), "{history}");
    assert!(
        !history.contains(['\u{0}', '\u{1b}', '\u{7}', '\u{202e}']),
        "{history:?}"
    );
    let stored: String =
        sqlx::query_scalar("SELECT raw_text FROM history WHERE raw_text LIKE '%已进场%'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(stored, "E-3 推进中 xy[2Jz 已进场");
    assert!(bot.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_update_holds_back_only_its_chat_on_sqlite() {
    a_failing_update_holds_back_only_its_chat(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_update_holds_back_only_its_chat_on_postgres() {
    let pg = PgDatabase::create().await;
    a_failing_update_holds_back_only_its_chat(Sandbox::with_url(&pg.url)).await;
}

/// Reads what a server sends on `stream` until it closes or `wait` passes.
fn read_answer(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break false;
                }
            }
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&got).to_string(), closed)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The webhook cannot be tied up: a request without the secret is refused before its 10 MB
/// body is sent, a body that stops coming is dropped, headers sent a byte at a time and
/// connections that send nothing are closed after the header time; a hundred idle
/// connections take no more than the connection limit of file descriptors, and a real
/// update among them is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_cannot_be_tied_up() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::sqlite();
    econ_measures(&sb, 1);
    let code = sb.invite("经济发展局", "liaison", None);
    let port = free_port();
    let hook = start_webhook(
        &sb,
        &fake,
        port,
        &[
            ("DUBAN_HTTP__HEADER_TIMEOUT_SECONDS", "1"),
            ("DUBAN_HTTP__BODY_TIMEOUT_SECONDS", "1"),
            ("DUBAN_HTTP__MAX_CONNECTIONS", "32"),
        ],
    );
    let secret = webhook_secret(&fake).await;
    let address = format!("127.0.0.1:{port}");
    let head = |secret: Option<&str>, length: usize| {
        let mut head = format!(
            "POST /telegram/hook HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
        );
        if let Some(secret) = secret {
            head.push_str(&format!("X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"));
        }
        head.push_str("\r\n");
        head
    };

    // 10 MB announced, no secret: 401 on the headers alone.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.write_all(head(None, 10 << 20).as_bytes()).unwrap();
    let started = Instant::now();
    let (answer, _) = read_answer(&mut stream, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    figure(&format!(
        "webhook: 10 MB announced without the secret answered 401 in {} ms, no body sent",
        started.elapsed().as_millis()
    ));

    // A body that stops after 10 of its 100 bytes: 408 after the body time.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .write_all(head(Some(&secret), 100).as_bytes())
        .unwrap();
    stream.write_all(b"{\"update_i").unwrap();
    let (answer, _) = read_answer(&mut stream, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");

    // Headers a byte every 200 ms: the connection is closed at the header time.
    let mut stream = TcpStream::connect(&address).unwrap();
    let started = Instant::now();
    let slow = head(Some(&secret), 2);
    let mut closed = false;
    for byte in slow.as_bytes() {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_secs(3) {
            let (_, ended) = read_answer(&mut stream, Duration::from_millis(100));
            closed = ended;
            break;
        }
    }
    assert!(closed, "a header sent a byte at a time kept its connection");

    // A hundred connections that send nothing.
    let base = open_fds(hook.child.id());
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = open_fds(hook.child.id());
    assert!(
        during <= base + 32 + 2,
        "{during} descriptors with 100 idle connections (base {base})"
    );
    let started = Instant::now();
    let bind = fake.text(ECON, ECON, &format!("/bind {code}"), None);
    let tries = post_like_telegram(reqwest::Client::new(), port, secret.clone(), bind).await;
    let took = started.elapsed();
    fake.wait_for(15, "the binding", |f| !f.sent_to(ECON).is_empty())
        .await;
    figure(&format!(
        "webhook: an update among 100 idle connections (limit 32, header time 1 s) applied in {} ms, {tries} tries; server descriptors {base} → {during}",
        took.as_millis()
    ));
    let mut closed = 0;
    for mut stream in idle {
        let (_, ended) = read_answer(&mut stream, Duration::from_secs(6));
        closed += usize::from(ended);
    }
    assert_eq!(closed, 100, "every idle connection closed");
    assert!(hook.stop());
}

/// A thousand bogus commands from forty strangers: each stranger gets five answers an hour
/// and then silence, the office hears of it once, and a liaison's update afterwards is
/// answered before the strangers' answers still queued. Wrong invitation codes slow down:
/// after three, no code is looked at for an hour, not even a valid one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_fill_the_outbox() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::sqlite();
    econ_measures(&sb, 1);
    // Telegram's own pace, so that the strangers' answers queue.
    let bot = sb.start_bot(&fake, &[("DUBAN_DELIVERY__PER_SECOND", "30")]);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    bind(&sb, &fake, OFFICE, OFFICE, "整改办", "office", None).await;
    let strangers: Vec<i64> = (90_001..=90_040).collect();
    for round in 0..25 {
        for stranger in &strangers {
            let text = match round % 3 {
                0 => format!("/list{round}"),
                1 => "/update 1-1 已完成".to_string(),
                _ => format!("你好{round}"),
            };
            fake.text(*stranger, *stranger, &text, None);
        }
    }
    let line = fake
        .ask(ECON, ECON, "/update E-1 推进中 已召开专题会", None)
        .await;
    assert!(line.contains("E-1"), "{line}");

    // Every update is applied; then nothing more goes out.
    let mut conn = db(&sb.url).await;
    for _ in 0..200 {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if pending == 0 && fake.sent().len() > 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for stranger in &strangers {
        let got = fake.sent_to(*stranger).len();
        assert!(got <= 5, "stranger {stranger} got {got} answers");
    }
    let to_strangers: usize = strangers.iter().map(|s| fake.sent_to(*s).len()).sum();
    assert!(to_strangers <= 200, "{to_strangers}");
    let floods: Vec<_> = fake
        .sent_to(OFFICE)
        .into_iter()
        .filter(|s| s.text.contains("大量发送消息"))
        .collect();
    assert_eq!(floods.len(), 1, "{floods:#?}");

    // The liaison's answer overtook the strangers' answers queued before it: at most the
    // one being sent went out between its queueing and its sending.
    let times = |sql: &'static str| {
        let sql = sqlx::AssertSqlSafe(sql);
        async {
            let row: (String, String) = sqlx::query_as(sql)
                .bind(ECON)
                .fetch_one(&mut db(&sb.url).await)
                .await
                .unwrap();
            row
        }
    };
    let (queued, sent) = times(
        "SELECT created_at, sent_at FROM outbox WHERE chat_id = $1 AND kind = 'reply' ORDER BY id DESC LIMIT 1",
    )
    .await;
    let between: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'stranger' AND sent_at > $1 AND sent_at < $2",
    )
    .bind(&queued)
    .bind(&sent)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'stranger' AND created_at < $1 AND sent_at > $2",
    )
    .bind(&queued)
    .bind(&sent)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(between <= 1, "{between} strangers' answers went first");
    figure(&format!(
        "strangers' flood: 1,000 commands from 40 strangers, {to_strangers} answers sent; the liaison's answer overtook {waiting} queued before it"
    ));

    // Guessing codes.
    let guesser = 90_100;
    let mut said = Vec::new();
    for attempt in 0..4 {
        said.push(
            fake.ask(guesser, guesser, &format!("/bind WRONG{attempt}X"), None)
                .await,
        );
    }
    assert!(
        said[..3].iter().all(|s| s.contains("邀请码无效")),
        "{said:?}"
    );
    assert!(said[3].contains("错误次数过多"), "{said:?}");
    let code = sb.invite("经济发展局", "liaison", None);
    let refused = fake
        .ask(guesser, guesser, &format!("/bind {code}"), None)
        .await;
    assert!(refused.contains("错误次数过多"), "{refused}");
    // Five answers used: the sixth message gets none.
    fake.text(guesser, guesser, "/help", None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.sent_to(guesser).len(), 5);
    assert!(bot.stop());
}

/// Files whose size is no size: a 0-byte document, and documents whose `file_size` is
/// 5,000,000,000 or -1 (which the Telegram library cannot read) are each refused with a
/// message, and none is kept as evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_impossible_files_are_refused_with_a_message() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::sqlite();
    econ_measures(&sb, 1);
    let bot = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    fake.add_file("empty", "documents/empty.pdf", b"");
    let before = fake.sent_to(ECON).len();
    fake.document(ECON, ECON, "empty", "验收报告.pdf", "E-1 验收报告", None);
    fake.wait_for(15, "the answer to the empty file", |f| {
        f.sent_to(ECON).len() > before
    })
    .await;
    let answer = fake.sent_to(ECON).pop().unwrap().text;
    assert!(answer.contains("文件为空（0字节）"), "{answer}");
    for (size, expected) in [
        (serde_json::json!(5_000_000_000u64), "文件超过20MB"),
        (serde_json::json!(-1), "无法读取该文件的大小"),
    ] {
        let before = fake.sent_to(ECON).len();
        fake.push(serde_json::json!({"message": {
            "message_id": 900 + before,
            "date": 1_700_000_100,
            "chat": common::fake_telegram::chat(ECON),
            "from": {"id": ECON, "is_bot": false, "first_name": "联络员"},
            "caption": "E-1 验收报告",
            "document": {"file_id": "huge", "file_unique_id": "u-huge",
                "file_name": "验收报告.pdf", "file_size": size},
        }}));
        fake.wait_for(15, "the answer to the file", |f| {
            f.sent_to(ECON).len() > before
        })
        .await;
        let answer = fake.sent_to(ECON).pop().unwrap().text;
        assert!(answer.contains(expected), "{answer}");
    }
    let history: serde_json::Value =
        serde_json::from_str(&sb.ok(&["history", "E-1", "--json"])).unwrap();
    assert_eq!(
        history["evidence"].as_array().unwrap().len(),
        0,
        "{history}"
    );
    assert!(
        fake.calls("getFile").is_empty(),
        "no file was fetched: {:?}",
        fake.calls("getFile")
    );
    assert!(bot.stop());
}

/// The double-send window is one round trip: killed while Telegram's answer is on its way,
/// the message goes again once its claim (its send's time limit and a margin, not a
/// minute) runs out; stopped instead, the service waits for the answer and records the
/// message sent, so nothing goes twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_send_resends_once_and_soon() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::sqlite();
    econ_measures(&sb, 1);
    let bot = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    fake.delay_answers(Duration::from_millis(1500));

    let before = fake.sent_to(ECON).len();
    fake.text(ECON, ECON, "/whoami", None);
    fake.wait_for(15, "the answer taken", |f| f.sent_to(ECON).len() > before)
        .await;
    // The claim covers the send in flight, no more.
    let mut conn = db(&sb.url).await;
    let (claimed_until,): (String,) =
        sqlx::query_as("SELECT claimed_until FROM outbox WHERE chat_id = $1 AND state = 'pending'")
            .bind(ECON)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let left = chrono::DateTime::parse_from_rfc3339(&claimed_until)
        .unwrap()
        .with_timezone(&chrono::Utc)
        - chrono::Utc::now();
    assert!(left <= chrono::Duration::seconds(21), "{left}");
    bot.kill();
    let killed = Instant::now();
    let bot = sb.start_bot(&fake, &[]);
    fake.wait_for(40, "the message sent again", |f| {
        f.sent_to(ECON).len() > before + 1
    })
    .await;
    let again = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = fake.sent_to(ECON)[before..].to_vec();
    assert_eq!(copies.len(), 2, "{copies:#?}");
    assert_eq!(copies[0].text, copies[1].text);
    figure(&format!(
        "killed while the answer (1.5 s) was on its way: the message went again {:.1} s after the kill",
        again.as_secs_f64()
    ));

    // Stopped mid-send: the answer is awaited and recorded; nothing is left to send.
    let before = fake.sent_to(ECON).len();
    fake.text(ECON, ECON, "/whoami", None);
    fake.wait_for(15, "the answer taken", |f| f.sent_to(ECON).len() > before)
        .await;
    assert!(bot.stop());
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending, 0, "the message in flight was recorded as sent");
}

/// The progress notes written from chats, in order: (code, text).
async fn chat_notes(conn: &mut sqlx::AnyConnection) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT m.code, n.body FROM progress_notes n JOIN measures m ON m.id = n.measure_id \
         WHERE n.source = 'chat' ORDER BY n.id",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// What `apply_batch` works with, on the sandbox's database and the fake Bot API.
async fn batch_parts(
    sb: &Sandbox,
    fake: &FakeTelegram,
) -> (
    duban::store::Store,
    duban::config::Settings,
    duban::channels::telegram::Telegram,
    duban::service::Wake,
) {
    let store = duban::store::Store::open(&sb.url).await.unwrap();
    let telegram = duban::channels::telegram::Telegram::new(
        &duban::config::Secret::new(common::fake_telegram::TOKEN),
        &fake.url,
        Duration::from_secs(1),
    )
    .unwrap();
    (
        store,
        duban::config::Settings::defaults(),
        telegram,
        duban::service::Wake::new(),
    )
}

/// Two liaisons of 经济发展局 (ECON and [`SECOND_LIAISON`]) and three measures, with the
/// database refusing any history row whose words hold 毒丸 (a trigger); the bot is stopped.
/// Returns a connection to the database and the statements that cure it.
async fn poisoned_ledger(
    sb: &Sandbox,
    fake: &FakeTelegram,
) -> (sqlx::AnyConnection, &'static [&'static str]) {
    econ_measures(sb, 3);
    let bot = sb.start_bot(fake, &[]);
    bind(sb, fake, ECON, ECON, "经济发展局", "liaison", None).await;
    bind(
        sb,
        fake,
        SECOND_LIAISON,
        SECOND_LIAISON,
        "经济发展局",
        "liaison",
        Some("李四"),
    )
    .await;
    assert!(bot.stop());

    let mut conn = db(&sb.url).await;
    let (poison, cure): (&[&str], &'static [&'static str]) = if sb.url.starts_with("sqlite:") {
        (
            &[
                "CREATE TRIGGER poison BEFORE INSERT ON history WHEN NEW.raw_text LIKE '%毒丸%' \
               BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
            ],
            &["DROP TRIGGER poison"],
        )
    } else {
        (
            &[
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.raw_text LIKE '%毒丸%' THEN RAISE EXCEPTION 'poisoned'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER poison BEFORE INSERT ON history FOR EACH ROW EXECUTE FUNCTION poison()",
            ],
            &["DROP TRIGGER poison ON history"],
        )
    };
    for sql in poison {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    (conn, cure)
}

/// Texts `(chat, words)` sent to the fake Bot API, as the updates a `getUpdates` answer
/// would bring.
fn incoming_batch(fake: &FakeTelegram, texts: &[(i64, &str)]) -> Vec<duban::core::chat::Incoming> {
    texts
        .iter()
        .map(|(chat, text)| {
            duban::channels::telegram::incoming_json(fake.text(*chat, *chat, text, None)).unwrap()
        })
        .collect()
}

/// Applies `batch` as one `getUpdates` answer, now.
async fn apply_now(
    store: &duban::store::Store,
    settings: &duban::config::Settings,
    telegram: &duban::channels::telegram::Telegram,
    wake: &duban::service::Wake,
    batch: &[duban::core::chat::Incoming],
) -> duban::service::BatchOutcome {
    duban::service::apply_batch(
        store,
        settings,
        telegram,
        batch,
        wake,
        chrono::Utc::now(),
        true,
    )
    .await
    .unwrap()
}

/// The second liaison of [`poisoned_ledger`].
const SECOND_LIAISON: i64 = 7011;

/// Group commit: four updates applied as one batch (one transaction, a savepoint each). The
/// second fails (the database refuses it): it is rolled back alone while the first and third
/// commit with the batch; it is tried again alone after the commit and held back, and the
/// fourth, of the same chat, follows it alone and waits behind it. Where the channel was read
/// up to is the batch's end. Once the cause is gone, the held ones apply in their order.
async fn a_failing_update_in_a_batch_is_retried_alone(sb: Sandbox) {
    use duban::service::{Applied, apply_batch, retry_held};
    const SECOND: i64 = SECOND_LIAISON;
    let fake = FakeTelegram::start().await;
    let (mut conn, cure) = poisoned_ledger(&sb, &fake).await;
    let (store, settings, telegram, wake) = batch_parts(&sb, &fake).await;
    let batch = incoming_batch(
        &fake,
        &[
            (ECON, "/update E-1 推进中 已完成选址"),
            (ECON, "/update E-2 推进中 毒丸"),
            (SECOND, "/update E-3 推进中 已进场施工"),
            (ECON, "/update E-1 推进中 主体已封顶"),
        ],
    );
    let ids: Vec<String> = batch.iter().map(|i| i.update_id.clone()).collect();
    let now = chrono::Utc::now();
    let outcome = apply_batch(&store, &settings, &telegram, &batch, &wake, now, true)
        .await
        .unwrap();
    assert_eq!(
        outcome.outcomes,
        [
            Applied::Applied,
            Applied::Held,
            Applied::Applied,
            Applied::Behind
        ]
    );
    assert_eq!(outcome.retried_alone, [ids[1].clone(), ids[3].clone()]);

    let pair = |code: &str, body: &str| (code.to_string(), format!("推进中 {body}"));
    assert_eq!(
        chat_notes(&mut conn).await,
        [pair("E-1", "已完成选址"), pair("E-3", "已进场施工")],
        "the first and third committed with the batch, the second rolled back alone"
    );
    let held: Vec<(String, i64)> =
        sqlx::query_as("SELECT update_id, attempts FROM held_updates ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        held,
        [(ids[1].clone(), 1), (ids[3].clone(), 0)],
        "tried once alone and held back, the next of its chat behind it"
    );
    let mut applied: Vec<String> = sqlx::query_scalar(
        "SELECT update_id FROM updates WHERE channel = 'telegram' AND update_id IN ($1, $2, $3, $4)",
    )
    .bind(&ids[0])
    .bind(&ids[1])
    .bind(&ids[2])
    .bind(&ids[3])
    .fetch_all(&mut conn)
    .await
    .unwrap();
    applied.sort_by_key(|id| id.parse::<i64>().unwrap());
    assert_eq!(applied, [ids[0].clone(), ids[2].clone()]);
    let cursor: String =
        sqlx::query_scalar("SELECT last_update FROM cursors WHERE channel = 'telegram'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(cursor, ids[3]);

    // Applying the same batch again changes nothing: each update is applied once.
    let again = apply_batch(&store, &settings, &telegram, &batch, &wake, now, true)
        .await
        .unwrap();
    assert_eq!(chat_notes(&mut conn).await.len(), 2);
    assert_eq!(again.outcomes[1], Applied::Behind);
    // The same update twice in one group (a webhook request sent again while the first
    // waits) is applied once.
    let twice = duban::channels::telegram::incoming_json(fake.text(
        SECOND,
        SECOND,
        "/update E-3 推进中 完成主体验收",
        None,
    ))
    .unwrap();
    apply_batch(
        &store,
        &settings,
        &telegram,
        &[twice.clone(), twice],
        &wake,
        now,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        chat_notes(&mut conn)
            .await
            .iter()
            .filter(|(_, body)| body.contains("完成主体验收"))
            .count(),
        1
    );

    for sql in cure {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let channels = duban::channels::Channels::new().with(std::sync::Arc::new(telegram));
    let later = now + chrono::Duration::minutes(10);
    for _ in 0..2 {
        let step = retry_held(&store, &settings, &channels, &wake, later)
            .await
            .unwrap();
        assert!(
            matches!(step, duban::service::HeldStep::Applied { .. }),
            "{step:?}"
        );
    }
    assert_eq!(
        chat_notes(&mut conn).await,
        [
            pair("E-1", "已完成选址"),
            pair("E-3", "已进场施工"),
            pair("E-3", "完成主体验收"),
            pair("E-2", "毒丸"),
            pair("E-1", "主体已封顶")
        ]
    );
    store.close().await;
}

/// A batch reads each sender's bindings once and keeps them while it goes: an update in it
/// that binds or unbinds its sender counts for the updates after it. And an update reads
/// its own writes, which on SQLite go to the database together with its next statement.
async fn bindings_change_within_a_batch(sb: Sandbox) {
    use duban::service::Applied;
    const NEWCOMER: i64 = 7021;
    let fake = FakeTelegram::start().await;
    econ_measures(&sb, 3);
    let code = sb.invite("经济发展局", "liaison", Some("王五"));
    let (store, settings, telegram, wake) = batch_parts(&sb, &fake).await;
    let bind = format!("/bind {code}");
    let texts = [
        "/update E-1 推进中 绑定之前",
        bind.as_str(),
        "/update E-1 推进中 绑定之后",
        "/update E-2 推进中 第二项",
        "/update E-2 推进中 同项再报",
        "/unbind",
        "/update E-3 推进中 解绑之后",
    ]
    .map(|text| (NEWCOMER, text));
    let batch = incoming_batch(&fake, &texts);
    let outcome = apply_now(&store, &settings, &telegram, &wake, &batch).await;
    assert!(outcome.outcomes.iter().all(|o| *o == Applied::Applied));
    assert!(outcome.retried_alone.is_empty());
    let mut conn = db(&sb.url).await;
    let pair = |code: &str, body: &str| (code.to_string(), format!("推进中 {body}"));
    assert_eq!(
        chat_notes(&mut conn).await,
        [
            pair("E-1", "绑定之后"),
            pair("E-2", "第二项"),
            pair("E-2", "同项再报")
        ],
        "only what the newcomer sent while bound is recorded"
    );
    let history: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM history WHERE source = 'chat' AND raw_text LIKE '%推进中%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(history, 3, "one history row per recorded report");
    let latest: String =
        sqlx::query_scalar("SELECT latest_progress FROM measures WHERE code = 'E-2'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(latest, "推进中 同项再报");
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = $1")
        .bind(NEWCOMER.to_string())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(queued, 7, "every update got its answer");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_change_within_a_batch_on_sqlite() {
    bindings_change_within_a_batch(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_change_within_a_batch_on_postgres() {
    let pg = PgDatabase::create().await;
    bindings_change_within_a_batch(Sandbox::with_url(&pg.url)).await;
}

/// Group commit, the failing update last: its writes fail only when the batch sends them
/// after it (on SQLite they wait for the next statement). It is still rolled back alone and
/// held back, and the two before it commit.
async fn a_failing_last_update_in_a_batch_is_retried_alone(sb: Sandbox) {
    use duban::service::Applied;
    let fake = FakeTelegram::start().await;
    let (mut conn, _) = poisoned_ledger(&sb, &fake).await;
    let (store, settings, telegram, wake) = batch_parts(&sb, &fake).await;
    let batch = incoming_batch(
        &fake,
        &[
            (ECON, "/update E-1 推进中 已完成选址"),
            (SECOND_LIAISON, "/update E-3 推进中 已进场施工"),
            (ECON, "/update E-2 推进中 毒丸"),
        ],
    );
    let ids: Vec<String> = batch.iter().map(|i| i.update_id.clone()).collect();
    let replies = "SELECT COUNT(*) FROM outbox WHERE kind = 'reply'";
    let replies_before: i64 = sqlx::query_scalar(replies)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let outcome = apply_now(&store, &settings, &telegram, &wake, &batch).await;
    assert_eq!(
        outcome.outcomes,
        [Applied::Applied, Applied::Applied, Applied::Held]
    );
    assert_eq!(outcome.retried_alone, [ids[2].clone()]);
    let pair = |code: &str, body: &str| (code.to_string(), format!("推进中 {body}"));
    assert_eq!(
        chat_notes(&mut conn).await,
        [pair("E-1", "已完成选址"), pair("E-3", "已进场施工")]
    );
    let held: Vec<(String, i64)> =
        sqlx::query_as("SELECT update_id, attempts FROM held_updates ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(held, [(ids[2].clone(), 1)]);
    // Each of the two applied got its answer, and the held one none yet.
    let replies_after: i64 = sqlx::query_scalar(replies)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(replies_after - replies_before, 2);
    let cursor: String =
        sqlx::query_scalar("SELECT last_update FROM cursors WHERE channel = 'telegram'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(cursor, ids[2]);

    // Then a batch whose failing update is followed by one that waits behind the held one:
    // holding the second back sends the first's writes, which fail; that is still the
    // first's failure, not the batch's.
    let batch = incoming_batch(
        &fake,
        &[
            (SECOND_LIAISON, "/update E-3 推进中 又一颗毒丸"),
            (ECON, "/update E-1 推进中 主体已封顶"),
        ],
    );
    let ids: Vec<String> = batch.iter().map(|i| i.update_id.clone()).collect();
    let outcome = apply_now(&store, &settings, &telegram, &wake, &batch).await;
    assert_eq!(outcome.outcomes, [Applied::Held, Applied::Behind]);
    assert_eq!(outcome.retried_alone, [ids[0].clone()]);
    assert_eq!(chat_notes(&mut conn).await.len(), 2, "nothing more applied");
    let held: Vec<String> = sqlx::query_scalar("SELECT update_id FROM held_updates ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(held[1..], [ids[1].clone(), ids[0].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_last_update_in_a_batch_is_retried_alone_on_sqlite() {
    a_failing_last_update_in_a_batch_is_retried_alone(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_last_update_in_a_batch_is_retried_alone_on_postgres() {
    let pg = PgDatabase::create().await;
    a_failing_last_update_in_a_batch_is_retried_alone(Sandbox::with_url(&pg.url)).await;
}

/// A batch keeps back its updates' writes to send them together, and on PostgreSQL reads the
/// measures its updates name together: each update still sees what the updates before it in
/// the batch did.
/// A measure reported on first moves from 未启动 to 推进中 once; a claim after that starts
/// from 推进中; a report after the claim keeps it claimed; the rows land in the order the
/// updates came.
async fn a_batch_sees_its_own_writes(sb: Sandbox) {
    let fake = FakeTelegram::start().await;
    econ_measures(&sb, 3);
    let bot = sb.start_bot(&fake, &[]);
    bind(&sb, &fake, ECON, ECON, "经济发展局", "liaison", None).await;
    assert!(bot.stop());
    let mut conn = db(&sb.url).await;
    let (store, settings, telegram, wake) = batch_parts(&sb, &fake).await;
    let batch = incoming_batch(
        &fake,
        &[
            (ECON, "/update E-1 推进中 已完成选址"),
            (ECON, "/update E-2 推进中 已开工"),
            (ECON, "/update E-2 推进中 主体已封顶"),
            (ECON, "/update E-1 已完成"),
            (ECON, "/update E-3 推进中 已进场"),
            (ECON, "/update E-1 推进中 补充验收材料"),
        ],
    );
    let replies = || {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'reply' AND chat_id = $1",
        )
        .bind(ECON.to_string())
    };
    let before = replies().fetch_one(&mut conn).await.unwrap();
    let outcome = apply_now(&store, &settings, &telegram, &wake, &batch).await;
    assert!(outcome.retried_alone.is_empty(), "{outcome:?}");
    let history: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT m.code, h.kind, h.from_status, h.to_status FROM history h \
         JOIN measures m ON m.id = h.measure_id WHERE h.source = 'chat' ORDER BY h.id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let row = |code: &str, kind: &str, from: &str, to: &str| {
        (code.into(), kind.into(), from.into(), to.into())
    };
    assert_eq!(
        history,
        [
            row("E-1", "status", "not_started", "in_progress"),
            row("E-2", "status", "not_started", "in_progress"),
            row("E-2", "note", "in_progress", "in_progress"),
            row("E-1", "status", "in_progress", "claimed"),
            row("E-3", "status", "not_started", "in_progress"),
            row("E-1", "note", "claimed", "claimed"),
        ]
    );
    let measures: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT code, status, latest_progress FROM measures ORDER BY code")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let measure =
        |code: &str, status: &str, latest: &str| (code.into(), status.into(), Some(latest.into()));
    assert_eq!(
        measures,
        [
            measure("E-1", "claimed", "推进中 补充验收材料"),
            measure("E-2", "in_progress", "推进中 主体已封顶"),
            measure("E-3", "in_progress", "推进中 已进场"),
        ]
    );
    let claims: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM claims WHERE state = 'pending'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(claims, 1, "E-1's claim, once");
    let after = replies().fetch_one(&mut conn).await.unwrap();
    assert_eq!(after - before, 6, "one answer for each update");
}

/// A measure a batch read for the updates expected to name it is served as the batch's own
/// writes left it: a note kept back for later changes the measure's latest progress, and the
/// next update reads that, not what the batch read before.
async fn a_batch_serves_a_measure_as_its_writes_left_it(sb: Sandbox) {
    econ_measures(&sb, 2);
    let store = duban::store::Store::open(&sb.url).await.unwrap();
    let now = chrono::Utc::now();
    let change = duban::store::Change {
        actor: "测试".into(),
        source: duban::core::ledger::Source::Chat,
        at: now,
        note: None,
        chat: None,
    };
    let mut batch = store.begin_batch(false).await.unwrap();
    batch.expect_measures(["E-1".to_string(), "E-2".to_string()]);
    let mut tx = batch.begin_update(now).await.unwrap();
    let (id, before) = tx.measure_named("E-1").await.unwrap().unwrap();
    assert_eq!(before.latest_progress, None);
    tx.add_note(id, "已完成选址", &change).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = batch.begin_update(now).await.unwrap();
    let (_, other) = tx.measure_named("E-2").await.unwrap().unwrap();
    assert_eq!(other.latest_progress, None);
    let (again, after) = tx.measure_named("E-1").await.unwrap().unwrap();
    assert_eq!(again, id);
    assert_eq!(after.latest_progress.as_deref(), Some("已完成选址"));
    assert!(tx.measure_named("E-9").await.unwrap().is_none());
    tx.commit().await.unwrap();
    batch.commit().await.unwrap();
    let mut conn = db(&sb.url).await;
    let latest: Option<String> =
        sqlx::query_scalar("SELECT latest_progress FROM measures WHERE code = 'E-1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(latest.as_deref(), Some("已完成选址"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_serves_a_measure_as_its_writes_left_it_on_sqlite() {
    a_batch_serves_a_measure_as_its_writes_left_it(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_serves_a_measure_as_its_writes_left_it_on_postgres() {
    let pg = PgDatabase::create().await;
    a_batch_serves_a_measure_as_its_writes_left_it(Sandbox::with_url(&pg.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sees_its_own_writes_on_sqlite() {
    a_batch_sees_its_own_writes(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sees_its_own_writes_on_postgres() {
    let pg = PgDatabase::create().await;
    a_batch_sees_its_own_writes(Sandbox::with_url(&pg.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_update_in_a_batch_is_retried_alone_on_sqlite() {
    a_failing_update_in_a_batch_is_retried_alone(Sandbox::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_update_in_a_batch_is_retried_alone_on_postgres() {
    let pg = PgDatabase::create().await;
    a_failing_update_in_a_batch_is_retried_alone(Sandbox::with_url(&pg.url)).await;
}
