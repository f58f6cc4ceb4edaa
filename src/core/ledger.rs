//! The ledger (工作台账): aspects, problems, measures, units, people and their history.
//!
//! These are plain domain types. They know nothing of databases or chat: the store maps rows
//! to them, the rule engine reads them, the channels render them. Overdue is never stored;
//! it is computed from the deadline by [`crate::core::rules`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub mod parse;

/// Where a measure stands in the close-out workflow.
///
/// 未启动 → 推进中 → 申请销号 → 已销号. A rejected claim goes back to 推进中.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 未启动: nothing reported yet.
    NotStarted,
    /// 推进中: work is under way.
    InProgress,
    /// 申请销号: the unit says it is done; the office has to verify.
    Claimed,
    /// 已销号: verified and closed by the office.
    Closed,
}

impl Status {
    /// Every status, in workflow order.
    pub const ALL: [Status; 4] = [
        Status::NotStarted,
        Status::InProgress,
        Status::Claimed,
        Status::Closed,
    ];

    /// The stable code used in the database, JSON and the CLI.
    pub fn code(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::InProgress => "in_progress",
            Status::Claimed => "claimed",
            Status::Closed => "closed",
        }
    }

    /// The Chinese label offices write in their ledgers.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::NotStarted => "未启动",
            Status::InProgress => "推进中",
            Status::Claimed => "申请销号",
            Status::Closed => "已销号",
        }
    }

    /// The English label.
    pub fn label_en(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::InProgress => "in progress",
            Status::Claimed => "completion claimed",
            Status::Closed => "closed",
        }
    }

    /// Whether the measure still needs work or verification.
    pub fn is_open(self) -> bool {
        self != Status::Closed
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A status text that is not one of the known statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status {0:?}: use not_started, in_progress, claimed or closed (未启动, 推进中, 申请销号, 已销号)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    /// Reads a status code or label, in English or Chinese, including the words ledgers use.
    fn from_str(text: &str) -> Result<Status, UnknownStatus> {
        parse::status(text)?.ok_or_else(|| UnknownStatus(text.to_string()))
    }
}

/// How often a long-term measure reports (报送周期).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportCycle {
    /// 每周.
    Week,
    /// 每月.
    Month,
    /// 每季度.
    Quarter,
    /// 每半年.
    HalfYear,
    /// 每年.
    Year,
}

impl ReportCycle {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ReportCycle::Week => "week",
            ReportCycle::Month => "month",
            ReportCycle::Quarter => "quarter",
            ReportCycle::HalfYear => "half_year",
            ReportCycle::Year => "year",
        }
    }

    /// The Chinese label, as in 长期坚持(每月报送).
    pub fn label_zh(self) -> &'static str {
        match self {
            ReportCycle::Week => "每周",
            ReportCycle::Month => "每月",
            ReportCycle::Quarter => "每季度",
            ReportCycle::HalfYear => "每半年",
            ReportCycle::Year => "每年",
        }
    }

    /// Reads a stable code.
    pub fn from_code(code: &str) -> Option<ReportCycle> {
        [
            ReportCycle::Week,
            ReportCycle::Month,
            ReportCycle::Quarter,
            ReportCycle::HalfYear,
            ReportCycle::Year,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

/// A measure's deadline (完成时限).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deadline {
    /// A calendar date.
    Date(NaiveDate),
    /// 立行立改: at once, optionally with a date written beside it.
    Immediate(Option<NaiveDate>),
    /// 长期坚持 / 持续推进: no end date; reports are due every cycle (the configured one when
    /// the ledger names none).
    LongTerm(Option<ReportCycle>),
}

/// The three kinds of deadline, as JSON and the database name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// A calendar date.
    Date,
    /// 立行立改.
    Immediate,
    /// 长期坚持 / 持续推进.
    LongTerm,
}

impl DeadlineKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            DeadlineKind::Date => "date",
            DeadlineKind::Immediate => "immediate",
            DeadlineKind::LongTerm => "long_term",
        }
    }

    /// Reads a stable code.
    pub fn from_code(code: &str) -> Option<DeadlineKind> {
        match code {
            "date" => Some(DeadlineKind::Date),
            "immediate" => Some(DeadlineKind::Immediate),
            "long_term" => Some(DeadlineKind::LongTerm),
            _ => None,
        }
    }
}

