//! The response rule (响应时限): "咨询类问题当天答复,一般性协调事项不过周,重大事项不过月".
//!
//! A consultation is answered the same working day, a general coordination matter within
//! five working days, a major matter by the same date a month later, moved to the next
//! working day when that is a day off. Each limit is an (amount, unit) pair in configuration.

use crate::core::text::Language;
use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::core::calendar::Calendar;

/// The category of a request or a "need coordination" reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestCategory {
    /// 咨询类: a question.
    Consult,
    /// 一般性协调事项.
    General,
    /// 重大事项.
    Major,
}

/// The unit a response limit counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitUnit {
    /// Working days; 0 means the same working day.
    WorkingDays,
    /// Calendar days, moved to a working day.
    Days,
    /// Calendar months (same date, clamped to the month's end), moved to a working day.
    Months,
}

/// A response limit: an amount of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseLimit {
    /// How many.
    pub amount: u32,
    /// Of what.
    pub unit: LimitUnit,
}

/// The limits per category, from configuration (`[rules.response]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseRule {
    /// 咨询类: the same working day.
    pub consult: ResponseLimit,
    /// 一般性协调: five working days.
    pub general: ResponseLimit,
    /// 重大事项: one month.
    pub major: ResponseLimit,
}

impl Default for ResponseRule {
    fn default() -> ResponseRule {
        ResponseRule {
            consult: ResponseLimit {
                amount: 0,
                unit: LimitUnit::WorkingDays,
            },
            general: ResponseLimit {
                amount: 5,
                unit: LimitUnit::WorkingDays,
            },
            major: ResponseLimit {
                amount: 1,
                unit: LimitUnit::Months,
            },
        }
    }
}

impl ResponseLimit {
    /// The limit in words: `当天`, `5个工作日`, `1个月`; `the same working day`, `5 working
    /// days`, `1 month`.
    pub fn describe(&self, language: Language) -> String {
        let zh = language == Language::Zh;
        match (self.unit, self.amount, zh) {
            (LimitUnit::WorkingDays, 0, true) => "当天".into(),
            (LimitUnit::WorkingDays, 0, false) => "the same working day".into(),
            (LimitUnit::WorkingDays, n, true) => format!("{n}个工作日"),
            (LimitUnit::WorkingDays, n, false) => format!("{n} working day(s)"),
            (LimitUnit::Days, n, true) => format!("{n}天"),
            (LimitUnit::Days, n, false) => format!("{n} day(s)"),
            (LimitUnit::Months, n, true) => format!("{n}个月"),
            (LimitUnit::Months, n, false) => format!("{n} month(s)"),
        }
    }
}

impl ResponseRule {
    /// The rule in words, as configured: `咨询当天、一般5个工作日、重大1个月`.
    pub fn describe(&self, language: Language) -> String {
        match language {
            Language::Zh => format!(
                "咨询类{}、一般性协调{}、重大事项{}",
                self.consult.describe(language),
                self.general.describe(language),
                self.major.describe(language)
            ),
            Language::En => format!(
                "consultations {}, general {}, major {}",
                self.consult.describe(language),
                self.general.describe(language),
                self.major.describe(language)
            ),
        }
    }

    /// The limit for a category.
    pub fn limit(&self, category: RequestCategory) -> ResponseLimit {
        match category {
            RequestCategory::Consult => self.consult,
            RequestCategory::General => self.general,
            RequestCategory::Major => self.major,
        }
    }
}

/// The day by which an item raised on `raised_on` must be answered.
pub fn response_due(
    raised_on: NaiveDate,
    category: RequestCategory,
    rule: &ResponseRule,
    calendar: &Calendar,
) -> NaiveDate {
    let limit = rule.limit(category);
    match limit.unit {
        LimitUnit::WorkingDays => calendar.add_working_days(raised_on, limit.amount),
        LimitUnit::Days => calendar.working_day_on_or_after(
            raised_on
                .checked_add_days(Days::new(u64::from(limit.amount)))
                .expect("date in range"),
        ),
        LimitUnit::Months => calendar.working_day_on_or_after(
            raised_on
                .checked_add_months(Months::new(limit.amount))
                .expect("date in range"),
        ),
    }
}
