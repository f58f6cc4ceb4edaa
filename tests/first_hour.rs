//! The first hour with duban, as a newcomer meets it: the console of the README's first
//! command, the CLI's words in one language, examples that the bot itself would accept,
//! pipes, a clean working tree, and the house style of official Chinese text.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::NaiveDate;
use common::fake_telegram::FakeTelegram;
use common::scene::*;
use common::{Sandbox, sample};
use duban::core::text::style_problems;

const AT: &str = "2024-03-15";

/// Today in the office's time zone, as the binary sees it.
fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

/// The console's messages, each from its "── #N ──" line to the next one.
fn messages(stdout: &str) -> Vec<String> {
    stdout
        .split("── #")
        .skip(1)
        .map(|part| part.split_once('\n').map_or("", |(_, m)| m).to_string())
        .collect()
}

/// Every date written 2024年3月15日 in `text`.
fn chinese_dates(text: &str) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('年') {
        let year: String = text[..i]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let rest = &text[i + '年'.len_utf8()..];
        let Some((month, rest)) = rest.split_once('月') else {
            continue;
        };
        let Some((day, _)) = rest.split_once('日') else {
            continue;
        };
        if let (Ok(y), Ok(m), Ok(d)) = (year.parse(), month.parse(), day.parse())
            && let Some(date) = NaiveDate::from_ymd_opt(y, m, d)
        {
            out.push(date);
        }
    }
    out
}

/// The examples quoted in a message (“…”) that ask for an extension.
fn extension_examples(text: &str) -> Vec<String> {
    text.split('“')
        .skip(1)
        .filter_map(|part| part.split_once('”').map(|(quoted, _)| quoted.to_string()))
        .filter(|quoted| quoted.contains("延期"))
        .collect()
}

