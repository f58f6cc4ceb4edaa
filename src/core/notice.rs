//! The periodic 通报 (督办通报): what moved the district's units was the regular notice that
//! ranks them in front of leadership. One per week or month, numbered per year
//! (`督办通报〔2024〕第3期`): the period, totals and completion rate, the lead units ranked
//! (completion rate, then red count, then days without an answer), the units that did not
//! answer, the measures newly at the 通报 step with their leaders, and what was closed.
//! Pure: the caller gathers the facts; `ingest::docx` writes the document.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};

use crate::core::ledger::{Measure, Status};
use crate::core::rules::{Assessment, Colour};
use crate::core::text::{self, Language};

/// How often a notice is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Every week, about the week before.
    Week,
    /// Every month, about the month before.
    Month,
}

impl Period {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// Reads a stable code.
    pub fn from_code(code: &str) -> Option<Period> {
        match code {
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The period a notice issued on `today` is about: the last full week (Monday to
    /// Sunday) or the last full month before `today`'s.
    pub fn covering(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self {
            Period::Week => {
                let monday =
                    today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                (monday - Duration::days(7), monday - Duration::days(1))
            }
            Period::Month => {
                let first = today.with_day(1).expect("the first of a month exists");
                let last = first - Duration::days(1);
                (last.with_day(1).expect("the first of a month exists"), last)
            }
        }
    }
}

/// A lead unit's line in the ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Rank {
    /// Its place, from 1.
    pub place: usize,
    /// The unit.
    pub unit: String,
    /// Measures it leads.
    pub total: usize,
    /// Of them closed.
    pub closed: usize,
    /// Closed as a percentage of all.
    pub rate: f64,
    /// Of them red.
    pub red: usize,
    /// Days since a reminder it has not answered, if any.
    pub silent_days: Option<i64>,
}

/// A measure named in the notice, with its lead unit and leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The measure's code.
    pub code: String,
    /// What it is, shortened.
    pub content: String,
    /// Its lead unit.
    pub lead_unit: String,
    /// Its responsible leaders.
    pub leaders: Vec<String>,
    /// Working days overdue.
    pub overdue_days: u32,
}

/// What a notice is made from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The day it is issued.
    pub today: NaiveDate,
    /// How often.
    pub period: Period,
    /// Its number in the year.
    pub number: i64,
    /// Every measure, and its assessment on `today`.
    pub measures: &'a [Measure],
    /// The assessments, in the same order.
    pub assessments: &'a [Assessment<'a>],
    /// Units that have let a reminder go unanswered, and since when.
    pub silent: &'a [(String, NaiveDate)],
    /// Codes of the measures that reached a step naming them (通报) within the period.
    pub newly_named: &'a [String],
    /// Codes of the measures closed within the period.
    pub closed: &'a [String],
}

/// A notice, ready to send and to write as a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// 督办通报〔2024〕第3期.
    pub number: String,
    /// The title.
    pub title: String,
    /// The period covered, in words.
    pub period: String,
    /// The date of issue, in words.
    pub date: String,
    /// The paragraphs of the body.
    pub paragraphs: Vec<String>,
    /// The ranking of lead units.
    pub ranking: Vec<Rank>,
    /// The message text.
    pub text: String,
}

