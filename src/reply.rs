//! Reading a liaison's reply: "1-3 已完成", "60% 合同已签", "需协调 用地指标", "延期 2024-06-30 设备未到".
//!
//! Pure: text in, intent out. Chinese and English. The bot decides what the intent does to
//! which measure, and whether the person may do it.

use chrono::NaiveDate;

use crate::ledger::Deadline;
use crate::ledger::parse;

/// What a reply asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// 完成 / 已完成 / 办结 / done: completion claimed, for the office to verify.
    Done {
        /// What else was said.
        note: Option<String>,
    },
    /// 推进中 / 进展 / progress, or a percentage.
    Progress {
        /// The percentage, when one was given.
        percent: Option<u8>,
        /// What was said.
        note: String,
    },
    /// 需协调 / 困难 / blocked: the unit needs the office's coordination.
    Blocked {
        /// Why.
        reason: String,
    },
    /// 延期 2024-06-30 / extend to 2024-06-30: a request for a later deadline.
    Extend {
        /// The date asked for.
        until: NaiveDate,
        /// Why.
        reason: Option<String>,
    },
    /// Anything else: kept as a progress note.
    Note(String),
}

/// Why a reply cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Nothing was written.
    #[error("the reply is empty")]
    Empty,
    /// 延期 without a readable date.
    #[error("an extension needs the new date, such as 延期 2024-06-30")]
    ExtensionWithoutDate,
    /// 需协调 without a reason.
    #[error("a request for coordination needs a reason, such as 需协调 用地指标未落实")]
    BlockedWithoutReason,
}

const DONE: [&str; 9] = [
    "已完成",
    "完成",
    "已办结",
    "办结",
    "整改完成",
    "已整改",
    "done",
    "completed",
    "finished",
];
/// Words that make 完成 a noun ("完成情况", "完成率"): the reply is not a claim of completion.
/// Words after 完成 that make it a plan or a problem, not a claim: "完成时间推迟", "完成不了",
/// "完成后报送".
const NOT_DONE_AFTER: [&str; 14] = [
    "情况", "率", "进度", "比例", "时限", "时间", "期限", "节点", "计划", "目标", "不", "难", "前",
    "后",
];
const PROGRESS: [&str; 6] = [
    "推进中",
    "正在推进",
    "进展",
    "进度",
    "progress",
    "inprogress",
];
const BLOCKED: [&str; 8] = [
    "需协调",
    "需要协调",
    "有困难",
    "困难",
    "blocked",
    "needcoordination",
    "needhelp",
    "求助",
];
const EXTEND: [&str; 6] = ["申请延期", "延期至", "延期到", "延期", "extendto", "extend"];

/// A measure code at the start of a reply, and the words after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadingCode<'a> {
    /// The code, in its canonical form.
    pub code: String,
    /// The words after it.
    pub rest: &'a str,
    /// Whether the words follow without a space or separator ("1-4已完成"): such a code is
    /// less certain, and the bot accepts it only from the reminder replied to.
    pub glued: bool,
}

/// Characters that make a number glued to them a quantity or a date, not a code:
/// "3-5个工作日", "1-2月", "3.5万元", "5.1日前".
const QUANTITY_AFTER: &str = "年月日号天周个项条件次万亿元人户家所%";

