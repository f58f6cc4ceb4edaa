//! Reading a liaison's reply as offices write them: "1-3 已完成", "全部整改到位，请验收",
//! "完成了三分之一", "需要发改局支持", "需延后到2027年3月31日", "R12 已答复", "请问要报什么材料？".
//!
//! Pure: text and the day in, a reading out. What is recognised is data ([`words`]): one
//! table of words per language. A reading is clear, or unclear: then the bot says what it
//! would do and asks before doing it ("基本完成", "好的"). The bot decides what a reading does
//! to which measure, and whether the person may do it.

use chrono::{Datelike, Months, NaiveDate};

use crate::core::ledger::Deadline;
use crate::core::ledger::parse;

pub mod words;

use words::{EN, ZH};

/// What a reply asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// 完成 / 已完成 / 整改到位 / done: completion claimed, for the office to verify.
    Done {
        /// The words, when more was said than the claim.
        note: Option<String>,
    },
    /// Work under way: 推进中, 已召开会议, a percentage, a plan to finish.
    Progress {
        /// The percentage, when one was given.
        percent: Option<u8>,
        /// What was said.
        note: String,
    },
    /// 需协调 / 有困难 / 需要…支持 / blocked: the unit needs the office's coordination.
    Blocked {
        /// Why.
        reason: String,
    },
    /// 延期至2027年3月31日 / extend to 2027-03-31: a request for a later deadline.
    Extend {
        /// The date asked for.
        until: NaiveDate,
        /// Why.
        reason: Option<String>,
    },
    /// R12 …: the answer to a request (诉求).
    Answer {
        /// The request's number.
        request: i64,
        /// The answer.
        text: String,
    },
    /// 请问… / …？: a question to the office.
    Question {
        /// The question.
        text: String,
    },
    /// Anything else: kept as a progress note.
    Note(String),
}

impl Intent {
    /// The stable name of the kind of intent, as the corpus and the history name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Intent::Done { .. } => "done",
            Intent::Progress { .. } => "progress",
            Intent::Blocked { .. } => "blocked",
            Intent::Extend { .. } => "extend",
            Intent::Answer { .. } => "answer",
            Intent::Question { .. } => "question",
            Intent::Note(_) => "note",
        }
    }
}

/// How a reply was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// What it asks for.
    pub intent: Intent,
    /// Whether the reading is clear; an unclear one is applied only once the liaison confirms
    /// it ("基本完成" might be a claim, "好的" might mean the work is under way).
    pub clear: bool,
}

impl Reading {
    fn clear(intent: Intent) -> Result<Reading, ReplyError> {
        Ok(Reading {
            intent,
            clear: true,
        })
    }

    fn unclear(intent: Intent) -> Result<Reading, ReplyError> {
        Ok(Reading {
            intent,
            clear: false,
        })
    }
}

/// What a reading may take into account besides the words.
#[derive(Debug, Clone, Copy)]
pub struct ReplyContext<'a> {
    /// The day of the reply: "下月底" and "1月底" count from it.
    pub today: NaiveDate,
    /// The measure's content (整改措施), when the reply is about one: "已完成招标" claims
    /// completion only of a measure that is no more than a tender.
    pub measure: Option<&'a str>,
}

/// Why a reply cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Nothing was written.
    #[error("the reply is empty")]
    Empty,
    /// 延期 without a readable date.
    #[error("an extension needs the new date, such as 延期至2024年6月30日")]
    ExtensionWithoutDate,
    /// 需协调 without a reason.
    #[error("a request for coordination needs a reason, such as 需协调 用地指标未落实")]
    BlockedWithoutReason,
}

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

/// A reply's text, prepared for matching: typos mended, full-width forms folded, lower-case.
struct Prepared {
    /// The words as sent, typos mended: what notes keep.
    original: String,
    /// Folded, lower-case, without whitespace: for Chinese words.
    tight: Vec<char>,
    /// Folded, lower-case, whitespace kept as single spaces: for English words.
    spaced: String,
}

/// Full-width ASCII forms as ASCII, the ideographic space as a space, lower-case.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        c => c,
    };
    c.to_ascii_lowercase()
}

impl Prepared {
    fn new(text: &str) -> Prepared {
        let mut original = text.trim().to_string();
        for lexicon in [&ZH, &EN] {
            for (typo, meant) in lexicon.typos {
                original = original.replace(typo, meant);
            }
        }
        let folded: String = arabic(&original).chars().map(fold).collect();
        let tight = folded.chars().filter(|c| !c.is_whitespace()).collect();
        let spaced = folded.split_whitespace().collect::<Vec<_>>().join(" ");
        Prepared {
            original,
            tight,
            spaced,
        }
    }

