//! The leadership digest (每日督办简报): one message a day with the totals, the completion
//! rate, the lights and their change since the last digest, the measures named (通报: red
//! and at a step of the ladder that names them) by lead unit, what closed today, units that
//! let reminders go unanswered, people the bot cannot reach, and requests under the response
//! rule; and the bars of its chart.
//!
//! Pure: the facts come in as arguments (`today`, the calendar, the assessed ledger, the
//! store's counts), the text and the chart's bars come out.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};

use crate::core::calendar::Calendar;
use crate::core::chart::UnitBar;
use crate::core::ledger::{Measure, Status};
use crate::core::rules::{Assessment, Audience, Colour, RequestCategory, Tier};
use crate::core::text::Language;
use crate::core::workflow::{Request, RequestState, category_label};

/// The counts a digest reports, and keeps for the next one's "since last time".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Measures in all.
    pub total: i64,
    /// Closed (已销号).
    pub closed: i64,
    /// Claimed and waiting for the office (待核验).
    pub claimed: i64,
    /// In progress (推进中).
    pub in_progress: i64,
    /// Not started (未启动).
    pub not_started: i64,
    /// Open measures with a red light.
    pub red: i64,
    /// Open measures with a yellow light.
    pub yellow: i64,
    /// Open measures with a green light.
    pub green: i64,
}

/// A unit that let reminders go unanswered, since a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silent {
    /// The unit.
    pub unit: String,
    /// The day its first unanswered reminder went out.
    pub since: NaiveDate,
}

/// Someone the bot cannot reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// A person's name, or the unit whose group it is.
    pub name: String,
    /// Whether it is a unit's group.
    pub group: bool,
    /// The person's unit or place.
    pub place: Option<String>,
}

/// What the digest is built from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The day of the digest.
    pub today: NaiveDate,
    /// The ledger.
    pub measures: &'a [Measure],
    /// Each measure's assessment on `today`, in the same order.
    pub assessments: &'a [Assessment<'a>],
    /// The last digest's counts and day, if there was one.
    pub previous: Option<(NaiveDate, Counts)>,
    /// Codes of the measures closed today.
    pub closed_today: &'a [String],
    /// Units with unanswered reminders.
    pub silent: &'a [Silent],
    /// People and groups the bot cannot reach.
    pub unreachable: &'a [Cut],
    /// Every request.
    pub requests: &'a [Request],
    /// How many measures have had their deadline extended.
    pub extended: i64,
}

/// How the digest is built.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// At most this many lines in the red list.
    pub red_list_max: usize,
    /// A unit silent for this many working days is named.
    pub silent_after_working_days: u32,
    /// The language.
    pub language: Language,
    /// The response rule, named in the requests' part.
    pub response: crate::core::rules::ResponseRule,
}

/// A built digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The text, possibly longer than one message: the caller splits it by lines.
    pub text: String,
    /// Its counts.
    pub counts: Counts,
    /// The chart's bars: per lead unit, the most red first.
    pub bars: Vec<UnitBar>,
    /// The chart's title.
    pub chart_title: String,
}

