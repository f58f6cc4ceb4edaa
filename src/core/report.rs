//! Views of the assessed ledger: JSON rows, a readable table, and per-unit summaries.
//!
//! Pure: it takes measures and their assessments and returns values or text.

use std::collections::BTreeMap;

use serde::Serialize;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::core::ledger::{Measure, Status};
use crate::core::rules::{Assessment, Colour, Reason, Tier};
use crate::core::text::Language;

/// A measure with its assessment, as `duban measures --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureRow {
    /// 序号.
    pub code: String,
    /// 整改措施.
    pub content: String,
    /// 方面.
    pub aspect: Option<String>,
    /// 问题.
    pub problem: Option<String>,
    /// 整改目标.
    pub target: Option<String>,
    /// 牵头单位.
    pub lead_unit: String,
    /// 责任单位.
    pub units: Vec<String>,
    /// 责任领导, joined with 、; null when none.
    pub leader: Option<String>,
    /// 责任领导, one by one.
    pub leaders: Vec<String>,
    /// The date the ledger gives, `YYYY-MM-DD`, or null.
    pub deadline: Option<String>,
    /// `date`, `immediate` or `long_term`.
    pub deadline_kind: &'static str,
    /// 完成时限 as the ledger wrote it.
    pub deadline_text: String,
    /// A long-term measure's report cycle.
    pub report_cycle: Option<&'static str>,
    /// The effective due date (deadline moved off days off, or the next report), or null.
    pub due: Option<String>,
    /// `not_started`, `in_progress`, `claimed` or `closed`.
    pub status: &'static str,
    /// `green`, `yellow` or `red`.
    pub colour: &'static str,
    /// Why, in words.
    pub colour_reason: String,
    /// Working days left until due, when not yet due.
    pub working_days_left: Option<u32>,
    /// Working days past due; 0 when not overdue.
    pub overdue_days: u32,
    /// The escalation step reached (its key), if any.
    pub escalation: Option<String>,
    /// The latest progress note.
    pub latest_progress: Option<String>,
}

impl MeasureRow {
    /// The row of one assessed measure.
    pub fn new(measure: &Measure, assessment: &Assessment<'_>, language: Language) -> MeasureRow {
        MeasureRow {
            code: measure.code.clone(),
            content: measure.content.clone(),
            aspect: measure.aspect.clone(),
            problem: measure.problem.clone(),
            target: measure.target.clone(),
            lead_unit: measure.lead_unit.clone(),
            units: measure.units.clone(),
            leader: (!measure.leaders.is_empty()).then(|| measure.leaders.join("、")),
            leaders: measure.leaders.clone(),
            deadline: measure
                .deadline
                .date()
                .map(|d| d.format("%Y-%m-%d").to_string()),
            deadline_kind: measure.deadline.kind().code(),
            deadline_text: measure.deadline_text.clone(),
            report_cycle: measure.deadline.cycle().map(|c| c.code()),
            due: assessment.due.map(|d| d.format("%Y-%m-%d").to_string()),
            status: measure.status.code(),
            colour: assessment.colour.code(),
            colour_reason: reason_text(assessment, language),
            working_days_left: match assessment.tier {
                Some(Tier::Upcoming { working_days }) => Some(working_days),
                Some(Tier::DueToday) => Some(0),
                _ => None,
            },
            overdue_days: assessment.overdue_working_days(),
            escalation: assessment.step.map(|s| s.key.clone()),
            latest_progress: measure.latest_progress.clone(),
        }
    }
}