impl Deadline {
    /// The kind of deadline.
    pub fn kind(&self) -> DeadlineKind {
        match self {
            Deadline::Date(_) => DeadlineKind::Date,
            Deadline::Immediate(_) => DeadlineKind::Immediate,
            Deadline::LongTerm(_) => DeadlineKind::LongTerm,
        }
    }

    /// The date written in the ledger, if any.
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Deadline::Date(d) => Some(*d),
            Deadline::Immediate(d) => *d,
            Deadline::LongTerm(_) => None,
        }
    }

    /// The report cycle written in the ledger, if any.
    pub fn cycle(&self) -> Option<ReportCycle> {
        match self {
            Deadline::LongTerm(c) => *c,
            _ => None,
        }
    }

    /// Rebuilds a deadline from its stored parts.
    pub fn from_parts(
        kind: DeadlineKind,
        date: Option<NaiveDate>,
        cycle: Option<ReportCycle>,
    ) -> Option<Deadline> {
        match kind {
            DeadlineKind::Date => date.map(Deadline::Date),
            DeadlineKind::Immediate => Some(Deadline::Immediate(date)),
            DeadlineKind::LongTerm => Some(Deadline::LongTerm(cycle)),
        }
    }

    /// The deadline as a message writes it: 2024年3月15日, 立行立改（2024年3月8日）, 长期坚持.
    pub fn describe(&self, language: crate::core::text::Language) -> String {
        use crate::core::text::{Language, date};
        match (self, language) {
            (Deadline::Date(d), _) => date(*d, language),
            (Deadline::Immediate(None), Language::Zh) => "立行立改".to_string(),
            (Deadline::Immediate(None), Language::En) => "immediate".to_string(),
            (Deadline::Immediate(Some(d)), Language::Zh) => {
                format!("立行立改（{}）", date(*d, language))
            }
            (Deadline::Immediate(Some(d)), Language::En) => format!("immediate ({d})"),
            (Deadline::LongTerm(None), Language::Zh) => "长期坚持".to_string(),
            (Deadline::LongTerm(None), Language::En) => "long-term".to_string(),
            (Deadline::LongTerm(Some(c)), Language::Zh) => {
                format!("长期坚持（{}报送）", c.label_zh())
            }
            (Deadline::LongTerm(Some(c)), Language::En) => {
                format!("long-term (reports {})", c.code())
            }
        }
    }

    /// The deadline written the way a ledger cell shows it: a date as `2023-12-31`,
    /// `立行立改`, `立行立改 2023-09-30`, `长期坚持` or `长期坚持(每季度报送)`.
    /// [`parse::deadline`] reads every one of these back.
    pub fn to_cell_text(&self) -> String {
        match self {
            Deadline::Date(d) => d.format("%Y-%m-%d").to_string(),
            Deadline::Immediate(None) => "立行立改".to_string(),
            Deadline::Immediate(Some(d)) => format!("立行立改 {}", d.format("%Y-%m-%d")),
            Deadline::LongTerm(None) => "长期坚持".to_string(),
            // house-style: data (the cell as ledgers write it)
            Deadline::LongTerm(Some(c)) => format!("长期坚持({}报送)", c.label_zh()),
        }
    }
}

/// A rectification measure (整改措施): one line of the task list.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// 序号: the code the ledger gives it, unique, such as `1-3`.
    pub code: String,
    /// 方面: the aspect its problem belongs to.
    pub aspect: Option<String>,
    /// 问题: the problem it fixes.
    pub problem: Option<String>,
    /// 整改措施: what is to be done.
    pub content: String,
    /// 整改目标: what counts as done.
    pub target: Option<String>,
    /// 牵头单位: the unit that leads.
    pub lead_unit: String,
    /// 责任单位: the units responsible, as the ledger lists them.
    pub units: Vec<String>,
    /// 责任领导: the responsible leaders.
    pub leaders: Vec<String>,
    /// 完成时限.
    pub deadline: Deadline,
    /// The deadline exactly as the ledger wrote it.
    pub deadline_text: String,
    /// 状态.
    pub status: Status,
    /// When the measure entered duban.
    pub created_at: DateTime<Utc>,
    /// When the latest progress note came in (整改进展), if any.
    pub last_report_at: Option<DateTime<Utc>>,
    /// When the current completion claim was made, if the status is `claimed` or `closed`.
    pub claimed_at: Option<DateTime<Utc>>,
    /// The latest progress note's text.
    pub latest_progress: Option<String>,
}