    fn tight_string(&self) -> String {
        self.tight.iter().collect()
    }
}

/// The value of a run of Chinese numerals: 七 → 7, 十二 → 12, 三十一 → 31, 二〇二七 → 2027.
fn numeral_value(run: &[char]) -> Option<u32> {
    let digit = |c: char| {
        "〇零一二三四五六七八九"
            .chars()
            .position(|d| d == c)
            .map(|v| match v {
                0 | 1 => 0,
                v => v as u32 - 1,
            })
    };
    if run.iter().all(|c| digit(*c).is_some()) {
        // Digit by digit, as years are written: 二〇二七.
        return run.iter().try_fold(0u32, |n, c| Some(n * 10 + digit(*c)?));
    }
    let mut total = 0;
    let mut current = 0;
    for &c in run {
        match c {
            '十' => {
                total += current.max(1) * 10;
                current = 0;
            }
            '百' => {
                total += current.max(1) * 100;
                current = 0;
            }
            c => current = digit(c)?,
        }
    }
    Some(total + current)
}

/// Chinese numerals read as Arabic ones where they count dates and shares: 二〇二七年三月
/// 三十一日 → 2027年3月31日, 七成 → 70%, 百分之六十 → 60%, 一半 → 50%.
fn arabic(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_numeral = |c: char| "〇零一二三四五六七八九十百".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i..].starts_with(&['百', '分', '之']) {
            let start = i + 3;
            let end = chars[start..]
                .iter()
                .position(|c| !is_numeral(*c))
                .map_or(chars.len(), |p| start + p);
            if end > start
                && let Some(n) = numeral_value(&chars[start..end])
            {
                out.push_str(&format!("{n}%"));
                i = end;
                continue;
            }
        }
        if chars[i..].starts_with(&['一', '半']) && !(i > 0 && chars[i - 1] == '的') {
            // house-style: data (the reply rewritten for the reader, not a message)
            out.push_str("一半(50%)");
            i += 2;
            continue;
        }
        if !is_numeral(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let end = chars[i..]
            .iter()
            .position(|c| !is_numeral(*c))
            .map_or(chars.len(), |p| i + p);
        let unit = chars.get(end).copied();
        let value = numeral_value(&chars[i..end]);
        match (unit, value) {
            (Some('年' | '月' | '日' | '号'), Some(n)) => out.push_str(&n.to_string()),
            (Some('成'), Some(n)) if (1..=10).contains(&n) => {
                out.push_str(&format!("{}%", n * 10));
                i = end + 1;
                continue;
            }
            _ => out.extend(&chars[i..end]),
        }
        i = end;
    }
    out
}

/// Clause boundaries: what a negation or a plan does not reach across.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        ',' | '.' | ';' | '!' | '?' | '，' | '。' | '；' | '！' | '？' | '、' | '\n'
    )
}

/// Where `word` stands in `chars`, by char index.
fn positions(chars: &[char], word: &str) -> Vec<usize> {
    let w: Vec<char> = word.chars().collect();
    if w.is_empty() || w.len() > chars.len() {
        return Vec::new();
    }
    (0..=chars.len() - w.len())
        .filter(|&i| chars[i..i + w.len()] == w[..])
        .collect()
}

/// The start of the clause holding index `i`.
fn clause_start(chars: &[char], i: usize) -> usize {
    chars[..i]
        .iter()
        .rposition(|c| is_boundary(*c))
        .map_or(0, |p| p + 1)
}

/// The end of the clause holding index `i`.
fn clause_end(chars: &[char], i: usize) -> usize {
    chars[i..]
        .iter()
        .position(|c| is_boundary(*c))
        .map_or(chars.len(), |p| i + p)
}

/// Whether one of `words` ends within `reach` characters before index `i`, in its clause.
fn before(chars: &[char], i: usize, words: &[&str], reach: usize) -> bool {
    let from = clause_start(chars, i).max(i.saturating_sub(reach));
    let window: String = chars[from..i].iter().collect();
    words.iter().any(|w| window.contains(w))
}

/// Whether `word` is an English one, matched by whole words in the spaced text.
fn is_latin(word: &str) -> bool {
    word.is_ascii()
}

