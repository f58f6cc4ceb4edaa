//! The language of messages: which language a person reads, how dates and examples are
//! written in it, and a checker for the house style of official Chinese text.
//!
//! Pure: no clock, no environment. Examples that carry a date are computed from the `today`
//! the caller passes, so that an example never shows a day the bot itself would refuse.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// The language of user-facing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// 中文, the default.
    Zh,
    /// English.
    En,
}

impl Language {
    /// The Chinese or the English text, whichever this language reads.
    pub fn pick<T>(self, zh: T, en: T) -> T {
        match self {
            Language::Zh => zh,
            Language::En => en,
        }
    }

    /// Whether this is Chinese.
    pub fn is_zh(self) -> bool {
        self == Language::Zh
    }
}

/// A day as a message writes it: 2024年3月15日 in Chinese, 2024-03-15 in English.
pub fn date(day: NaiveDate, language: Language) -> String {
    match language {
        Language::Zh => format!("{}年{}月{}日", day.year(), day.month(), day.day()),
        Language::En => day.format("%Y-%m-%d").to_string(),
    }
}

/// A stored date (`2024-03-15`) as a message writes it; any other text stays as it is.
pub fn date_text(stored: &str, language: Language) -> String {
    match NaiveDate::parse_from_str(stored, "%Y-%m-%d") {
        Ok(day) => date(day, language),
        Err(_) => stored.to_string(),
    }
}

/// A day with its time, as a message or a listing writes it: 2024年3月15日 09:05, or
/// 2024-03-15 09:05.
pub fn date_time(at: chrono::NaiveDateTime, language: Language) -> String {
    format!("{} {}", date(at.date(), language), at.format("%H:%M"))
}

/// The day an example of an extension uses: the last day of next month, always after
/// `today` and a plausible new deadline.
pub fn example_date(today: NaiveDate) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first
        .checked_add_months(Months::new(2))
        .and_then(|d| d.pred_opt())
        .unwrap_or(today)
}

/// The office's name in `language`, from the configured Chinese and English names.
pub fn office(zh: &str, en: &str, language: Language) -> String {
    language.pick(zh, en).to_string()
}

/// Text as duban keeps it, from a ledger cell or a chat alike: trimmed, without control
/// characters (a NUL byte, for one, which PostgreSQL cannot store; ESC and BEL, which would
/// act on a terminal) and without the marks that reorder how text is shown (the
/// right-to-left override), keeping line breaks and tabs, with `\r\n` read as `\n`.
pub fn clean(text: &str) -> String {
    clean_borrowed(text).into_owned()
}

/// [`clean`], borrowing `text` when it has nothing to drop but surrounding whitespace (most
/// text has none), so that a caller that only looks at it allocates nothing.
pub fn clean_borrowed(text: &str) -> std::borrow::Cow<'_, str> {
    let unwanted = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
    let text = text.trim();
    if !has_unwanted(text.as_bytes()) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.replace("\r\n", "\n")
            .chars()
            .filter(|c| !unwanted(*c))
            .collect::<String>()
            .trim()
            .to_string(),
    )
}

/// Whether UTF-8 `bytes` hold a character [`clean`] drops, found without decoding
/// characters: ASCII controls but line feed and tab; U+0080-U+009F (C2 80-9F); U+061C
/// (D8 9C); U+200E, U+200F, U+202A-U+202E (E2 80 ..); U+2066-U+2069 (E2 81 A6-A9). Blocks
/// of 32 bytes are screened for the bytes such a character starts with, without a branch
/// (in vector instructions); only a block with one is looked at byte by byte.
fn has_unwanted(bytes: &[u8]) -> bool {
    const BLOCK: usize = 32;
    let starts_one = |b: u8| (b < 0x20) | (b == 0x7f) | (b == 0xc2) | (b == 0xd8) | (b == 0xe2);
    for (n, block) in bytes.chunks(BLOCK).enumerate() {
        if !block.iter().fold(false, |any, b| any | starts_one(*b)) {
            continue;
        }
        let start = n * BLOCK;
        if (start..start + block.len()).any(|i| unwanted_at(bytes, i)) {
            return true;
        }
    }
    false
}