/// Counts the ledger: statuses, and the lights of open measures.
pub fn count(measures: &[Measure], assessments: &[Assessment<'_>]) -> Counts {
    let mut counts = Counts {
        total: measures.len() as i64,
        ..Counts::default()
    };
    for (m, a) in measures.iter().zip(assessments) {
        match m.status {
            Status::Closed => counts.closed += 1,
            Status::Claimed => counts.claimed += 1,
            Status::InProgress => counts.in_progress += 1,
            Status::NotStarted => counts.not_started += 1,
        }
        if m.status == Status::Closed {
            continue;
        }
        match a.colour {
            Colour::Red => counts.red += 1,
            Colour::Yellow => counts.yellow += 1,
            Colour::Green => counts.green += 1,
        }
    }
    counts
}

/// The chart's bars: per lead unit, closed, and open by light; the most red first, then the most
/// open, then by name.
pub fn bars(measures: &[Measure], assessments: &[Assessment<'_>]) -> Vec<UnitBar> {
    let mut by_unit: BTreeMap<&str, UnitBar> = BTreeMap::new();
    for (m, a) in measures.iter().zip(assessments) {
        let bar = by_unit
            .entry(m.lead_unit.as_str())
            .or_insert_with(|| UnitBar {
                unit: m.lead_unit.clone(),
                closed: 0,
                open: 0,
                yellow: 0,
                red: 0,
            });
        if m.status == Status::Closed {
            bar.closed += 1;
            continue;
        }
        bar.open += 1;
        match a.colour {
            Colour::Red => bar.red += 1,
            Colour::Yellow => bar.yellow += 1,
            Colour::Green => {}
        }
    }
    let mut bars: Vec<UnitBar> = by_unit.into_values().collect();
    bars.sort_by(|a, b| {
        (b.red, b.open)
            .cmp(&(a.red, a.open))
            .then_with(|| a.unit.cmp(&b.unit))
    });
    bars
}

/// The completion rate, closed over all, as a percentage with one decimal.
pub fn completion_rate(counts: &Counts) -> f64 {
    if counts.total == 0 {
        return 0.0;
    }
    (counts.closed as f64 * 1000.0 / counts.total as f64).round() / 10.0
}

/// A change as the digest writes it: +2, −1, or 持平 / ±0.
fn signed(change: i64, language: Language) -> String {
    match change {
        0 if language == Language::Zh => "持平".into(),
        0 => "±0".into(),
        d if d > 0 => format!("+{d}"),
        d => format!("−{}", -d),
    }
}

/// A change in brackets after a count, or nothing without a previous digest.
fn delta(now: i64, before: Option<i64>, language: Language) -> String {
    match (before, language) {
        (None, _) => String::new(),
        (Some(before), Language::Zh) => format!("（{}）", signed(now - before, language)),
        (Some(before), Language::En) => format!(" ({})", signed(now - before, language)),
    }
}

fn weekday_zh(day: NaiveDate) -> &'static str {
    match day.weekday() {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

/// Builds the digest.
pub fn build(facts: &Facts<'_>, calendar: &Calendar, options: &Options) -> Digest {
    let language = options.language;
    let zh = language == Language::Zh;
    let counts = count(facts.measures, facts.assessments);
    let before = facts.previous.map(|(_, c)| c);
    let mut lines = Vec::new();
    let today = facts.today;
    let day = crate::core::text::date(today, language);
    lines.push(if zh {
        format!("【每日督办简报】{day}（{}）", weekday_zh(today))
    } else {
        format!("[Daily digest] {today} ({})", today.weekday())
    });
    lines.push(if zh {
        format!(
            "整改措施{}项：已销号{} · 待核验{} · 推进中{} · 未启动{}",
            counts.total, counts.closed, counts.claimed, counts.in_progress, counts.not_started
        )
    } else {
        format!(
            "{} measures: {} closed · {} claimed, to verify · {} in progress · {} not started",
            counts.total, counts.closed, counts.claimed, counts.in_progress, counts.not_started
        )
    });
    let rate = completion_rate(&counts);
    let closed_change = before.map(|b| signed(counts.closed - b.closed, language));
    lines.push(match (zh, closed_change) {
        (true, Some(change)) => format!("完成率{rate:.1}%（已销号较上次{change}）"),
        (true, None) => format!("完成率{rate:.1}%"),
        (false, Some(change)) => format!("Completion {rate:.1}% (closed since last: {change})"),
        (false, None) => format!("Completion {rate:.1}%"),
    });
    let since = match facts.previous {
        Some((day, _)) if zh => format!(
            "，括号内为较{}的变化",
            crate::core::text::date(day, language)
        ),
        Some((day, _)) => format!("; change since {day} in brackets"),
        None if zh => "（首次简报）".into(),
        None => " (first digest)".into(),
    };
    lines.push(if zh {
        format!(
            "未销号亮灯{since}：🔴 红灯{}{} · 🟡 黄灯{}{} · 🟢 绿灯{}{}",
            counts.red,
            delta(counts.red, before.map(|b| b.red), language),
            counts.yellow,
            delta(counts.yellow, before.map(|b| b.yellow), language),
            counts.green,
            delta(counts.green, before.map(|b| b.green), language),
        )
    } else {
        format!(
            "Lights of open measures{since}: 🔴 red {}{} · 🟡 yellow {}{} · 🟢 green {}{}",
            counts.red,
            delta(counts.red, before.map(|b| b.red), language),
            counts.yellow,
            delta(counts.yellow, before.map(|b| b.yellow), language),
            counts.green,
            delta(counts.green, before.map(|b| b.green), language),
        )
    });
    if facts.extended > 0 {
        lines.push(if zh {
            format!("经批准延期的措施{}项", facts.extended)
        } else {
            format!("{} measure(s) had their deadline extended", facts.extended)
        });
    }
    red_list(&mut lines, facts, options);
    if !facts.closed_today.is_empty() {
        lines.push(String::new());
        lines.push(if zh {
            format!(
                "✅ 今日销号{}项：{}",
                facts.closed_today.len(),
                facts.closed_today.join("、")
            )
        } else {
            format!(
                "✅ Closed today ({}): {}",
                facts.closed_today.len(),
                facts.closed_today.join(", ")
            )
        });
    }
    let silent: Vec<String> = facts
        .silent
        .iter()
        .filter_map(|s| {
            let days = calendar.working_days_between(s.since, today);
            (days >= i64::from(options.silent_after_working_days)).then(|| {
                if zh {
                    format!("{}（{days}个工作日）", s.unit)
                } else {
                    format!("{} ({days} working days)", s.unit)
                }
            })
        })
        .collect();
    if !silent.is_empty() {
        lines.push(String::new());
        lines.push(if zh {
            format!(
                "⏳ 连续{}个工作日未反馈：{}",
                options.silent_after_working_days,
                silent.join("、")
            )
        } else {
            format!(
                "⏳ No answer to reminders for {}+ working days: {}",
                options.silent_after_working_days,
                silent.join(", ")
            )
        });
    }
    if !facts.unreachable.is_empty() {
        let who: Vec<String> = facts
            .unreachable
            .iter()
            .map(|c| match (c.group, &c.place, zh) {
                (true, _, true) => format!("{}工作群", c.name),
                (true, _, false) => format!("the group of {}", c.name),
                (false, Some(place), true) => format!("{}（{place}）", c.name),
                (false, Some(place), false) => format!("{} ({place})", c.name),
                (false, None, _) => c.name.clone(),
            })
            .collect();
        lines.push(String::new());
        lines.push(if zh {
            format!("⛔ 无法送达（已屏蔽机器人或已移出群）：{}", who.join("、"))
        } else {
            format!(
                "⛔ Cannot be reached (blocked the bot or removed it): {}",
                who.join(", ")
            )
        });
    }
    requests_section(&mut lines, facts, calendar, options);
    let chart_title = if zh {
        format!("{day}各牵头单位整改进度")
    } else {
        format!("{today}: measures per lead unit")
    };
    Digest {
        text: lines.join("\n"),
        counts,
        bars: bars(facts.measures, facts.assessments),
        chart_title,
    }
}

/// A red measure in the list: working days overdue, the measure, its assessment.
type RedItem<'m> = (u32, &'m Measure, &'m Assessment<'m>);

/// The red list (通报): the red measures whose step of the ladder names them in the digest,
/// grouped by lead unit, with working days overdue and responsible leaders; the red ones
/// still at an earlier step (催办, 督办) are counted after it.
fn red_list(lines: &mut Vec<String>, facts: &Facts<'_>, options: &Options) {
    let zh = options.language == Language::Zh;
    let mut by_unit: BTreeMap<&str, Vec<RedItem<'_>>> = BTreeMap::new();
    let mut earlier = 0;
    for (m, a) in facts.measures.iter().zip(facts.assessments) {
        if m.status == Status::Closed || a.colour != Colour::Red {
            continue;
        }
        if !a.step.is_some_and(|s| s.notify.contains(&Audience::Digest)) {
            earlier += 1;
            continue;
        }
        let overdue = match a.tier {
            Some(Tier::Overdue { working_days, .. }) => working_days,
            _ => 0,
        };
        by_unit
            .entry(m.lead_unit.as_str())
            .or_default()
            .push((overdue, m, a));
    }
    let note_earlier = |lines: &mut Vec<String>| {
        if earlier > 0 {
            lines.push(if zh {
                format!("另有{earlier}项红灯尚在催办、督办中，未列入通报。")
            } else {
                format!("{earlier} more red measure(s) are being urged, not yet named.")
            });
        }
    };
    if by_unit.is_empty() {
        if earlier > 0 {
            lines.push(String::new());
            note_earlier(lines);
        }
        return;
    }
    let mut units: Vec<(&str, Vec<RedItem<'_>>)> = by_unit.into_iter().collect();
    for (_, items) in &mut units {
        items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.code.cmp(&b.1.code)));
    }
    units.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
    let total: usize = units.iter().map(|(_, items)| items.len()).sum();
    lines.push(String::new());
    lines.push(if zh {
        format!("🔴 通报：逾期已达通报阶梯的措施（按牵头单位，共{total}项）：")
    } else {
        format!("🔴 Named (overdue to the notice step), by lead unit ({total}):")
    });
    let mut shown = 0;
    'units: for (unit, items) in &units {
        if shown >= options.red_list_max {
            break;
        }
        lines.push(if zh {
            format!("{unit}（{}项）", items.len())
        } else {
            format!("{unit} ({})", items.len())
        });
        for (overdue, m, a) in items {
            if shown >= options.red_list_max {
                break 'units;
            }
            let leaders = if m.leaders.is_empty() {
                String::new()
            } else {
                format!(" · {}", m.leaders.join("、"))
            };
            let why = if *overdue > 0 {
                if zh {
                    format!("逾期{overdue}个工作日")
                } else {
                    format!("{overdue} working day(s) overdue")
                }
            } else {
                crate::core::report::reason_text(a, options.language)
            };
            lines.push(format!("  {} {why}{leaders}", m.code));
            shown += 1;
        }
    }
    if shown < total {
        lines.push(if zh {
            format!("……另有{}项", total - shown)
        } else {
            format!("… and {} more", total - shown)
        });
    }
    note_earlier(lines);
}