/// Splits a leading measure code off a reply: "1-3 已完成" → ("1-3", "已完成"). The caller
/// checks that the code exists; a reply may also just start with a number.
///
/// The code ends at a space or a separator, or where Chinese text starts ("1-4已完成"). A
/// bare number glued to Chinese ("5月底前完成", "3项已完成") is not taken for a code: only a
/// structured one such as "1-4" or "2.3" is, and not before a unit of quantity or time.
pub fn split_code(text: &str) -> Option<LeadingCode<'_>> {
    let text = text.trim_start();
    let is_separator =
        |c: char| c.is_whitespace() || matches!(c, ':' | '\u{FF1A}' | ',' | '\u{FF0C}' | '、');
    let is_code_char = |c: char| {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        };
        c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
    };
    let end = text.find(|c: char| !is_code_char(c)).unwrap_or(text.len());
    let (head, rest) = text.split_at(end);
    let glued = match rest.chars().next() {
        None => false,
        Some(c) if is_separator(c) => false,
        // "60%", "3/4", "A+": not a code followed by text.
        Some(c) if c.is_ascii() || c == '\u{FF05}' => return None,
        Some(c) if QUANTITY_AFTER.contains(c) => return None,
        Some(_) => true,
    };
    let code = parse::code(head.trim_end_matches(['.', '\u{FF0E}']));
    let looks_like_code = !code.is_empty()
        && code
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && code.chars().any(|c| c.is_ascii_digit())
        && (!glued || code.contains(['-', '.']));
    if !looks_like_code {
        return None;
    }
    let rest = rest.trim_start_matches(is_separator);
    Some(LeadingCode { code, rest, glued })
}

fn strip_word<'a>(text: &'a str, words: &[&str]) -> Option<&'a str> {
    let lower = text.to_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    for word in words {
        if compact.starts_with(word) {
            // Skip as many characters of `text` as the word has, ignoring spaces in between.
            let mut matched = 0;
            let target = word.chars().count();
            for (i, c) in text.char_indices() {
                if matched == target {
                    return Some(text[i..].trim_start_matches(|c: char| {
                        // house-style: data (separators people type)
                        c.is_whitespace() || ":,;。\u{FF1A}\u{FF0C}\u{FF1B}".contains(c)
                    }));
                }
                if !c.is_whitespace() {
                    matched += 1;
                }
            }
            return Some("");
        }
    }
    None
}

/// The first percentage in the text, 0–100.
fn percent(text: &str) -> Option<u8> {
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c != '%' && *c != '\u{FF05}' {
            continue;
        }
        let digits: String = chars[..i]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let digits: String = digits.chars().rev().collect();
        if let Ok(n) = digits.parse::<u16>()
            && n <= 100
        {
            return Some(n as u8);
        }
    }
    None
}

/// Reads a reply's intent.
pub fn intent(text: &str) -> Result<Intent, ReplyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ReplyError::Empty);
    }
    let rest_or_none = |rest: &str| Some(rest.trim().to_string()).filter(|r| !r.is_empty());
    if let Some(rest) = strip_word(text, &EXTEND) {
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '至' || c == '到');
        let (date_part, reason) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => (rest, ""),
        };
        let until = match parse::deadline(date_part) {
            Ok(Deadline::Date(d)) | Ok(Deadline::Immediate(Some(d))) => d,
            _ => return Err(ReplyError::ExtensionWithoutDate),
        };
        return Ok(Intent::Extend {
            until,
            reason: rest_or_none(reason),
        });
    }
    if let Some(rest) = strip_word(text, &BLOCKED) {
        let reason = rest.trim();
        if reason.is_empty() {
            return Err(ReplyError::BlockedWithoutReason);
        }
        return Ok(Intent::Blocked {
            reason: reason.to_string(),
        });
    }
    if let Some(p) = percent(text) {
        if p == 100 {
            return Ok(Intent::Done {
                note: Some(text.to_string()),
            });
        }
        return Ok(Intent::Progress {
            percent: Some(p),
            note: text.to_string(),
        });
    }
    if let Some(rest) = strip_word(text, &DONE)
        && !NOT_DONE_AFTER.iter().any(|w| rest.starts_with(w))
    {
        return Ok(Intent::Done {
            note: rest_or_none(rest),
        });
    }
    if strip_word(text, &PROGRESS).is_some() {
        return Ok(Intent::Progress {
            percent: None,
            note: text.to_string(),
        });
    }
    Ok(Intent::Note(text.to_string()))
}

#[cfg(test)]
mod tests;
