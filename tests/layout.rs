//! The folders are the architecture, and these tests keep them so: the pure core uses no
//! I/O crate and reaches into no edge, and Telegram is named only in its channel.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file a build of the library compiles: unit tests (a `tests.rs` file, or
/// what follows `#[cfg(test)]`) and comments left out.
fn shipped_code(path: &Path) -> Option<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap();
    Some(
        code.lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Whether `code` names `word` as a whole word (so `tokio` but not `tokio_like`).
fn names(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        edge(before) && edge(after)
    })
}

#[test]
fn the_core_does_no_io_and_reaches_into_no_edge() {
    let forbidden = [
        // I/O crates.
        "tokio",
        "sqlx",
        "teloxide",
        "reqwest",
        "axum",
        "hyper",
        "calamine",
        "rust_xlsxwriter",
        "figment",
        // The clock, the environment, files, processes and the network.
        "std::fs",
        "std::env",
        "std::net",
        "std::process",
        "std::thread",
        "SystemTime",
        "Utc::now",
        "Local::now",
        "Instant::now",
        // The edges.
        "crate::store",
        "crate::channels",
        "crate::service",
        "crate::app",
        "crate::ingest",
        "crate::config",
    ];
    let mut found = Vec::new();
    let files = rust_files(&src().join("core"));
    assert!(files.len() > 10, "{files:?}");
    for path in files {
        let Some(code) = shipped_code(&path) else {
            continue;
        };
        for word in forbidden {
            if names(&code, word) {
                found.push(format!("{}: {word}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the core reaches out:\n{}",
        found.join("\n")
    );
}

#[test]
fn telegram_is_named_only_in_its_channel() {
    let telegram = src().join("channels").join("telegram");
    let mut found = Vec::new();
    for path in rust_files(&src()) {
        let in_channel =
            path.starts_with(&telegram) || path == src().join("channels").join("telegram.rs");
        if in_channel {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if names(&text, "teloxide") {
            found.push(path.display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "teloxide outside src/channels/telegram*: {found:?}"
    );
}

#[test]
fn the_check_sees_what_it_looks_for() {
    assert!(names("use tokio::sync::Mutex;", "tokio"));
    assert!(!names("let tokio_like = 1;", "tokio"));
    assert!(names("crate::store::Store", "crate::store"));
    assert!(!names("crate::storeroom", "crate::store"));
}