/// Builds a notice.
pub fn build(facts: &Facts<'_>, language: Language) -> Notice {
    let zh = language == Language::Zh;
    let (from, to) = facts.period.covering(facts.today);
    let year = facts.today.year();
    let number = match zh {
        true => format!("督办通报〔{year}〕第{}期", facts.number),
        false => format!("Notice {year} No. {}", facts.number),
    };
    let title = match (zh, facts.period) {
        (true, Period::Week) => "关于整改工作推进情况的通报（周报）".to_string(),
        (true, Period::Month) => "关于整改工作推进情况的通报（月报）".to_string(),
        (false, Period::Week) => "Weekly notice on the rectification work".to_string(),
        (false, Period::Month) => "Monthly notice on the rectification work".to_string(),
    };
    let period = match zh {
        true => format!(
            "{}至{}",
            text::date(from, language),
            text::date(to, language)
        ),
        false => format!("{from} to {to}"),
    };
    let date = text::date(facts.today, language);
    let total = facts.measures.len();
    let closed = facts
        .measures
        .iter()
        .filter(|m| m.status == Status::Closed)
        .count();
    let red = facts
        .measures
        .iter()
        .zip(facts.assessments)
        .filter(|(m, a)| m.status != Status::Closed && a.colour == Colour::Red)
        .count();
    let rate = percent(closed, total);
    // The ranking: completion rate (high first), then red (few first), then days silent.
    let mut units: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (m, a) in facts.measures.iter().zip(facts.assessments) {
        let entry = units.entry(m.lead_unit.as_str()).or_default();
        entry.0 += 1;
        if m.status == Status::Closed {
            entry.1 += 1;
        } else if a.colour == Colour::Red {
            entry.2 += 1;
        }
    }
    let silent_days = |unit: &str| {
        facts
            .silent
            .iter()
            .find(|(u, _)| u == unit)
            .map(|(_, since)| (facts.today - *since).num_days().max(0))
    };
    let mut ranking: Vec<Rank> = units
        .into_iter()
        .map(|(unit, (total, closed, red))| Rank {
            place: 0,
            unit: unit.to_string(),
            total,
            closed,
            rate: percent(closed, total),
            red,
            silent_days: silent_days(unit),
        })
        .collect();
    ranking.sort_by(|a, b| {
        b.rate
            .partial_cmp(&a.rate)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.red.cmp(&b.red))
            .then(a.silent_days.unwrap_or(0).cmp(&b.silent_days.unwrap_or(0)))
            .then(a.unit.cmp(&b.unit))
    });
    for (i, rank) in ranking.iter_mut().enumerate() {
        rank.place = i + 1;
    }
    let named: Vec<Named> = facts
        .newly_named
        .iter()
        .filter_map(|code| {
            let i = facts.measures.iter().position(|m| &m.code == code)?;
            let (m, a) = (&facts.measures[i], &facts.assessments[i]);
            (m.status != Status::Closed).then(|| Named {
                code: m.code.clone(),
                content: crate::core::report::fit(&m.content, 40)
                    .trim_end()
                    .to_string(),
                lead_unit: m.lead_unit.clone(),
                leaders: m.leaders.clone(),
                overdue_days: a.overdue_working_days(),
            })
        })
        .collect();
    let mut paragraphs = Vec::new();
    paragraphs.push(match zh {
        true => format!(
            "截至{date}，整改措施共{total}项，已销号{closed}项，完成率{rate:.1}%；未销号措施中红灯{red}项。现将{period}整改推进情况通报如下。"
        ),
        false => format!(
            "As of {date}: {total} measures, {closed} closed ({rate:.1}%); {red} open measures are red. The work of {period} is reported below."
        ),
    });
    paragraphs.push(match zh {
        true => "一、牵头单位排名（按完成率，其次红灯数、未反馈天数）".to_string(),
        false => {
            "1. Lead units ranked (completion rate, then red count, then days silent)".to_string()
        }
    });
    let mut silent: Vec<(&String, i64)> = facts
        .silent
        .iter()
        .map(|(u, since)| (u, (facts.today - *since).num_days().max(0)))
        .collect();
    silent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    paragraphs.push(match (zh, silent.is_empty()) {
        (true, true) => "二、未按时反馈的单位：无。".to_string(),
        (true, false) => format!(
            "二、未按时反馈的单位：{}。",
            silent
                .iter()
                .map(|(u, d)| format!("{u}（{d}天）"))
                .collect::<Vec<_>>()
                .join("、")
        ),
        (false, true) => "2. Units that did not answer: none.".to_string(),
        (false, false) => format!(
            "2. Units that did not answer: {}.",
            silent
                .iter()
                .map(|(u, d)| format!("{u} ({d} days)"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    paragraphs.push(match (zh, named.is_empty()) {
        (true, true) => "三、本期新进入通报的措施：无。".to_string(),
        (true, false) => format!("三、本期新进入通报的措施（{}项）：", named.len()),
        (false, true) => "3. Measures newly named: none.".to_string(),
        (false, false) => format!("3. Measures newly named ({}):", named.len()),
    });
    for n in &named {
        let leaders = match n.leaders.is_empty() {
            true => String::new(),
            false => match zh {
                true => format!("，责任领导{}", n.leaders.join("、")),
                false => format!(", leader {}", n.leaders.join(", ")),
            },
        };
        paragraphs.push(match zh {
            true => format!(
                "{} {}（{}牵头，逾期{}个工作日{leaders}）",
                n.code, n.content, n.lead_unit, n.overdue_days
            ),
            false => format!(
                "{} {} (led by {}, {} working day(s) overdue{leaders})",
                n.code, n.content, n.lead_unit, n.overdue_days
            ),
        });
    }
    paragraphs.push(match (zh, facts.closed.is_empty()) {
        (true, true) => "四、本期销号：无。".to_string(),
        (true, false) => format!(
            "四、本期销号{}项：{}。",
            facts.closed.len(),
            facts.closed.join("、")
        ),
        (false, true) => "4. Closed in the period: none.".to_string(),
        (false, false) => format!(
            "4. Closed in the period ({}): {}.",
            facts.closed.len(),
            facts.closed.join(", ")
        ),
    });
    let mut text = vec![format!("【{number}】{title}"), period.clone()];
    text.push(paragraphs[0].clone());
    text.push(paragraphs[1].clone());
    for r in &ranking {
        let silent = match (zh, r.silent_days) {
            (true, Some(d)) => format!(" · 未反馈{d}天"),
            (false, Some(d)) => format!(" · silent {d} days"),
            (_, None) => String::new(),
        };
        text.push(match zh {
            true => format!(
                "  {}. {} 完成率{:.1}%（{}/{}） · 红灯{}{silent}",
                r.place, r.unit, r.rate, r.closed, r.total, r.red
            ),
            false => format!(
                "  {}. {} {:.1}% ({}/{}) · red {}{silent}",
                r.place, r.unit, r.rate, r.closed, r.total, r.red
            ),
        });
    }
    text.extend(paragraphs[2..].iter().cloned());
    Notice {
        number,
        title,
        period,
        date,
        paragraphs,
        ranking,
        text: text.join("\n"),
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    match whole {
        0 => 0.0,
        n => (part as f64 * 1000.0 / n as f64).round() / 10.0,
    }
}

#[cfg(test)]
mod tests;