#[test]
fn the_console_answers_every_line_in_house_style_with_examples_after_today() {
    let sb = Sandbox::sqlite();
    // The README's first command on an empty database: the sample, around today.
    let stdout = common::console(
        &sb,
        &[("DUBAN_OFFICE__NAME", "工作专班")],
        &[
            "/help",
            "99-9 已完成",
            "!99",
            "随便说点什么",
            "3-2 延期至2020年1月1日 等资金",
            "3-2 需协调 缺资金",
            "/whoami",
            "/list",
        ],
    );
    let all = messages(&stdout);
    assert!(all.len() >= 8, "{stdout}");
    // Red, yellow and green on any day, and no overdue count from years ago.
    let reminder = &all[0];
    assert!(
        reminder.contains("🔴") && reminder.contains("🟡"),
        "{reminder}"
    );
    let listed = listed_codes(reminder);
    assert!(listed.len() >= 7, "{reminder}");
    // Every message is in the house style, and every example date is after today.
    for message in &all {
        assert_eq!(style_problems(message), Vec::<String>::new(), "{message}");
        for example in extension_examples(message) {
            for date in chinese_dates(&example) {
                assert!(
                    date > today(),
                    "an example names {date}, not after today: {message}"
                );
            }
            assert!(
                !example.contains("2020"),
                "the refused date itself is not an example: {message}"
            );
        }
    }
    assert!(
        all.iter().any(|m| !extension_examples(m).is_empty()),
        "examples were checked"
    );
    // Unknown codes are answered by name, a button that does not exist too, and free text
    // on a reminder of several measures asks for the code.
    assert!(stdout.contains("没有这个序号：99-9"), "{stdout}");
    assert!(stdout.contains("没有第99个按钮"), "{stdout}");
    assert!(
        stdout.contains("这条提醒列了多项措施，请在开头写明序号"),
        "{stdout}"
    );
    assert!(stdout.contains("延期日期须晚于今天"), "{stdout}");
    // The body that runs the work has its configured name.
    assert!(stdout.contains("已提交工作专班协调"), "{stdout}");
    assert!(!stdout.contains("整改办协调"), "{stdout}");
    // /whoami in one line of Chinese, not one line per unit with role codes.
    let whoami = all
        .iter()
        .find(|m| m.starts_with("控制台联络员："))
        .expect("the whoami");
    assert_eq!(whoami.lines().count(), 1, "{whoami}");
    assert!(!whoami.contains("liaison"), "{whoami}");
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let sb = Sandbox::with_sample();
    for args in [
        vec!["measures"],
        vec!["measures", "--json"],
        vec!["history", "1-4"],
    ] {
        let mut child = sb
            .command()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head -c 100`: read a little, then close the pipe.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{args:?}: {status:?} {stderr}");
        assert_eq!(stderr, "", "{args:?} said something on a closed pipe");
    }
    // Through a real shell pipe, as a person types it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} measures --at {AT} | head -c 100 >/dev/null",
            env!("CARGO_BIN_EXE_duban")
        ))
        .env("DUBAN_DATABASE_URL", &sb.url)
        .current_dir(sb.dir.path())
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's first command in a clone leaves nothing for `git status` to show.
#[test]
fn the_first_command_leaves_the_working_tree_clean() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {:?}", out);
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore"),
        root.join(".gitignore"),
    )
    .unwrap();
    git(&["add", ".gitignore"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-qm",
        "ignore",
    ]);
    // `cargo run -- run` in the repository: the default database and data directory.
    let mut command = Command::new(env!("CARGO_BIN_EXE_duban"));
    for (key, _) in std::env::vars() {
        if key.starts_with("DUBAN_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .arg("run")
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    writeln!(stdin, "1-4 已完成").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(
        root.join("duban.db").exists(),
        "the console made its database"
    );
    // `duban demo` and an export next to it too.
    let demo = Command::new(env!("CARGO_BIN_EXE_duban"))
        .arg("demo")
        .current_dir(root)
        .env_remove("DUBAN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(demo.status.success());
    assert_eq!(git(&["status", "--porcelain"]), "", "git status is clean");
}

/// Every line the CLI prints under `language = zh` is Chinese: English words appear only
/// as names of commands, options, files and products.
#[test]
fn every_cli_line_is_chinese_under_zh() {
    let sb = Sandbox::with_sample();
    let later = (today() + chrono::Days::new(60)).to_string();
    let file = sb.path("export.xlsx");
    let broken = sb.path("broken.csv");
    std::fs::write(
        &broken,
        "序号,整改措施,牵头单位,完成时限,状态\n1,措施,财政局,明年,差不多\n1,措施,,2024-02-30,逾期\n",
    )
    .unwrap();
    let overdue = sb.path("overdue.csv");
    std::fs::write(
        &overdue,
        "序号,整改措施,牵头单位,完成时限,状态\n9-1,措施,财政局,2024-06-30,逾期\n",
    )
    .unwrap();
    let runs: Vec<Vec<String>> = [
        vec!["migrate"],
        vec!["import", sample().to_str().unwrap(), "--dry-run"],
        vec!["import", sample().to_str().unwrap()],
        vec!["import", broken.to_str().unwrap()],
        vec!["import", overdue.to_str().unwrap()],
        vec!["import", "nowhere.xlsx"],
        vec!["import", "ledger.docx"],
        vec!["measures", "--at", AT],
        vec!["measures", "--unit", "经发局"],
        vec!["units", "--at", AT],
        vec!["set-status", "3-2", "claimed", "--note", "已完成"],
        vec!["set-status", "3-2", "claimed"],
        vec!["set-status", "99-9", "closed"],
        vec!["reject", "3-2", "--reason", "材料不全"],
        vec!["reject", "3-2", "--reason", "再退"],
        vec!["close", "4-6", "--note", "现场核验"],
        vec!["close", "4-6"],
        vec!["reopen", "4-6", "--reason", "问题反弹"],
        vec!["reopen", "4-6", "--reason", "再开"],
        vec!["extend", "6-6", &later, "--reason", "设备未到货"],
        vec!["extend", "6-6", "2020-01-01", "--reason", "x"],
        vec!["extend", "1-6", &later, "--reason", "x"],
        vec!["history", "6-6"],
        vec!["history", "4-6"],
        vec![
            "request",
            "add",
            "--unit",
            "财政局",
            "--category",
            "consult",
            "企业咨询",
            "--now",
            "2024-03-11T09:00:00+08:00",
        ],
        vec![
            "request",
            "answer",
            "R1",
            "已答复",
            "--now",
            "2024-03-13T10:00:00+08:00",
        ],
        vec!["request", "answer", "R1", "再答复"],
        vec!["request", "answer", "R9", "x"],
        vec!["requests", "--at", AT],
        vec!["remind", "--now", "2024-03-15T09:00:00+08:00", "--dry-run"],
        vec!["remind", "--now", "2024-03-17T09:00:00+08:00"],
        vec!["digest", "--now", "2024-03-15T17:30:00+08:00", "--dry-run"],
        vec!["digest", "--now", "2024-03-17T17:30:00+08:00"],
        vec!["invite", "财政局"],
        vec!["invite", "财政所"],
        vec!["invite", "党工委", "--role", "leader", "--name", "张三丰"],
        vec!["invite", "整改办", "--role", "office"],
        vec!["export", file.to_str().unwrap(), "--at", AT],
        vec!["demo", "--at", AT],
        vec!["reading", "3-2 基本完成"],
        vec!["reading", "需延后到2027年3月31日 设备未到货"],
        vec!["reading", "需协调"],
        vec!["reading", "已完成招标", "--measure", "3-4"],
    ]
    .iter()
    .map(|run| run.iter().map(|s| s.to_string()).collect())
    .collect();
    let mut lines = 0;
    for args in &runs {
        let out = sb.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            lines += 1;
            let english = english_words(line);
            assert!(
                english.is_empty(),
                "duban {args:?} printed English {english:?}:\n{line}"
            );
        }
    }
    assert!(lines > 150, "{lines} lines checked");
    // The same commands speak English when asked to.
    let out = sb
        .command()
        .env("DUBAN_LANGUAGE", "en")
        .args(["units", "--at", AT])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("units (lights as of 2024-03-15)"), "{text}");
}

/// The English words of a line, leaving out names: commands, options, paths, variables,
/// codes, and the products and file formats duban names.
fn english_words(line: &str) -> Vec<String> {
    const NAMES: [&str; 32] = [
        "duban",
        "cargo",
        "run",
        "history",
        "close",
        "reject",
        "reason",
        "measures",
        "colour",
        "red",
        "export",
        "help",
        "demo",
        "set",
        "status",
        "closed",
        "invite",
        "role",
        "leader",
        "name",
        "bind",
        "list",
        "update",
        "answer",
        "whoami",
        "unbind",
        "Telegram",
        "SQLite",
        "PostgreSQL",
        "MiB",
        "Excel",
        "SHA",
    ];
    const MORE: [&str; 10] = [
        "xlsx", "xls", "ods", "csv", "toml", "Ctrl", "D", "N", "R", "force",
    ];
    let mut words = Vec::new();
    for token in line.split(|c: char| !(c.is_ascii_graphic())) {
        // A token with a digit, a path, an option, a variable or a URL is a name.
        if token.is_empty()
            || token.chars().any(|c| c.is_ascii_digit())
            || token.contains(['/', '.', '_', '-', ':', '=', '@', '`', '$'])
        {
            continue;
        }
        let word: String = token
            .trim_matches(|c: char| !c.is_ascii_alphabetic())
            .to_string();
        // An invitation code (12 capitals of its alphabet, digits not always among them).
        let code = word.len() == 12 && word.chars().all(|c| c.is_ascii_uppercase());
        if word.is_empty()
            || code
            || !word.chars().all(|c| c.is_ascii_alphabetic())
            || NAMES.contains(&word.as_str())
            || MORE.contains(&word.as_str())
        {
            continue;
        }
        words.push(word);
    }
    words
}