/// The colour's reason in words: 逾期3个工作日, 还剩4个工作日, 已销号…
pub fn reason_text(assessment: &Assessment<'_>, language: Language) -> String {
    let zh = language == Language::Zh;
    let tier = assessment.tier;
    let days = |tier: Option<Tier>| match tier {
        Some(Tier::Upcoming { working_days }) if zh => format!("还剩{working_days}个工作日"),
        Some(Tier::Upcoming { working_days }) => format!("{working_days} working day(s) left"),
        Some(Tier::DueToday) if zh => "今日到期".to_string(),
        Some(Tier::DueToday) => "due today".to_string(),
        Some(Tier::Overdue { working_days, .. }) if zh => format!("逾期{working_days}个工作日"),
        Some(Tier::Overdue { working_days, .. }) => {
            format!("overdue by {working_days} working day(s)")
        }
        None => String::new(),
    };
    let report = |tier: Option<Tier>| match tier {
        Some(Tier::Upcoming { working_days }) if zh => {
            format!("长期坚持，距下次报送还有{working_days}个工作日")
        }
        Some(Tier::DueToday) if zh => "长期坚持，今日须报送进展".to_string(),
        Some(Tier::Overdue { working_days, .. }) if zh => {
            format!("长期坚持，本期报送已逾期{working_days}个工作日")
        }
        None if zh => "长期坚持".to_string(),
        tier => format!("long-term, next report: {}", days(tier)),
    };
    let text = match (assessment.reason, zh) {
        (Reason::Closed, true) => "已销号".to_string(),
        (Reason::Closed, false) => "closed".to_string(),
        (Reason::ClaimedInTime, true) => "已申请销号，待核验".to_string(),
        (Reason::ClaimedInTime, false) => "completion claimed, awaiting verification".to_string(),
        (Reason::OnTrack | Reason::DueSoon | Reason::DueToday | Reason::Overdue, _) => days(tier),
        (Reason::ReportOnTrack | Reason::ReportDueSoon, _) => report(tier),
        (Reason::ReportMissing { missed_cycles }, true) => {
            format!("长期坚持，已{missed_cycles}个周期未报送进展")
        }
        (Reason::ReportMissing { missed_cycles }, false) => {
            format!("long-term, no report for {missed_cycles} cycle(s)")
        }
    };
    match assessment.step {
        Some(step) if matches!(assessment.colour, Colour::Red) || step.offset > 0 => {
            if zh || step.label_en.is_empty() {
                format!("{text}（{}）", step.label)
            } else {
                format!("{text} ({})", step.label_en)
            }
        }
        _ => text,
    }
}

/// The status label in the configured language.
pub fn status_label(status: Status, language: Language) -> &'static str {
    match language {
        Language::Zh => status.label_zh(),
        Language::En => status.label_en(),
    }
}

/// Counts per unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnitSummary {
    /// The unit.
    pub name: String,
    /// Measures it leads.
    pub lead: usize,
    /// Measures it leads or shares.
    pub involved: usize,
    /// Of those it leads: closed.
    pub closed: usize,
    /// Of those it leads: claimed and waiting for verification.
    pub claimed: usize,
    /// Of those it leads: in progress.
    pub in_progress: usize,
    /// Of those it leads: not started.
    pub not_started: usize,
    /// Of those it leads: red.
    pub red: usize,
    /// Of those it leads: yellow.
    pub yellow: usize,
    /// Of those it shares but does not lead: red.
    pub red_shared: usize,
    /// Bound liaisons.
    pub liaisons: i64,
}

