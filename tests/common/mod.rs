//! Helpers shared by the integration tests: a sandbox directory with its own SQLite file,
//! a fresh PostgreSQL database per run, and small ledger files written on the spot.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use rust_xlsxwriter::Workbook;
use sqlx::Connection;

/// The sample ledger shipped with the project.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/ledger.xlsx")
}

/// A directory with its own database, where the `duban` binary runs with a clean
/// environment (no `DUBAN_*` variables from outside, no repository config file).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl Sandbox {
    /// A sandbox on a new SQLite file.
    pub fn sqlite() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("duban.db").display());
        Sandbox { dir, url }
    }

    /// A sandbox on a new SQLite file with the sample ledger imported.
    pub fn with_sample() -> Sandbox {
        let sandbox = Sandbox::sqlite();
        sandbox.ok(&["import", sample().to_str().unwrap()]);
        sandbox
    }

    /// A sandbox on the given database URL.
    pub fn with_url(url: &str) -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            url: url.to_string(),
        }
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `duban` command, ready to run in the sandbox.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_duban"));
        for (key, _) in std::env::vars() {
            if key.starts_with("DUBAN_") {
                command.env_remove(key);
            }
        }
        command
            .current_dir(self.dir.path())
            .env("DUBAN_DATABASE_URL", &self.url)
            .env("DUBAN_LOG", "warn")
            // The console's workbench on a port of its own, never the default 8080.
            .env("DUBAN_WEB_LISTEN", "127.0.0.1:0")
            .env("NO_COLOR", "1");
        command
    }

    /// Runs `duban ARGS` and returns what it printed.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run duban")
    }

    /// Runs `duban ARGS`, expects success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "duban {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs `duban ARGS`, expects failure and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "duban {args:?} should fail but printed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8")
    }

    /// `duban measures --json` at `at`, parsed.
    pub fn measures(&self, at: &str) -> Vec<serde_json::Value> {
        let out = self.ok(&["measures", "--json", "--at", at]);
        serde_json::from_str(&out).expect("measures --json is a JSON array")
    }
}

/// The measure with `code` in a `measures --json` listing.
pub fn by_code<'a>(measures: &'a [serde_json::Value], code: &str) -> &'a serde_json::Value {
    measures
        .iter()
        .find(|m| m["code"] == code)
        .unwrap_or_else(|| panic!("no measure {code}"))
}

/// Writes an .xlsx whose first sheet holds `rows` of text cells, from row 1.
pub fn write_xlsx(path: &Path, rows: &[Vec<&str>]) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, text) in row.iter().enumerate() {
            if !text.is_empty() {
                sheet
                    .write_string(r as u32, c as u16, *text)
                    .expect("write cell");
            }
        }
    }
    book.save(path).expect("save workbook");
}

/// The header most test ledgers use.
pub fn header() -> Vec<&'static str> {
    vec![
        "序号",
        "问题",
        "整改措施",
        "责任领导",
        "牵头单位",
        "责任单位",
        "完成时限",
        "整改进展",
        "状态",
    ]
}