impl Measure {
    /// Whether `unit` leads this measure or is one of its responsible units.
    pub fn involves(&self, unit: &str) -> bool {
        self.lead_unit == unit || self.units.iter().any(|u| u == unit)
    }
}

/// A unit (单位): a department, bureau or company of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// Its name as the ledger spells it.
    pub name: String,
}

/// The part a person plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 联络员: answers for a unit.
    Liaison,
    /// 责任领导 or leadership: reads, is copied on escalations and digests.
    Leader,
    /// 整改办 / 工作专班: the supervision office.
    Office,
    /// 单位主要负责人: the head of a unit, whom 督办 reaches.
    Head,
}

impl Role {
    /// Whether the role belongs to a unit of the ledger (a liaison, a unit head) rather than
    /// a place.
    pub fn has_unit(self) -> bool {
        matches!(self, Role::Liaison | Role::Head)
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Role::Liaison => "liaison",
            Role::Leader => "leader",
            Role::Office => "office",
            Role::Head => "head",
        }
    }

    /// Reads a stable code.
    pub fn from_code(code: &str) -> Option<Role> {
        match code {
            "liaison" => Some(Role::Liaison),
            "leader" => Some(Role::Leader),
            "office" => Some(Role::Office),
            "head" => Some(Role::Head),
            _ => None,
        }
    }
}

/// A person duban knows: a liaison, a leader or an office member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// Their name.
    pub name: String,
    /// The unit they answer for or sit in.
    pub unit: Option<String>,
    /// Their role.
    pub role: Role,
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A ledger import.
    Import,
    /// The admin command line.
    Cli,
    /// A chat reply.
    Chat,
    /// The web workbench.
    Web,
    /// duban itself: a step of the escalation ladder reached.
    System,
}

impl Source {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Source::Import => "import",
            Source::Cli => "cli",
            Source::Chat => "chat",
            Source::Web => "web",
            Source::System => "system",
        }
    }

    /// Reads a stable code.
    pub fn from_code(code: &str) -> Option<Source> {
        match code {
            "import" => Some(Source::Import),
            "cli" => Some(Source::Cli),
            "chat" => Some(Source::Chat),
            "web" => Some(Source::Web),
            "system" => Some(Source::System),
            _ => None,
        }
    }
}

/// One entry of a measure's history: a status change, or an edit by a re-import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened: `created`, `status`, `edit`, `note`, `flag`, `extension` (asked),
    /// `deadline` (moved), `evidence`.
    pub kind: String,
    /// Who did it.
    pub actor: String,
    /// Where it came from.
    pub source: Source,
    /// The status before; `None` when the measure was created.
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// What was said or changed.
    pub note: Option<String>,
    /// For a change from a chat: the unit the person answered for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// For a change from a chat: the chat, by address (`telegram:7001`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<crate::core::chat::Address>,
    /// For a moved deadline: the old value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// For a moved deadline: the new value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// A progress note (整改进展) on a measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressNote {
    /// When it came in.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub author: String,
    /// Where it came from.
    pub source: Source,
    /// The text.
    pub body: String,
}

/// One data row of a ledger file, read and checked: what an import writes.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerLine {
    /// The row number in the sheet, counted from 1 as spreadsheets show it.
    pub row: u32,
    /// 序号.
    pub code: String,
    /// 方面.
    pub aspect: Option<String>,
    /// 问题.
    pub problem: Option<String>,
    /// 整改措施.
    pub content: String,
    /// 整改目标.
    pub target: Option<String>,
    /// 责任领导.
    pub leaders: Vec<String>,
    /// 牵头单位.
    pub lead_unit: String,
    /// 责任单位.
    pub units: Vec<String>,
    /// 完成时限, read.
    pub deadline: Deadline,
    /// 完成时限, as written.
    pub deadline_text: String,
    /// 整改进展.
    pub progress: Option<String>,
    /// 状态, when the row gives one.
    pub status: Option<Status>,
}