/// Where an English `word` stands in `spaced`, at word boundaries, by byte index.
fn latin_positions(spaced: &str, word: &str) -> Vec<usize> {
    spaced
        .match_indices(word)
        .filter(|(i, _)| {
            let before_ok = spaced[..*i]
                .chars()
                .last()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            let after_ok = spaced[i + word.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            before_ok && after_ok
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether the text holds one of `words` (Chinese in the tight text, English by words).
fn holds(p: &Prepared, words: &[&str]) -> bool {
    words.iter().any(|w| {
        if is_latin(w) {
            !latin_positions(&p.spaced, w).is_empty()
        } else {
            !positions(&p.tight, w).is_empty()
        }
    })
}

/// The request a reply answers when it starts with its code: `R12 …` → 12 and the rest.
fn request_answer(p: &Prepared) -> Option<(i64, String)> {
    request_code_at_start(&p.original).map(|(id, rest)| (id, rest.to_string()))
}

/// The request a text names at its start ("R12 …", "R3已协调解决", "回复R5，……"), and the
/// answer after it, in the text's own characters.
pub fn request_code_at_start(text: &str) -> Option<(i64, &str)> {
    let text = text.trim_start();
    let text = ["回复", "答复", "关于"]
        .iter()
        .find_map(|w| text.strip_prefix(w))
        .unwrap_or(text);
    let rest = text.strip_prefix(['R', 'r', 'Ｒ', 'ｒ'])?;
    let end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || ('０'..='９').contains(c)))
        .map_or(rest.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let digits: String = rest[..end].chars().map(fold).collect();
    let id = digits.parse().ok()?;
    let answer = rest[end..].trim_start_matches(|c: char| {
        c.is_whitespace() || is_boundary(c) || matches!(c, ':' | '：')
    });
    Some((id, answer.trim_end()))
}

/// The first percentage in the (folded) text, 0–100.
fn percent(p: &Prepared) -> Option<u8> {
    let chars = &p.tight;
    for (i, c) in chars.iter().enumerate() {
        if *c != '%' {
            continue;
        }
        let digits: String = chars[..i]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if let Ok(n) = digits.parse::<u16>()
            && n <= 100
        {
            return Some(n as u8);
        }
    }
    None
}

/// The last day of `year`-`month`.
fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)?
        .checked_add_months(Months::new(1))?
        .pred_opt()
}

/// The digits that end right before index `i` of `chars`, as a number.
fn number_before(chars: &[char], i: usize) -> Option<(u32, usize)> {
    let start = chars[..i]
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |p| p + 1);
    if start == i || i - start > 2 {
        return None;
    }
    let n: String = chars[start..i].iter().collect();
    Some((n.parse().ok()?, start))
}

