//! Printing for the command line: a closed pipe ends the command quietly (`duban measures |
//! head`), and text from chats or files never reaches the terminal as control codes.

use std::fmt::Display;
use std::io::{ErrorKind, Write};

/// Writes `text` and a line break to stdout. When the reader has gone (a closed pipe), the
/// command ends at once and quietly, with success: the reader took what it wanted.
pub fn line(text: impl Display) {
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = written {
        gone(e.kind());
    }
}

/// Writes `text` to stdout without a line break; a closed pipe ends the command quietly.
pub fn text(text: impl Display) {
    let mut out = std::io::stdout().lock();
    let written = write!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = written {
        gone(e.kind());
    }
}

/// Writes `text` and a line break to stderr; nothing happens when stderr is closed.
pub fn err_line(text: impl Display) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

fn gone(kind: ErrorKind) {
    if kind == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    // Another failure to write (a full disk behind a redirect): say so once and stop.
    err_line(format!("error: cannot write to standard output ({kind})"));
    std::process::exit(1);
}

/// Text from a chat, a file or the database as the terminal should show it: control
/// characters (ESC, BEL, NUL …) and the bidirectional overrides that reorder what a line
/// shows are written as `\u{…}` escapes, so that nobody can repaint the office's terminal or
/// disguise a line. Line breaks become spaces.
pub fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || duban::core::text::is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// A table as the terminal should show it: like [`safe`] line by line, keeping the line
/// breaks and the colour codes the table itself paints its lights with.
pub fn safe_table(text: &str) -> String {
    const PAINT: [&str; 4] = ["\u{1b}[31m", "\u{1b}[32m", "\u{1b}[33m", "\u{1b}[0m"];
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut rest = line;
        while !rest.is_empty() {
            if let Some(paint) = PAINT.iter().find(|p| rest.starts_with(*p)) {
                out.push_str(paint);
                rest = &rest[paint.len()..];
                continue;
            }
            let c = rest.chars().next().expect("not empty");
            out.push_str(&safe(c.encode_utf8(&mut [0; 4])));
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(safe("已完成"), "已完成");
        assert_eq!(safe("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(safe("x\u{7}\u{0}y"), "x\\u{7}\\u{0}y");
        assert_eq!(safe("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(safe("一\n二"), "一 二");
    }
}