impl LedgerLine {
    /// A fingerprint of what the ledger says about the measure, apart from its status and
    /// progress: a re-import compares it ([`LedgerLine::has_fingerprint`]) to find measures
    /// the office edited. XXH3 (64 bits, a published algorithm, so that it stays the same
    /// across Rust releases) over [`LedgerLine::fingerprint_bytes`], written `x3:` and 16
    /// hex digits. Releases before stored FNV-1a over the same bytes, a byte at a time: on
    /// a 100,000-measure import it was 3.1 % of all samples (perf), XXH3 is 0.3 %.
    pub fn fingerprint(&self) -> String {
        let hash = self.xxh3_fingerprint();
        // Written digit by digit: `format!` took as long as the hash (callgrind).
        let mut out = String::with_capacity(XXH3_MARK.len() + 16);
        out.push_str(XXH3_MARK);
        for shift in (0..16).rev() {
            let nibble = (hash >> (shift * 4)) & 0xf;
            out.push(char::from(b"0123456789abcdef"[nibble as usize]));
        }
        out
    }

    /// The fingerprint as releases before wrote it: FNV-1a, 16 hex digits. Kept to read
    /// what they stored.
    pub fn fnv_fingerprint(&self) -> String {
        format!("{:016x}", self.fnv_hash())
    }

    /// Whether `stored`, a fingerprint as this release or one before wrote it, is this
    /// line's.
    pub fn has_fingerprint(&self, stored: &str) -> bool {
        let (hex, xxh3) = match stored.strip_prefix(XXH3_MARK) {
            Some(hex) => (hex, true),
            None => (stored, false),
        };
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let Ok(value) = u64::from_str_radix(hex, 16) else {
            return false;
        };
        value
            == if xxh3 {
                self.xxh3_fingerprint()
            } else {
                self.fnv_hash()
            }
    }

    fn xxh3_fingerprint(&self) -> u64 {
        // Gathered, then hashed at once: the streaming hasher took longer over the two dozen
        // short parts than copying them (callgrind, 20,000 lines: 2,600 instructions a line
        // with the date formatted by chrono, 1,040 now).
        let mut bytes = Vec::with_capacity(512);
        self.fingerprint_bytes(|part| bytes.extend_from_slice(part));
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    fn fnv_hash(&self) -> u64 {
        let mut hash = FNV_OFFSET;
        self.fingerprint_bytes(|bytes| hash = fnv1a_more(hash, bytes));
        hash
    }

    /// Hands `feed` the bytes a fingerprint is taken over, in order: 方面, 问题, 整改措施,
    /// 整改目标, the leaders, the lead unit, the units, the deadline's kind, date and report
    /// cycle. Each part ends in 0x1f; the names of a list are joined by 0x1e.
    fn fingerprint_bytes(&self, mut feed: impl FnMut(&[u8])) {
        let (digits, spelled);
        let date: &[u8] = match self.deadline.date() {
            None => b"",
            Some(day) => match iso_day_bytes(day) {
                Some(bytes) => {
                    digits = bytes;
                    &digits
                }
                None => {
                    spelled = day.to_string();
                    spelled.as_bytes()
                }
            },
        };
        for text in [
            self.aspect.as_deref().unwrap_or(""),
            self.problem.as_deref().unwrap_or(""),
            &self.content,
            self.target.as_deref().unwrap_or(""),
        ] {
            feed(text.as_bytes());
            feed(&[0x1f]);
        }
        let list = |feed: &mut dyn FnMut(&[u8]), names: &[String]| {
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    feed(&[0x1e]);
                }
                feed(name.as_bytes());
            }
            feed(&[0x1f]);
        };
        list(&mut feed, &self.leaders);
        feed(self.lead_unit.as_bytes());
        feed(&[0x1f]);
        list(&mut feed, &self.units);
        for text in [
            self.deadline.kind().code().as_bytes(),
            date,
            self.deadline
                .cycle()
                .map(ReportCycle::code)
                .unwrap_or("")
                .as_bytes(),
        ] {
            feed(text);
            feed(&[0x1f]);
        }
    }
}