/// A date the reply names, written any way the ledger accepts, or relative to `today`:
/// 2027年3月31日, 2027-03-31, 2027.2, 明年6月底, 下月底, 年底, 1月底, 3月15日.
fn find_date(p: &Prepared, today: NaiveDate) -> Option<NaiveDate> {
    let tight = p.tight_string();
    // A year written out: the ledger's own reader.
    if tight
        .chars()
        .collect::<Vec<_>>()
        .windows(4)
        .any(|w| w.iter().all(char::is_ascii_digit))
        && let Ok(Deadline::Date(d) | Deadline::Immediate(Some(d))) = parse::deadline(&tight)
    {
        return Some(d);
    }
    let chars = &p.tight;
    let next_month = today.with_day(1)?.checked_add_months(Months::new(1))?;
    for (word, day) in [
        ("下个月底", month_end(next_month.year(), next_month.month())),
        ("下月底", month_end(next_month.year(), next_month.month())),
        ("本月底", month_end(today.year(), today.month())),
        ("这个月底", month_end(today.year(), today.month())),
        ("明年底", NaiveDate::from_ymd_opt(today.year() + 1, 12, 31)),
        ("今年底", NaiveDate::from_ymd_opt(today.year(), 12, 31)),
        ("年底", NaiveDate::from_ymd_opt(today.year(), 12, 31)),
    ] {
        if !positions(chars, word).is_empty() {
            return day;
        }
    }
    // A month and perhaps a day without a year: the next one to come, or next year's.
    for i in positions(chars, "月") {
        let Some((month, start)) = number_before(chars, i) else {
            continue;
        };
        if !(1..=12).contains(&month) {
            continue;
        }
        let next_year = start >= 2 && chars[start - 2..start] == ['明', '年'];
        let day = number_before(
            chars,
            chars[i + 1..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(chars.len(), |p| i + 1 + p),
        )
        .filter(|(_, s)| *s == i + 1)
        .map(|(d, _)| d);
        let on = |year: i32| match day {
            Some(d) => NaiveDate::from_ymd_opt(year, month, d),
            None => month_end(year, month),
        };
        if next_year {
            return on(today.year() + 1);
        }
        return match on(today.year()) {
            Some(d) if d >= today => Some(d),
            _ => on(today.year() + 1),
        };
    }
    None
}

/// The date's words in the original text: from its first digit or relative word to where
/// date characters end.
fn without_date(text: &str) -> (String, String) {
    const RELATIVE: [&str; 6] = ["下个月底", "下月底", "本月底", "明年", "今年底", "年底"];
    let starts: Vec<usize> = RELATIVE
        .iter()
        .filter_map(|w| text.find(w))
        .chain(text.find(|c: char| c.is_ascii_digit() || ('０'..='９').contains(&c)))
        .collect();
    let Some(start) = starts.into_iter().min() else {
        return (text.to_string(), String::new());
    };
    let date_char = |c: char| {
        c.is_ascii_digit()
            || ('０'..='９').contains(&c)
            || "年月日号底前中旬上下半季度第一二三四明今本个-/.".contains(c)
    };
    let end = text[start..]
        .char_indices()
        .find(|(_, c)| !date_char(*c))
        .map_or(text.len(), |(i, _)| start + i);
    (text[..start].to_string(), text[end..].to_string())
}

/// The words that remain once `keyword` and what is not content are taken off: a reason.
fn remainder(text: &str) -> Option<String> {
    let trimmed = text.trim_matches(|c: char| {
        c.is_whitespace()
            || is_boundary(c)
            || matches!(c, ':' | '：' | '至' | '到' | '为' | '(' | ')' | '（' | '）')
    });
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// The original text with the first of `words` taken off where it stands.
fn strip_first(original: &str, words: &[&str]) -> Option<String> {
    let lower = original.to_lowercase();
    let (at, word) = words
        .iter()
        .filter_map(|w| lower.find(w).map(|i| (i, *w)))
        .min_by_key(|(i, w)| (*i, std::cmp::Reverse(w.len())))?;
    if !lower.is_char_boundary(at) || !original.is_char_boundary(at + word.len()) {
        return None;
    }
    Some(format!(
        "{}{}",
        &original[..at],
        &original[at + word.len()..]
    ))
}

/// An extension, when one is asked for.
fn extension(p: &Prepared, ctx: &ReplyContext<'_>) -> Option<Result<Reading, ReplyError>> {
    let strong = [ZH.extension, EN.extension].concat();
    let weak = [ZH.extension_weak, EN.extension_weak].concat();
    // "不延期", "无需延期": no request; "能不能延期" still is one.
    let declined = |i: usize| {
        let from = i.saturating_sub(3);
        let window: String = p.tight[from..i].iter().collect();
        ["不", "无需", "不用", "无须", "不需要", "不申请"]
            .iter()
            .any(|w| window.ends_with(w))
            && !window.ends_with("能不")
    };
    let asked = strong.iter().any(|w| {
        if is_latin(w) {
            !latin_positions(&p.spaced, w).is_empty()
        } else {
            positions(&p.tight, w).into_iter().any(|i| !declined(i))
        }
    });
    let date = find_date(p, ctx.today);
    // 推迟 asks for time when a date follows, or when it is wanted ("要推迟一段时间"); "工期
    // 推迟了" only reports.
    let wanted_later = weak.iter().filter(|w| !is_latin(w)).any(|w| {
        positions(&p.tight, w).into_iter().any(|i| {
            let after: String = p.tight[i + w.chars().count()..].iter().take(3).collect();
            before(&p.tight, i, &["要", "需要", "申请", "想", "需", "准备"], 3)
                || after.starts_with("一段")
                || after.starts_with("时间")
        })
    });
    let weakly = holds(p, &weak) && (date.is_some() || wanted_later);
    if !asked && !weakly {
        return None;
    }
    let Some(until) = date else {
        return Some(Err(ReplyError::ExtensionWithoutDate));
    };
    // The reason: what follows the date, else what comes before the request.
    let text = arabic(&p.original);
    let all: Vec<&str> = strong.iter().chain(weak.iter()).copied().collect();
    let lower = text.to_lowercase();
    let keyword = all
        .iter()
        .filter_map(|w| lower.find(w).map(|i| (i, w.len())))
        .min_by_key(|(i, len)| (*i, std::cmp::Reverse(*len)));
    let (head, after_keyword) = match keyword {
        Some((i, len)) if text.is_char_boundary(i) && text.is_char_boundary(i + len) => {
            (text[..i].to_string(), text[i + len..].to_string())
        }
        _ => (String::new(), text.clone()),
    };
    let (_, tail) = without_date(&after_keyword);
    let empty = |r: &str| {
        let r = r.trim_matches(|c: char| c.is_whitespace() || is_boundary(c));
        r.is_empty() || ["完成", "前完成", "为止", "止", "前"].contains(&r)
    };
    let cleaned = |r: &str| -> Option<String> {
        let r = remainder(r)?;
        let r = r
            // house-style: data (separators people type)
            .trim_start_matches(|c: char| "原因是由于因为理由：:".contains(c))
            .trim_end_matches(['，', ',', '。'])
            .trim();
        let r = [
            "申请将完成",
            "申请将",
            "申请",
            "需要",
            "需",
            "恳请",
            "请",
            "想",
            "要",
        ]
        .iter()
        .fold(r.to_string(), |r, w| r.trim_end_matches(w).to_string());
        let r = r.trim_matches(|c: char| c.is_whitespace() || is_boundary(c));
        (!r.is_empty()).then(|| r.to_string())
    };
    let reason = if empty(&tail) {
        cleaned(&head)
    } else {
        cleaned(&tail)
    };
    Some(Reading::clear(Intent::Extend { until, reason }))
}

/// A call for coordination, when the reply makes one: by a word of its own (需协调), or, with
/// `pairs`, by asking someone for support (需要发改局支持).
fn blocked(p: &Prepared, pairs: bool) -> Option<Result<Reading, ReplyError>> {
    let overcome = ["克服", "解决了", "没有", "没", "无", "不存在"];
    let mut found = false;
    for lexicon in [&ZH, &EN] {
        for w in lexicon.blocked {
            if is_latin(w) {
                found |= !latin_positions(&p.spaced, w).is_empty();
            } else {
                found |= positions(&p.tight, w)
                    .into_iter()
                    .any(|i| !before(&p.tight, i, &overcome, 3));
            }
        }
        let (starts, ends) = lexicon.blocked_pair;
        for start in starts.iter().filter(|_| pairs) {
            if is_latin(start) {
                for i in latin_positions(&p.spaced, start) {
                    let window: String = p.spaced[i..].chars().take(40).collect();
                    found |= ends.iter().any(|e| window.contains(e));
                }
                continue;
            }
            for i in positions(&p.tight, start) {
                // 请 in 申请 or 请问 asks nobody for help.
                let next = p.tight.get(i + start.chars().count());
                if *start == "请" && (i > 0 && p.tight[i - 1] == '申' || next == Some(&'问')) {
                    continue;
                }
                let end = clause_end(&p.tight, i).min(i + start.chars().count() + 16);
                let window: String = p.tight[i..end].iter().collect();
                found |= ends.iter().any(|e| window[start.len()..].contains(e));
            }
        }
    }
    if !found {
        return None;
    }
    // A keyword at the start (or the end) gives way to the reason; otherwise all of it is.
    let keywords: Vec<&str> = [ZH.blocked, EN.blocked].concat();
    let lower = p.original.to_lowercase();
    let reason = keywords
        .iter()
        .filter(|w| lower.starts_with(*w) || lower.ends_with(*w))
        .max_by_key(|w| w.len())
        .and_then(|w| strip_first(&p.original, &[w]))
        .map_or_else(|| remainder(&p.original), |r| remainder(&r));
    // Nothing but the call and filler words ("这个需要协调一下") names no matter to settle.
    let fillers = [
        "这个", "那个", "这项", "该项", "本项", "此项", "一下", "需要", "需", "协调", "请", "帮忙",
        "麻烦", "呢", "啊", "吧", "了",
    ];
    let substance: String = fillers
        .iter()
        .fold(p.tight_string(), |text, f| text.replace(f, ""))
        .chars()
        .filter(|c| !is_boundary(*c))
        .collect();
    let reason = reason.filter(|_| !substance.is_empty());
    match reason {
        Some(reason) => Some(Reading::clear(Intent::Blocked { reason })),
        None => Some(Err(ReplyError::BlockedWithoutReason)),
    }
}

/// A reply that opens as a question (请问, 想问 …) and ends as one: a question, whatever it
/// names (延期, 销号).
fn asks_first(p: &Prepared) -> bool {
    let opens = ["请问", "想问", "问一下", "咨询一下"]
        .iter()
        .any(|w| p.tight.starts_with(&w.chars().collect::<Vec<_>>()));
    opens
        && p.tight
            .last()
            .is_some_and(|c| matches!(c, '?' | '吗' | '呢'))
}

/// A question without its mark ("佐证材料上传到哪里"), once nothing else was read.
fn asks_somewhere(p: &Prepared) -> bool {
    let tight = p.tight_string();
    [
        "哪里", "哪儿", "哪些", "怎么", "如何", "谁来", "是否", "能否",
    ]
    .iter()
    .any(|w| tight.contains(w))
        || tight
            .match_indices("什么")
            .any(|(i, _)| !tight[..i].ends_with('没') && !tight[..i].ends_with('不'))
}

/// A question to the office.
fn question(p: &Prepared) -> bool {
    let tight = &p.tight;
    let ends = tight.last().is_some_and(|c| matches!(c, '?' | '吗' | '呢'));
    let starts_zh = [
        "请问",
        "想问",
        "问一下",
        "咨询",
        "能否",
        "能不能",
        "是否",
        "怎么",
        "如何",
    ]
    .iter()
    .any(|w| tight.starts_with(&w.chars().collect::<Vec<_>>()));
    let first_word = p.spaced.split(' ').next().unwrap_or("");
    let starts_en = [
        "how", "what", "who", "when", "where", "which", "can", "could", "should", "is", "are",
        "do", "does",
    ]
    .contains(&first_word);
    ends || starts_zh || starts_en
}

/// What the claims of completion in a reply come to.
enum Completion {
    /// A clear claim.
    Claimed,
    /// Completion said loosely (基本完成): ask.
    Loose,
    /// Completion planned, partial or of a step only: work under way.
    Qualified,
    /// Completion denied (未完成): nothing said of work.
    Denied,
    /// No word of completion.
    None,
}

fn completion(p: &Prepared, ctx: &ReplyContext<'_>) -> Completion {
    let chars = &p.tight;
    let tight = p.tight_string();
    // A claim taken back is no claim (上次说已完成是误报).
    let retracted = ZH.retract.iter().any(|w| tight.contains(w))
        || EN.retract.iter().any(|w| p.spaced.contains(w));
    let mut loose = Vec::new();
    for lexicon in [&ZH, &EN] {
        for w in lexicon.maybe_done {
            if is_latin(w) {
                if !latin_positions(&p.spaced, w).is_empty() && !retracted {
                    return Completion::Loose;
                }
                continue;
            }
            for i in positions(chars, w) {
                loose.push(i..i + w.chars().count());
            }
        }
    }
    // Something left to do, anywhere in the reply (还剩2处未整改), makes every claim partial.
    let left = ["还剩", "尚余", "尚有", "剩余", "剩下"]
        .iter()
        .any(|w| tight.contains(w));
    let mut claims = Vec::new();
    // Chinese words of completion.
    let mut seen: Vec<std::ops::Range<usize>> = Vec::new();
    for w in ZH.done {
        let len = w.chars().count();
        for i in positions(chars, w) {
            let range = i..i + len;
            // A shorter word inside one already read (完成 in 已完成) is the same claim.
            if seen
                .iter()
                .any(|r| r.start <= range.start && range.end <= r.end)
            {
                continue;
            }
            seen.push(range.clone());
            if loose
                .iter()
                .any(|r| r.start < range.end && range.start < r.end)
            {
                claims.push(Completion::Loose);
                continue;
            }
            claims.push(one_claim(p, ctx, range, left));
        }
    }
    // English words of completion.
    for w in EN.done {
        for i in latin_positions(&p.spaced, w) {
            let head = &p.spaced[..i];
            let words: Vec<&str> = head.split(' ').rev().take(4).collect();
            let negated = words
                .iter()
                .any(|x| EN.negation.iter().any(|n| x == n || x.ends_with(n)))
                || p.spaced[i..].contains(" yet");
            let planned = EN.plan.iter().any(|x| head.contains(x));
            let partial = EN.partial.iter().any(|x| p.spaced.contains(x));
            let hedged = EN.hedge.iter().any(|x| head.contains(x));
            claims.push(if planned || partial {
                Completion::Qualified
            } else if negated {
                Completion::Denied
            } else if hedged {
                Completion::Loose
            } else {
                Completion::Claimed
            });
        }
    }
    if claims.is_empty() && !loose.is_empty() && !retracted {
        return Completion::Loose;
    }
    let any = |wanted: fn(&Completion) -> bool| claims.iter().any(wanted);
    if retracted {
        return match any(|c| !matches!(c, Completion::Denied)) || !claims.is_empty() {
            true => Completion::Qualified,
            false => Completion::None,
        };
    }
    if any(|c| matches!(c, Completion::Claimed)) {
        Completion::Claimed
    } else if any(|c| matches!(c, Completion::Loose)) {
        Completion::Loose
    } else if any(|c| matches!(c, Completion::Qualified)) || (left && !claims.is_empty()) {
        Completion::Qualified
    } else if any(|c| matches!(c, Completion::Denied)) {
        Completion::Denied
    } else {
        Completion::None
    }
}

/// What one Chinese word of completion at `range` comes to.
/// Words that begin a new sentence when a reply runs on without punctuation
/// (完成了麻烦帮忙销号): what follows them is no object of the completion.
const NEXT_SENTENCE: &[&str] = &[
    "请",
    "麻烦",
    "烦请",
    "谢谢",
    "辛苦",
    "望",
    "申请",
    "特此",
    "现申请",
    "please",
    "thanks",
];

fn one_claim(
    p: &Prepared,
    ctx: &ReplyContext<'_>,
    range: std::ops::Range<usize>,
    left: bool,
) -> Completion {
    let chars = &p.tight;
    let i = range.start;
    let after: String = chars[range.end..clause_end(chars, range.end)]
        .iter()
        .collect();
    let object = after.trim_start_matches(['了', '的']);
    // Particles end a sentence; they name no step (完成了吧).
    let object = if object.chars().all(|c| "吧啊呢哦呀嘛啦了的".contains(c)) {
        ""
    } else {
        object
    };
    let before_in_clause: String = chars[clause_start(chars, i)..i].iter().collect();
    let clause = format!("{before_in_clause}{after}");
    // 不 in 差不多 denies nothing.
    let near: String = chars[clause_start(chars, i).max(i.saturating_sub(4))..i]
        .iter()
        .collect::<String>()
        .replace("差不多", "");
    let negated = ZH.negation.iter().any(|w| near.contains(w))
        || ZH.negation_after.iter().any(|n| after.starts_with(n));
    let planned = before(chars, i, ZH.plan, 12);
    let noun = ZH.noun_after.iter().any(|w| after.starts_with(w));
    let counted = object.starts_with(|c: char| c.is_ascii_digit());
    let partial = noun || counted || left || ZH.partial.iter().any(|w| clause.contains(w));
    // The measure itself is that step ("已完成招标" on "完成招标工作"): its completion counts.
    let is_the_measure = |step: &str| {
        ctx.measure.is_some_and(|content| {
            content.contains(&format!("完成{step}"))
                || content.chars().count() <= step.chars().count() + 6
        })
    };
    // 已完成X: a claim of the whole only when X is the whole (整改, 全部, 任务 …).
    let specific_object = !object.is_empty()
        && !ZH.whole.iter().any(|w| object.starts_with(w))
        && !object.starts_with(|c: char| is_boundary(c) || c == '，')
        && !NEXT_SENTENCE.iter().any(|w| object.starts_with(w));
    let step_after = ZH
        .sub_steps
        .iter()
        .find(|s| object.contains(*s))
        .is_some_and(|s| !is_the_measure(s));
    let step_before = ZH
        .sub_steps
        .iter()
        .find(|s| before_in_clause.contains(*s))
        .is_some_and(|s| !is_the_measure(s));
    let step = step_after
        || step_before
        || (specific_object
            && ctx.measure.is_none_or(|content| {
                !content.contains(&object.chars().take(2).collect::<String>())
            }));
    let hedged = before(chars, i, ZH.hedge, 6);
    if planned || partial {
        Completion::Qualified
    } else if negated {
        Completion::Denied
    } else if step {
        Completion::Qualified
    } else if hedged {
        Completion::Loose
    } else {
        Completion::Claimed
    }
}

/// Plan words that only name a time (本周, 下周, 明天): they keep "本周完成" from being a claim,
/// but "本周无进展" reports no work.
const WHEN: &[&str] = &["本周", "下周", "明天"];

/// Whether the reply reports work under way (推进中, 已召开, 合同已签 …), not denied (无新进展).
fn reports_work(p: &Prepared) -> bool {
    ZH.progress.iter().any(|w| {
        positions(&p.tight, w)
            .into_iter()
            .any(|i| !before(&p.tight, i, &["无", "没有", "没", "未", "暂无"], 2))
    }) || EN
        .progress
        .iter()
        .any(|w| !latin_positions(&p.spaced, w).is_empty())
        || ZH
            .plan
            .iter()
            .filter(|w| !WHEN.contains(w))
            .any(|w| holds(p, &[w]))
        || EN.plan.iter().any(|w| p.spaced.contains(w))
        || ["一部分", "大部分", "部分", "一半"]
            .iter()
            .any(|w| p.tight_string().contains(w))
}

/// An acknowledgement that says nothing more (好的, 收到, 收到，马上落实, OK).
fn acknowledges(p: &Prepared) -> bool {
    let words: Vec<&str> = [ZH.acknowledge, EN.acknowledge].concat();
    let bare: String = p
        .tight
        .iter()
        .filter(|c| !is_boundary(**c) && !matches!(c, '~' | '!' | '。'))
        .collect();
    let spaced = p.spaced.trim_matches(|c: char| is_boundary(c) || c == '!');
    if words.contains(&bare.as_str()) || words.contains(&spaced) {
        return true;
    }
    // "收到，马上落实": an acknowledgement, then a promise.
    words.iter().filter(|w| !is_latin(w)).any(|w| {
        let w: Vec<char> = w.chars().collect();
        p.tight.starts_with(&w) && p.tight.get(w.len()).is_some_and(|c| is_boundary(*c))
    })
}

/// Whether the reply is no more than a word of completion (已完成。), so that it carries no
/// note of its own.
fn bare_claim(p: &Prepared) -> bool {
    let bare: String = p.tight.iter().filter(|c| !is_boundary(**c)).collect();
    ZH.done.contains(&bare.as_str()) || EN.done.contains(&bare.as_str())
}

/// Reads a reply (its measure code taken off) on `ctx.today`.
pub fn read(text: &str, ctx: &ReplyContext<'_>) -> Result<Reading, ReplyError> {
    let p = Prepared::new(text);
    if p.tight.is_empty() {
        return Err(ReplyError::Empty);
    }
    let original = p.original.clone();
    if let Some((request, text)) = request_answer(&p) {
        return Reading::clear(Intent::Answer { request, text });
    }
    // "请问延期需要走什么程序？" asks about extensions; it asks for none.
    if asks_first(&p) {
        return Reading::clear(Intent::Question { text: original });
    }
    if let Some(reading) = extension(&p, ctx) {
        return reading;
    }
    if let Some(reading) = blocked(&p, false) {
        return reading;
    }
    if question(&p) {
        return Reading::clear(Intent::Question { text: original });
    }
    // A clear claim wins over a polite "麻烦帮忙销号一下".
    let completed = completion(&p, ctx);
    if !matches!(completed, Completion::Claimed)
        && let Some(reading) = blocked(&p, true)
    {
        return reading;
    }
    if let Some(percent) = percent(&p) {
        let negated = before(&p.tight, p.tight.len(), ZH.negation, 0);
        if percent == 100 && !negated {
            return Reading::clear(Intent::Done {
                note: Some(original),
            });
        }
        return Reading::clear(Intent::Progress {
            percent: Some(percent),
            note: original,
        });
    }
    match completed {
        Completion::Claimed => {
            let note = (!bare_claim(&p)).then_some(original);
            return Reading::clear(Intent::Done { note });
        }
        Completion::Loose => {
            return Reading::unclear(Intent::Done {
                note: Some(original),
            });
        }
        Completion::Qualified => {
            return Reading::clear(Intent::Progress {
                percent: None,
                note: original,
            });
        }
        Completion::Denied | Completion::None => {}
    }
    if acknowledges(&p) {
        return Reading::unclear(Intent::Progress {
            percent: None,
            note: original,
        });
    }
    if reports_work(&p) {
        return Reading::clear(Intent::Progress {
            percent: None,
            note: original,
        });
    }
    if asks_somewhere(&p) {
        return Reading::clear(Intent::Question { text: original });
    }
    Reading::clear(Intent::Note(original))
}

/// One line of a reply that answers for several measures ("2-1 已完成\n2-2 60% 合同已签"):
/// the code it starts with, and its words (continued by the lines after it that start with
/// no code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    /// The code the line starts with.
    pub lead: Option<LeadingCode<'a>>,
    /// The whole line as sent, continuation lines included.
    pub text: String,
}

/// Splits a reply into its items: one per line that starts with a code (a line with no code
/// continues the item before it). A reply of one item comes back as it is.
pub fn items(text: &str) -> Vec<Item<'_>> {
    let mut out: Vec<Item<'_>> = Vec::new();
    for line in text
        .split(['\n', '；', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let lead = split_code(line).filter(|l| l.code.contains(['-', '.']) || !l.rest.is_empty());
        match (lead, out.last_mut()) {
            (None, Some(last)) => {
                last.text.push('\n');
                last.text.push_str(line);
            }
            (lead, _) => out.push(Item {
                lead,
                text: line.to_string(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