/// Chinese message templates in the code use full-width punctuation beside Chinese: a scan
/// of every string literal in src/ (tests aside).
#[test]
fn message_templates_use_full_width_punctuation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut scanned = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".rs") || name == "tests.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests at the end of a file hold inputs as people type them.
            let code = text.split("#[cfg(test)]").next().unwrap();
            let lines: Vec<&str> = code.lines().collect();
            for (line_no, literal) in chinese_literals(code) {
                // Data, not a message: separators people type, a cell as ledgers write it.
                let marked = |n: usize| n >= 1 && lines[n - 1].contains("house-style: data");
                if marked(line_no) || marked(line_no - 1) {
                    continue;
                }
                // English text naming Chinese terms keeps English punctuation.
                let cjk = literal
                    .chars()
                    .filter(|c| duban::core::text::is_cjk(*c))
                    .count();
                let latin = literal.chars().filter(char::is_ascii_alphabetic).count();
                if latin > cjk {
                    continue;
                }
                scanned += 1;
                for problem in ascii_punctuation(&literal) {
                    problems.push(format!(
                        "{}:{line_no}: {problem}",
                        path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                            .unwrap()
                            .display()
                    ));
                }
            }
        }
    }
    assert!(scanned > 200, "{scanned} Chinese literals");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The string literals of Rust source that hold Chinese, with their line numbers; comments
/// are skipped.
fn chinese_literals(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let mut inside = false;
        let mut escaped = false;
        let mut current = String::new();
        for c in line.chars() {
            if !inside {
                if c == '"' {
                    inside = true;
                    current.clear();
                } else if c == '/' && line.contains("//") && current.is_empty() {
                    // A trailing comment ends the code on this line.
                }
                continue;
            }
            if escaped {
                escaped = false;
                current.push(c);
                continue;
            }
            match c {
                '\\' => escaped = true,
                '"' => {
                    inside = false;
                    if current.chars().any(duban::core::text::is_cjk) {
                        out.push((i + 1, current.clone()));
                    }
                }
                c => current.push(c),
            }
        }
    }
    out
}

/// ASCII punctuation beside Chinese in a literal; quoted examples (“…”) are what people
/// type and stay as they are.
fn ascii_punctuation(literal: &str) -> Vec<String> {
    style_problems(literal)
        .into_iter()
        .filter(|p| p.starts_with("ASCII"))
        .collect()
}