/// Requests per category: answered in time, answered late, late and open; and what is late.
fn requests_section(
    lines: &mut Vec<String>,
    facts: &Facts<'_>,
    calendar: &Calendar,
    options: &Options,
) {
    if facts.requests.is_empty() {
        return;
    }
    let language = options.language;
    let zh = language == Language::Zh;
    let mut parts = Vec::new();
    let mut late_open: Vec<(&Request, i64)> = Vec::new();
    for category in [
        RequestCategory::Consult,
        RequestCategory::General,
        RequestCategory::Major,
    ] {
        let mut in_time = 0;
        let mut answered_late = 0;
        let mut open = 0;
        let mut late = 0;
        for r in facts.requests.iter().filter(|r| r.category == category) {
            match r.state(facts.today, calendar) {
                RequestState::AnsweredInTime => in_time += 1,
                RequestState::AnsweredLate { .. } => answered_late += 1,
                RequestState::Open { .. } => open += 1,
                RequestState::Late { overdue_days } => {
                    late += 1;
                    late_open.push((r, overdue_days));
                }
            }
        }
        if in_time + answered_late + open + late == 0 {
            continue;
        }
        let label = category_label(category, language);
        parts.push(if zh {
            format!(
                "{label}：按时答复{in_time} · 超时答复{answered_late} · 办理中{open} · 超时未答复{late}"
            )
        } else {
            format!(
                "{label}: answered in time {in_time} · answered late {answered_late} · open {open} · late, unanswered {late}"
            )
        });
    }
    lines.push(String::new());
    let rule = options.response.describe(language);
    lines.push(if zh {
        format!("📌 诉求办理（响应时限：{rule}）：")
    } else {
        format!("📌 Requests (response rule: {rule}):")
    });
    for part in parts {
        lines.push(format!("  {part}"));
    }
    late_open.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
    for (r, days) in late_open.iter().take(10) {
        lines.push(if zh {
            format!(
                "  ⚠️ {} {}【{}】超时{days}个工作日：{}",
                r.code(),
                r.unit,
                category_label(r.category, language),
                crate::core::report::fit(&r.body, 30).trim_end()
            )
        } else {
            format!(
                "  ⚠️ {} {} [{}] {days} working day(s) late: {}",
                r.code(),
                r.unit,
                category_label(r.category, language),
                crate::core::report::fit(&r.body, 30).trim_end()
            )
        });
    }
    if late_open.len() > 10 {
        lines.push(if zh {
            format!("  ……另有{}项超时", late_open.len() - 10)
        } else {
            format!("  … and {} more late", late_open.len() - 10)
        });
    }
}

#[cfg(test)]
mod tests;