/// A day as the ten bytes of `YYYY-MM-DD`, as chrono writes it, or None for a year outside
/// 0–9999 (chrono writes those with a sign or a fifth digit). An import writes two for each
/// line, and chrono's formatting took 850 instructions for each (callgrind).
pub fn iso_day_bytes(day: NaiveDate) -> Option<[u8; 10]> {
    use chrono::Datelike;
    let year = u32::try_from(day.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let (month, day) = (day.month(), day.day());
    let digit = |n: u32| b'0' + (n % 10) as u8;
    Some([
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(month / 10),
        digit(month),
        b'-',
        digit(day / 10),
        digit(day),
    ])
}

/// The mark a fingerprint hashed with XXH3 starts with; one without it is FNV-1a.
const XXH3_MARK: &str = "x3:";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, going on from `hash`.
fn fnv1a_more(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust releases, for values that are
/// stored and compared later.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(leaders: &[&str], units: &[&str], deadline: Deadline) -> LedgerLine {
        LedgerLine {
            row: 7,
            code: "1-2".into(),
            aspect: Some("一、政治建设".into()),
            problem: None,
            content: "建立台账，逐项销号".into(),
            target: Some("年底前完成".into()),
            leaders: leaders.iter().map(|s| s.to_string()).collect(),
            lead_unit: "区发改委".into(),
            units: units.iter().map(|s| s.to_string()).collect(),
            deadline,
            deadline_text: "2024年5月底".into(),
            progress: Some("已完成60%".into()),
            status: Some(Status::InProgress),
        }
    }

    /// The bytes a fingerprint is taken over, as the first releases joined them.
    fn joined_bytes(l: &LedgerLine) -> Vec<u8> {
        let date = l.deadline.date().map(|d| d.to_string()).unwrap_or_default();
        let parts = [
            l.aspect.as_deref().unwrap_or(""),
            l.problem.as_deref().unwrap_or(""),
            &l.content,
            l.target.as_deref().unwrap_or(""),
            &l.leaders.join("\u{1e}"),
            &l.lead_unit,
            &l.units.join("\u{1e}"),
            l.deadline.kind().code(),
            &date,
            l.deadline.cycle().map(ReportCycle::code).unwrap_or(""),
        ];
        parts.iter().flat_map(|p| p.bytes().chain([0x1f])).collect()
    }

    /// The fingerprint as the first releases computed it: the parts joined, then hashed.
    fn joined_fingerprint(l: &LedgerLine) -> String {
        format!("{:016x}", fnv1a(joined_bytes(l)))
    }

    #[test]
    fn fingerprints_stay_what_earlier_imports_stored() {
        let may = NaiveDate::from_ymd_opt(2024, 5, 31).unwrap();
        let lines = [
            line(&["张三"], &["区财政局", "区审计局"], Deadline::Date(may)),
            line(&[], &[], Deadline::Immediate(None)),
            line(
                &["张三", "李四"],
                &["区财政局"],
                Deadline::Immediate(Some(may)),
            ),
            line(&["李四"], &[], Deadline::LongTerm(Some(ReportCycle::Month))),
            line(&["李四"], &[""], Deadline::LongTerm(None)),
        ];
        for l in &lines {
            assert_eq!(l.fnv_fingerprint(), joined_fingerprint(l), "{l:?}");
            assert!(l.has_fingerprint(&joined_fingerprint(l)), "{l:?}");
            assert!(l.has_fingerprint(&l.fingerprint()), "{l:?}");
        }
        // Status and progress are not part of it; the units' order is.
        let mut other = lines[0].clone();
        other.status = Some(Status::Closed);
        other.progress = None;
        assert_eq!(other.fingerprint(), lines[0].fingerprint());
        other.units.reverse();
        assert_ne!(other.fingerprint(), lines[0].fingerprint());
        assert!(!other.has_fingerprint(&lines[0].fingerprint()));
        assert!(!other.has_fingerprint(&lines[0].fnv_fingerprint()));
        // Pinned: a measure imported by any earlier release must read as unchanged.
        assert_eq!(lines[0].fnv_fingerprint(), "cbb8614aecef47f5");
        assert!(lines[0].has_fingerprint("cbb8614aecef47f5"));
        // Pinned too: what this release stores is XXH3 over the same bytes (the value the
        // reference implementation, Python's xxhash 3.x, gives for them).
        assert_eq!(lines[0].fingerprint(), "x3:999abee8f00e9db1");
        let joined: Vec<u8> = joined_bytes(&lines[0]);
        assert_eq!(
            lines[0].fingerprint(),
            format!("x3:{:016x}", xxhash_rust::xxh3::xxh3_64(&joined))
        );
        // Anything else stored reads as another fingerprint, never as a match or a panic.
        for odd in [
            "",
            "x3:",
            "x3:zz",
            "CBB8614AECEF47F5x",
            "+bb8614aecef47f5",
            "x3:+4ad8b6f3f5c0d9e",
        ] {
            assert!(!lines[0].has_fingerprint(odd), "{odd:?}");
        }
    }
}