/// `duban history` reads as a timeline: a header, the kind of each event in words, in time
/// order, and no "推进中 → 推进中" for events that change no status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_a_readable_timeline() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    let later = (today() + chrono::Days::new(60)).to_string();
    fake.ask(ECON, ECON, "/update 1-4 60% 已起草", None).await;
    fake.ask(
        ECON,
        ECON,
        &format!("/update 1-4 延期 {later} 等待审议"),
        None,
    )
    .await;
    fake.ask(ECON, ECON, "/update 1-4 需协调 会议排期", None)
        .await;
    assert!(bot.stop());
    sb.ok(&["set-status", "1-4", "claimed", "--note", "实施意见已印发"]);
    let out = sb.ok(&["history", "1-4"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("1-4 调研制定"), "{out}");
    assert!(
        lines[1].starts_with("时间") && lines[1].contains("事件") && lines[1].contains("变化"),
        "{out}"
    );
    for kind in [
        "新建",
        "进展记录",
        "报送进展",
        "申请延期",
        "申请协调",
        "状态变更",
    ] {
        assert!(out.contains(kind), "{kind} missing:\n{out}");
    }
    assert!(out.contains("推进中 → 申请销号"), "{out}");
    assert!(!out.contains("推进中 → 推进中"), "{out}");
    assert!(lines.last().unwrap().starts_with("共"), "{out}");
    // In time order: the import's entries first, the CLI's claim last.
    let events: Vec<&str> = lines[2..lines.len() - 1].to_vec();
    let times: Vec<&str> = events.iter().map(|l| &l[..20.min(l.len())]).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "{out}");
    assert!(events.last().unwrap().contains("状态变更"), "{out}");
}

/// A leader named nowhere in the ledger is invited with a word on what that means; a
/// liaison code for a unit the ledger does not have is refused with the nearest names.
#[test]
fn invitations_say_what_they_cannot_do() {
    let sb = Sandbox::with_sample();
    let out = sb.ok(&["invite", "党工委", "--role", "leader", "--name", "张三丰"]);
    assert!(out.contains("台账的责任领导中没有“张三丰”"), "{out}");
    assert!(out.contains("导入写有该责任领导的台账后"), "{out}");
    let code = out.lines().last().unwrap();
    assert!(code.len() >= 10 && code.chars().all(|c| c.is_ascii_alphanumeric()));
    let out = sb.ok(&["invite", "党工委", "--role", "leader", "--name", "王建国"]);
    assert!(!out.contains("提示"), "{out}");
    let err = sb.fails(&["invite", "财政所"]);
    assert!(
        err.contains("没有名为“财政所”的单位") && err.contains("财政局"),
        "{err}"
    );
}

/// Stickers and voice messages are answered in a one-to-one chat, not in a group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticker_gets_an_answer_in_private() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::with_sample();
    let bot = bound_bot(&fake, &sb).await;
    let before = fake.sent_to(ECON).len();
    fake.push(serde_json::json!({"message": {
        "message_id": 900,
        "date": 1_700_000_100,
        "chat": {"id": ECON, "type": "private", "first_name": "联络员"},
        "from": {"id": ECON, "is_bot": false, "first_name": "联络员"},
        "sticker": {
            "file_id": "st-1", "file_unique_id": "st-1u", "type": "regular",
            "width": 512, "height": 512, "is_animated": false, "is_video": false
        }
    }}));
    fake.wait_for(15, "the answer to the sticker", |f| {
        f.sent_to(ECON).len() > before
    })
    .await;
    let answer = fake.sent_to(ECON).last().unwrap().text.clone();
    assert!(answer.contains("只能读取文字、图片和文件"), "{answer}");
    assert!(bot.stop());
}

/// The README's first screen: while the console runs, the office works from a second
/// terminal, and the liaison in the first one hears of it at once.
#[test]
fn the_office_acts_from_another_terminal() {
    use std::sync::{Arc, Mutex};
    let sb = Sandbox::sqlite();
    let mut child = sb
        .command()
        .arg("run")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let printed = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&printed);
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            match stdout.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n])),
            }
        }
    });
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !printed.lock().unwrap().contains(what) {
            assert!(
                std::time::Instant::now() < deadline,
                "waited for {what:?}:\n{}",
                printed.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("── #1 ──");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "3-2 已完成").unwrap();
    wait_for("3-2 已记录：申请销号");
    let out = sb.ok(&["close", "3-2", "--note", "现场核验"]);
    assert!(out.contains("申请销号 → 已销号"), "{out}");
    // Within the wait's 15 s, well before a service's idle check of 30 s.
    wait_for("✅ 3-2 销号申请已通过核验，已销号。");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}