/// Whether the character starting at byte `i` of `bytes` is one [`clean`] drops.
fn unwanted_at(bytes: &[u8], i: usize) -> bool {
    let next = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
    match bytes[i] {
        b'\n' | b'\t' => false,
        0x00..=0x1f | 0x7f => true,
        0xc2 => (0x80..=0x9f).contains(&next(1)),
        0xd8 => next(1) == 0x9c,
        0xe2 => match next(1) {
            0x80 => matches!(next(2), 0x8e | 0x8f | 0xaa..=0xae),
            0x81 => (0xa6..=0xa9).contains(&next(2)),
            _ => false,
        },
        _ => false,
    }
}

/// The characters that change the direction text is shown in, or hide it.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Whether `c` is a CJK ideograph or CJK punctuation: the characters official Chinese text
/// is written in.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{303F}'   // CJK symbols and punctuation
        | '\u{3400}'..='\u{4DBF}' // extension A
        | '\u{4E00}'..='\u{9FFF}' // unified ideographs
        | '\u{FF01}'..='\u{FF0F}' // full-width punctuation
        | '\u{FF1A}'..='\u{FF20}'
        | '\u{201C}' | '\u{201D}' // “ ”
        | '\u{2026}'              // …
    )
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}')
}

/// Where a Chinese text breaks the house style (English text keeps ISO dates: check Chinese
/// text only), one line each: ASCII punctuation beside
/// Chinese (，：；（）？！ are written full-width), a space between Chinese and a number, and
/// dates written as 2024-03-15 instead of 2024年3月15日. Measure codes (1-4, R12) keep their
/// space before the words that follow, as people type them. What stands in “quotes” is what a
/// person typed or may type, and stays as it is.
pub fn style_problems(text: &str) -> Vec<String> {
    // Quoted text is blanked out (kept as one neutral character each) before checking.
    let mut depth = 0usize;
    let chars: Vec<char> = text
        .chars()
        .map(|c| match c {
            '“' => {
                depth += 1;
                c
            }
            '”' => {
                depth = depth.saturating_sub(1);
                c
            }
            _ if depth > 0 => '_',
            c => c,
        })
        .collect();
    let mut problems = Vec::new();
    let quote = |i: usize| -> String {
        let from = i.saturating_sub(8);
        let to = (i + 9).min(chars.len());
        chars[from..to].iter().collect()
    };
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        if ",:;?!()".contains(c) {
            let beside_chinese = before.is_some_and(is_cjk) || after.is_some_and(is_cjk);
            // "(一)" numbering and "）" are fine; an ASCII bracket beside Chinese is not.
            if beside_chinese {
                problems.push(format!("ASCII {c:?} beside Chinese: …{}…", quote(i)));
            }
        }
        if c == ' ' {
            let (Some(b), Some(a)) = (before, after) else {
                continue;
            };
            let number_then_han = b.is_ascii_digit() && is_han(a);
            let han_then_number = is_han(b) && a.is_ascii_digit();
            if !(number_then_han || han_then_number) {
                continue;
            }
            // The token of letters, digits, '-' and '.' next to the space.
            let token: String = if number_then_han {
                let start = chars[..i]
                    .iter()
                    .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.')))
                    .map_or(0, |p| p + 1);
                chars[start..i].iter().collect()
            } else {
                chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
                    .collect()
            };
            let is_code = token.contains('-')
                || token.starts_with(['R', 'r'])
                || token.chars().filter(|c| *c == '.').count() == 1 && !token.ends_with('.');
            if !is_code {
                problems.push(format!(
                    "space between Chinese and a number: …{}…",
                    quote(i)
                ));
            }
        }
    }
    // ISO dates: four digits, '-', one or two, '-', one or two.
    let mut i = 0;
    while i + 8 <= chars.len() {
        let digits = |from: usize, n: usize| {
            from + n <= chars.len() && chars[from..from + n].iter().all(char::is_ascii_digit)
        };
        let starts_token = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if starts_token && digits(i, 4) && chars.get(i + 4) == Some(&'-') {
            let month_len = if digits(i + 5, 2) { 2 } else { 1 };
            if digits(i + 5, month_len) && chars.get(i + 5 + month_len) == Some(&'-') {
                let day_at = i + 6 + month_len;
                if digits(day_at, 1) {
                    problems.push(format!("a date written as YYYY-MM-DD: …{}…", quote(i)));
                    i = day_at;
                    continue;
                }
            }
        }
        i += 1;
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_in_each_language() {
        for (d, zh, en) in [
            (day(2024, 3, 15), "2024年3月15日", "2024-03-15"),
            (day(2026, 12, 1), "2026年12月1日", "2026-12-01"),
        ] {
            assert_eq!(date(d, Language::Zh), zh);
            assert_eq!(date(d, Language::En), en);
        }
    }

    #[test]
    fn examples_fall_after_today() {
        for (today, example) in [
            (day(2026, 11, 30), day(2026, 12, 31)),
            (day(2026, 12, 1), day(2027, 1, 31)),
            (day(2027, 1, 31), day(2027, 2, 28)),
            (day(2028, 1, 15), day(2028, 2, 29)),
            (day(2024, 12, 31), day(2025, 1, 31)),
        ] {
            assert_eq!(example_date(today), example, "{today}");
            assert!(example_date(today) > today);
        }
    }

    #[test]
    fn text_is_cleaned_alike_from_files_and_chats() {
        for (raw, kept) in [
            (" 措施\u{0}一\r\n第二行\u{7} ", "措施一\n第二行"),
            ("a\tb", "a\tb"),
            ("进展\u{1b}[2J x", "进展[2J x"),
            ("\u{202e}txt.exe 已完成", "txt.exe 已完成"),
            ("已完成", "已完成"),
        ] {
            assert_eq!(clean(raw), kept, "{raw:?}");
            let borrowed = clean_borrowed(raw);
            assert_eq!(borrowed, kept, "{raw:?}");
            // Only text that loses more than its surrounding whitespace is copied.
            let copied = matches!(borrowed, std::borrow::Cow::Owned(_));
            assert_eq!(copied, raw.trim() != kept, "{raw:?}");
        }
    }

    #[test]
    fn every_character_cleaning_drops_is_found() {
        let mut text = String::new();
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            text.clear();
            text.push('甲');
            text.push(c);
            text.push('乙');
            let dropped = (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
            let kept = clean_borrowed(&text);
            assert_eq!(kept.chars().count(), if dropped { 2 } else { 3 }, "{c:?}");
            // Text with nothing to drop is looked at, not copied.
            assert_eq!(matches!(kept, std::borrow::Cow::Owned(_)), dropped, "{c:?}");
        }
    }

    #[test]
    fn the_house_style() {
        for good in [
            "逾期3个工作日（通报）",
            "回复本消息，如“1-4 已完成”“1-4 延期至2027年1月31日 原因”。",
            "R12 已答复",
            "2.3 已完成",
            "时间：09:00",
            "完成率 62.5%",
        ] {
            assert_eq!(style_problems(good), Vec::<String>::new(), "{good}");
        }
        for (bad, what) in [
            ("已完成,请核验", "ASCII ','"),
            ("状态:推进中", "ASCII ':'"),
            ("立行立改(5个工作日)", "ASCII '('"),
            ("逾期 3 个工作日", "space between"),
            ("共 66 项", "space between"),
            ("时限 2024-06-30", "YYYY-MM-DD"),
        ] {
            let found = style_problems(bad);
            assert!(found.iter().any(|p| p.contains(what)), "{bad}: {found:?}");
        }
    }
}