/// The server the PostgreSQL tests use: `DUBAN_TEST_PG_URL`, by default the local one.
pub fn pg_admin_url() -> String {
    std::env::var("DUBAN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database, dropped when this value is dropped.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl PgDatabase {
    /// Creates `duban_test_<pid>_<n>_<time>` on the test server.
    pub async fn create() -> PgDatabase {
        let admin = pg_admin_url();
        let name = format!(
            "duban_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                % 1_000_000
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin.clone());
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = pg_admin_url();
        let name = self.name.clone();
        // A runtime of its own: drop may run inside or outside one.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Runs `duban run` without a token (the console) in `sb` with `env`, types `lines` into it
/// with pauses, and returns what it printed once the input ended.
pub fn console(sb: &Sandbox, env: &[(&str, &str)], lines: &[&str]) -> String {
    use std::io::Write;
    let mut child = sb
        .command()
        .arg("run")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether the run is CI, where every external input must be present.
/// Says, where `cargo test` shows it, that a test checks nothing on this machine and why:
/// the test harness hides what a passing test prints, so this writes past it to the
/// process's own stderr.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub mod fake_dingtalk;
pub mod fake_telegram;
pub mod scene;
pub mod workbook;

use fake_telegram::{FakeTelegram, TOKEN};

/// A running `duban run`, stopped with SIGTERM (or killed) when dropped.
pub struct Running {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Running {
    /// Sends SIGTERM and waits for the process to end; returns whether it ended well.
    pub fn stop(mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait for duban");
        status.success()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the process logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failing test leaves the service's log where it can be read.
        if std::thread::panicking() {
            let kept = std::env::temp_dir().join(format!("duban-failed-{}.log", self.child.id()));
            let _ = std::fs::copy(&self.log, &kept);
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("the service's log is kept in {}", kept.display()),
            );
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Sandbox {
    /// The `duban` command with the bot pointed at the fake server, the schedule off, and
    /// delivery limits raised so that tests run fast.
    pub fn bot_command(&self, fake: &FakeTelegram) -> Command {
        let mut command = self.command();
        command
            .env("DUBAN_TELEGRAM_TOKEN", TOKEN)
            .env("DUBAN_TELEGRAM_API_URL", &fake.url)
            .env("DUBAN_TELEGRAM__POLL_TIMEOUT_SECONDS", "1")
            .env("DUBAN_SCHEDULE__ENABLED", "false")
            .env("DUBAN_DELIVERY__PER_CHAT_PER_SECOND", "100")
            .env("DUBAN_DELIVERY__PER_SECOND", "500")
            .env("DUBAN_DELIVERY__PER_GROUP_PER_MINUTE", "1000");
        command
    }

    /// Runs `duban remind --now NOW EXTRA…` against the fake server.
    pub fn remind(&self, fake: &FakeTelegram, now: &str, extra: &[&str]) -> Output {
        self.bot_command(fake)
            .args(["remind", "--now", now])
            .args(extra)
            .output()
            .expect("run duban remind")
    }

    /// Starts `duban run` against the fake server, logging to a file in the sandbox.
    pub fn start_bot(&self, fake: &FakeTelegram, extra_env: &[(&str, &str)]) -> Running {
        let log = self.path(&format!(
            "run-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = self.bot_command(fake);
        command
            .env("DUBAN_LOG", "info,duban=debug")
            .arg("run")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in extra_env {
            command.env(k, v);
        }
        Running {
            child: command.spawn().expect("start duban run"),
            log,
        }
    }

    /// Makes an invitation and returns its code (the last line of output).
    pub fn invite(&self, unit: &str, role: &str, name: Option<&str>) -> String {
        let mut args = vec!["invite", unit, "--role", role];
        if let Some(name) = name {
            args.extend(["--name", name]);
        }
        let out = self.ok(&args);
        out.lines().last().unwrap().trim().to_string()
    }
}

/// Binds a user through the running bot with a fresh code; waits for the confirmation.
pub async fn bind(
    sandbox: &Sandbox,
    fake: &FakeTelegram,
    chat_id: i64,
    user_id: i64,
    unit: &str,
    role: &str,
    name: Option<&str>,
) {
    let code = sandbox.invite(unit, role, name);
    let before = fake.sent_to(chat_id).len();
    fake.text(chat_id, user_id, &format!("/bind {code}"), None);
    fake.wait_for(15, "the binding's confirmation", |f| {
        f.sent_to(chat_id).len() > before
    })
    .await;
    let reply = fake.sent_to(chat_id).last().unwrap().text.clone();
    assert!(
        reply.contains("绑定成功") || reply.contains("本群已绑定"),
        "{reply}"
    );
}

/// What a child process came to and took, from the kernel's accounting of it.
#[derive(Debug)]
pub struct Measured {
    /// Its exit code (-1 when a signal ended it).
    pub code: i32,
    /// What it printed.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
    /// Its peak resident memory (VmHWM, sampled every 2 ms while it runs), in megabytes.
    pub peak_mb: f64,
    /// Its CPU time (user and system), in seconds.
    pub cpu_seconds: f64,
    /// How long it ran, in seconds.
    pub seconds: f64,
}

/// Runs `command` to its end and measures it: its CPU time from `wait4`, the kernel's
/// record of that one process, and its peak memory from its own high-water mark.
pub fn measured(mut command: Command) -> Measured {
    use std::io::Read;
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    // Reaped below by wait4, which std's wait would not let measure.
    #[allow(clippy::zombie_processes)]
    let mut child = command.spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = child.id() as libc::pid_t;
    // The kernel's ru_maxrss of a child counts the memory of the test process it was
    // spawned from, so the child's own high-water mark is read from /proc while it runs.
    let sampler = std::thread::spawn(move || {
        let mut peak_kb = 0u64;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) else {
                break;
            };
            let kb: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak_kb = peak_kb.max(kb);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        peak_kb
    });
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value, which wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; status and usage are valid pointers.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let seconds = started.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let time = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        peak_mb: sampler.join().unwrap() as f64 / 1024.0,
        cpu_seconds: time(usage.ru_utime) + time(usage.ru_stime),
        seconds,
    }
}

/// Writes a line where `cargo test` shows it even for a passing test: a figure the notes
/// report.
pub fn figure(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "FIGURE {line}");
}

/// A port of 127.0.0.1 that is free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