/// Counts per unit, in the order `units` gives (the ledger's), for every unit named.
pub fn unit_summaries(
    units: &[(String, i64)],
    measures: &[Measure],
    assessments: &[Assessment<'_>],
) -> Vec<UnitSummary> {
    let mut by_name: BTreeMap<&str, UnitSummary> = BTreeMap::new();
    for (name, liaisons) in units {
        by_name.insert(
            name,
            UnitSummary {
                name: name.clone(),
                liaisons: *liaisons,
                ..UnitSummary::default()
            },
        );
    }
    for (m, a) in measures.iter().zip(assessments) {
        if let Some(s) = by_name.get_mut(m.lead_unit.as_str()) {
            s.lead += 1;
            s.involved += 1;
            match m.status {
                Status::Closed => s.closed += 1,
                Status::Claimed => s.claimed += 1,
                Status::InProgress => s.in_progress += 1,
                Status::NotStarted => s.not_started += 1,
            }
            match a.colour {
                Colour::Red => s.red += 1,
                Colour::Yellow => s.yellow += 1,
                Colour::Green => {}
            }
        }
        for unit in m.units.iter().filter(|u| **u != m.lead_unit) {
            if let Some(s) = by_name.get_mut(unit.as_str()) {
                s.involved += 1;
                if a.colour == Colour::Red {
                    s.red_shared += 1;
                }
            }
        }
    }
    units
        .iter()
        .filter_map(|(name, _)| by_name.remove(name.as_str()))
        .collect()
}

/// Pads or cuts `text` to `width` terminal columns, counting CJK characters as two.
pub fn fit(text: &str, width: usize) -> String {
    let text: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if text.width() <= width {
        let pad = width - text.width();
        return format!("{text}{}", " ".repeat(pad));
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    used += 1;
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}

/// The measures as a readable table, one line each, in the order given. With
/// `colour_codes`, the light is painted with ANSI colours.
pub fn measure_table(
    rows: &[(&Measure, &Assessment<'_>)],
    language: Language,
    colour_codes: bool,
) -> String {
    let zh = language == Language::Zh;
    let headers: [&str; 7] = if zh {
        [
            "序号",
            "灯",
            "状态",
            "完成时限",
            "说明",
            "牵头单位",
            "整改措施",
        ]
    } else {
        [
            "code",
            "light",
            "status",
            "deadline",
            "note",
            "lead unit",
            "measure",
        ]
    };
    const WIDTHS: [usize; 6] = [7, 8, 10, 16, 36, 16];
    let mut out = String::new();
    for (i, h) in headers.iter().enumerate() {
        match WIDTHS.get(i) {
            Some(w) => {
                out.push_str(&fit(h, *w));
                out.push_str("  ");
            }
            None => out.push_str(h),
        }
    }
    out.push('\n');
    for (m, a) in rows {
        let word = if zh {
            a.colour.label_zh()
        } else {
            a.colour.code()
        };
        let light = fit(&format!("● {word}"), WIDTHS[1]);
        let light = if colour_codes {
            let code = match a.colour {
                Colour::Red => "31",
                Colour::Yellow => "33",
                Colour::Green => "32",
            };
            format!("\x1b[{code}m{light}\x1b[0m")
        } else {
            light
        };
        let deadline = m.deadline.date().map_or_else(
            || m.deadline_text.clone(),
            |d| crate::core::text::date(d, language),
        );
        let cells = [
            fit(&m.code, WIDTHS[0]),
            light,
            fit(status_label(m.status, language), WIDTHS[2]),
            fit(&deadline, WIDTHS[3]),
            fit(&reason_text(a, language), WIDTHS[4]),
            fit(&m.lead_unit, WIDTHS[5]),
            fit(&m.content, 40).trim_end().to_string(),
        ];
        out.push_str(&cells.join("  "));
        out.push('\n');
    }
    out
}

/// Where a change came from, in words.
pub fn source_label(source: crate::core::ledger::Source, language: Language) -> &'static str {
    match (source, language) {
        (crate::core::ledger::Source::Import, Language::Zh) => "导入",
        (crate::core::ledger::Source::Cli, Language::Zh) => "命令行",
        (crate::core::ledger::Source::Chat, Language::Zh) => "聊天",
        (crate::core::ledger::Source::Import, Language::En) => "import",
        (crate::core::ledger::Source::Cli, Language::En) => "cli",
        (crate::core::ledger::Source::Chat, Language::En) => "chat",
        (crate::core::ledger::Source::Web, Language::Zh) => "网页",
        (crate::core::ledger::Source::Web, Language::En) => "web",
        (crate::core::ledger::Source::System, Language::Zh) => "系统",
        (crate::core::ledger::Source::System, Language::En) => "duban",
    }
}

/// A kind of history entry in words.
pub fn history_kind_label(kind: &str, language: Language) -> String {
    let (zh, en) = match kind {
        "created" => ("新建", "created"),
        "status" => ("状态变更", "status changed"),
        "edit" => ("导入修改", "edited by import"),
        "note" => ("报送进展", "progress reported"),
        "flag" => ("申请协调", "coordination asked"),
        "extension" => ("申请延期", "extension asked"),
        "deadline" => ("调整时限", "deadline moved"),
        "evidence" => ("佐证材料", "evidence"),
        "step" => ("督办阶梯", "escalation step"),
        "recheck" => ("回头看", "re-checked"),
        "progress" => ("进展记录", "progress note"),
        other => (other, other),
    };
    language.pick(zh, en).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_counts_wide_characters() {
        assert_eq!(fit("经济发展局", 12), "经济发展局  ");
        assert_eq!(fit("经济发展局", 6), "经济… ");
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
    }
}
