//! The rule engine: colour, tier, escalation step and the response rule.
//!
//! Everything here is pure. It takes `today`, the [`Calendar`] and the [`Rules`] as
//! arguments, never reads the clock and never does I/O, so the same inputs always give the
//! same answer and tests drive it with tables.

use chrono::{Datelike, Months, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::core::calendar::Calendar;
use crate::core::ledger::{Deadline, Measure, ReportCycle, Status};

mod ladder;
mod response;

pub use ladder::{Anchor, Audience, LadderStep, default_ladder};
pub use response::{LimitUnit, RequestCategory, ResponseLimit, ResponseRule, response_due};

/// The traffic light of a measure (亮灯预警).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// 红灯: past the deadline and not closed, or a long-term report missing for long.
    Red,
    /// 黄灯: due soon, or a periodic report missing.
    Yellow,
    /// 绿灯: on track or closed.
    Green,
}

impl Colour {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
        }
    }

    /// The Chinese label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Colour::Red => "红",
            Colour::Yellow => "黄",
            Colour::Green => "绿",
        }
    }

    /// Reads a stable code or a Chinese label.
    pub fn parse(text: &str) -> Option<Colour> {
        match text.trim().to_lowercase().as_str() {
            "red" | "红" | "红灯" => Some(Colour::Red),
            "yellow" | "黄" | "黄灯" => Some(Colour::Yellow),
            "green" | "绿" | "绿灯" => Some(Colour::Green),
            _ => None,
        }
    }
}

/// What to do when a deadline falls on a day off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayOffPolicy {
    /// The deadline moves to the next working day, as for legal time limits
    /// (民法典 第二百零三条). The default.
    NextWorkingDay,
    /// The deadline moves back to the last working day before it.
    PreviousWorkingDay,
    /// The deadline stays on the day off.
    AsIs,
}

/// The thresholds of the rule engine, from configuration (`[rules]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// A measure turns yellow this many working days before it is due.
    pub yellow_within_working_days: u32,
    /// Where a deadline that falls on a day off really lies.
    pub deadline_on_day_off: DayOffPolicy,
    /// 立行立改 without a date is due this many working days after it entered the ledger
    /// (or after `immediate_from`).
    pub immediate_due_working_days: u32,
    /// The day 立行立改 counts from (the day the inspection's feedback was handed over, 反馈
    /// 之日), for every measure without a date; unset: the day each entered the ledger.
    pub immediate_from: Option<NaiveDate>,
    /// The report cycle of a long-term measure whose ledger names none.
    pub report_cycle: ReportCycle,
    /// A long-term measure turns red after this many report cycles without a report.
    pub red_after_missed_reports: u32,
    /// A claim made on or before the due date (or on an unknown day, as with a claim that
    /// came in with an imported ledger) keeps the measure green while the office verifies it;
    /// otherwise a claimed measure past its deadline stays red.
    pub claim_in_time_is_green: bool,
    /// The office verifies a claim of completion within this many working days; longer
    /// waits are marked in its daily 待办 list.
    pub verify_within_working_days: u32,
    /// 回头看: this many months after a measure is closed, the office is asked to re-check
    /// it; 0 turns it off.
    pub look_back_months: u32,
    /// The escalation ladder, in order (督办阶梯).
    pub ladder: Vec<LadderStep>,
    /// The response rule for requests (咨询类当天答复,一般性协调不过周,重大事项不过月).
    pub response: ResponseRule,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            yellow_within_working_days: 5,
            deadline_on_day_off: DayOffPolicy::NextWorkingDay,
            immediate_due_working_days: 5,
            immediate_from: None,
            report_cycle: ReportCycle::Month,
            red_after_missed_reports: 2,
            claim_in_time_is_green: true,
            verify_within_working_days: 3,
            look_back_months: 6,
            ladder: default_ladder(),
            response: ResponseRule::default(),
        }
    }
}

/// Everything the rules read besides the measure.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The day to judge.
    pub today: NaiveDate,
    /// The working-day calendar.
    pub calendar: &'a Calendar,
    /// The thresholds.
    pub rules: &'a Rules,
    /// The office's time zone, to turn stored instants into dates.
    pub timezone: Tz,
}

/// Where a measure stands against its due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "tier", rename_all = "snake_case")]
pub enum Tier {
    /// Due in this many working days (还剩 N 个工作日).
    Upcoming {
        /// Working days left after today, up to and including the due date.
        working_days: u32,
    },
    /// Due today.
    DueToday,
    /// Past due (逾期 N 个工作日).
    Overdue {
        /// Working days after the due date, up to and including today.
        working_days: u32,
        /// Calendar days after the due date.
        days: u32,
    },
}

/// Why a measure has its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Closed by the office.
    Closed,
    /// Completion claimed on or before the due date; waiting for verification.
    ClaimedInTime,
    /// Due later than the yellow threshold.
    OnTrack,
    /// Due within the yellow threshold.
    DueSoon,
    /// Due today.
    DueToday,
    /// Past its due date and not closed.
    Overdue,
    /// A long-term measure whose next report is not yet due soon.
    ReportOnTrack,
    /// A long-term measure whose report is due soon.
    ReportDueSoon,
    /// A long-term measure that missed this many report cycles.
    ReportMissing {
        /// Cycles that ended without a report.
        missed_cycles: u32,
    },
}

/// The rule engine's judgement of one measure on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment<'r> {
    /// The light.
    pub colour: Colour,
    /// Why.
    pub reason: Reason,
    /// The effective due date: the deadline moved off days off, the date an immediate
    /// measure falls due, or a long-term measure's next report date. `None` when closed.
    pub due: Option<NaiveDate>,
    /// Where the measure stands against `due`. `None` when closed.
    pub tier: Option<Tier>,
    /// The escalation step reached, if any. Only measures that still wait for their unit
    /// (not started or in progress) escalate.
    pub step: Option<&'r LadderStep>,
}

impl Assessment<'_> {
    /// Working days past due, 0 when not overdue.
    pub fn overdue_working_days(&self) -> u32 {
        match self.tier {
            Some(Tier::Overdue { working_days, .. }) => working_days,
            _ => 0,
        }
    }
}

/// Judges `measure` on `ctx.today`.
pub fn assess<'r>(measure: &Measure, ctx: &Context<'r>) -> Assessment<'r> {
    if measure.status == Status::Closed {
        return Assessment {
            colour: Colour::Green,
            reason: Reason::Closed,
            due: None,
            tier: None,
            step: None,
        };
    }
    // Judging a day before the measure entered duban reads it as assigned on that day, and
    // reports made after the day do not count yet.
    let assigned_on = measure
        .created_at
        .with_timezone(&ctx.timezone)
        .date_naive()
        .min(ctx.today);
    // A long-term measure's escalation counts from the day it turns red, not from its
    // first missed report: one missed report is yellow, and yellow is not 催办.
    let (due, missed_cycles, escalation_due) = match measure.deadline {
        Deadline::Date(date) | Deadline::Immediate(Some(date)) => {
            let due = effective_due(date, ctx);
            (due, None, due)
        }
        Deadline::Immediate(None) => {
            let from = ctx.rules.immediate_from.unwrap_or(assigned_on);
            let due = ctx
                .calendar
                .add_working_days(from, ctx.rules.immediate_due_working_days);
            (due, None, due)
        }
        Deadline::LongTerm(cycle) => {
            let cycle = cycle.unwrap_or(ctx.rules.report_cycle);
            let last_report = measure
                .last_report_at
                .map(|at| at.with_timezone(&ctx.timezone).date_naive())
                .filter(|day| *day <= ctx.today);
            // Entering the ledger covers the cycle it happened in; a report covers its own
            // cycle, or the one before when made on that cycle's grace day.
            let covered = last_report
                .map(|day| covered_by_report(cycle, day, ctx))
                .unwrap_or(assigned_on)
                .max(cycle_end(cycle, assigned_on));
            let reports = ReportDue::after(cycle, covered, ctx);
            let escalation_due = if reports.missed == 0 {
                reports.first_due
            } else {
                reports.red_due
            };
            (reports.first_due, Some(reports.missed), escalation_due)
        }
    };
    let tier = tier(due, ctx);
    if measure.status == Status::Claimed && ctx.rules.claim_in_time_is_green {
        // A claim whose day is unknown (it came in with an imported ledger) counts as in
        // time: the ledger says the unit finished, and the office's queue is what remains.
        let claimed_on = measure
            .claimed_at
            .map(|at| at.with_timezone(&ctx.timezone).date_naive());
        if claimed_on.is_none_or(|day| day <= due) || missed_cycles.is_some() {
            return Assessment {
                colour: Colour::Green,
                reason: Reason::ClaimedInTime,
                due: Some(due),
                tier: Some(tier),
                step: None,
            };
        }
    }
    let (colour, reason) = match (missed_cycles, tier) {
        (Some(missed), _) if missed >= ctx.rules.red_after_missed_reports.max(1) => (
            Colour::Red,
            Reason::ReportMissing {
                missed_cycles: missed,
            },
        ),
        (Some(missed), _) if missed > 0 => (
            Colour::Yellow,
            Reason::ReportMissing {
                missed_cycles: missed,
            },
        ),
        (Some(_), Tier::Upcoming { working_days })
            if working_days > ctx.rules.yellow_within_working_days =>
        {
            (Colour::Green, Reason::ReportOnTrack)
        }
        (Some(_), _) => (Colour::Yellow, Reason::ReportDueSoon),
        (None, Tier::Overdue { .. }) => (Colour::Red, Reason::Overdue),
        (None, Tier::DueToday) => (Colour::Yellow, Reason::DueToday),
        (None, Tier::Upcoming { working_days })
            if working_days <= ctx.rules.yellow_within_working_days =>
        {
            (Colour::Yellow, Reason::DueSoon)
        }
        (None, Tier::Upcoming { .. }) => (Colour::Green, Reason::OnTrack),
    };
    let step = match measure.status {
        Status::NotStarted | Status::InProgress => ladder::current_step(
            &ctx.rules.ladder,
            self::tier(escalation_due, ctx),
            assigned_on,
            ctx,
        ),
        Status::Claimed | Status::Closed => None,
    };
    Assessment {
        colour,
        reason,
        due: Some(due),
        tier: Some(tier),
        step,
    }
}

/// The day a deadline really falls due, after the day-off policy.
pub fn effective_due(deadline: NaiveDate, ctx: &Context<'_>) -> NaiveDate {
    match ctx.rules.deadline_on_day_off {
        DayOffPolicy::NextWorkingDay => ctx.calendar.working_day_on_or_after(deadline),
        DayOffPolicy::PreviousWorkingDay => ctx.calendar.working_day_on_or_before(deadline),
        DayOffPolicy::AsIs => deadline,
    }
}

fn tier(due: NaiveDate, ctx: &Context<'_>) -> Tier {
    let today = ctx.today;
    if today == due {
        return Tier::DueToday;
    }
    if today > due {
        return Tier::Overdue {
            working_days: ctx.calendar.working_days_between(due, today) as u32,
            days: (today - due).num_days() as u32,
        };
    }
    Tier::Upcoming {
        working_days: ctx.calendar.working_days_between(today, due) as u32,
    }
}

/// The last day of the report cycle that contains `day`.
pub fn cycle_end(cycle: ReportCycle, day: NaiveDate) -> NaiveDate {
    let month_end = |year: i32, month: u32| {
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|first| first.checked_add_months(Months::new(1)))
            .and_then(|next| next.pred_opt())
            .expect("valid month")
    };
    match cycle {
        ReportCycle::Week => {
            day + chrono::Days::new(u64::from(6 - day.weekday().num_days_from_monday()))
        }
        ReportCycle::Month => month_end(day.year(), day.month()),
        ReportCycle::Quarter => month_end(day.year(), day.month().div_ceil(3) * 3),
        ReportCycle::HalfYear => month_end(day.year(), if day.month() <= 6 { 6 } else { 12 }),
        ReportCycle::Year => month_end(day.year(), 12),
    }
}

/// The first day of the report cycle that contains `day`.
pub fn cycle_start(cycle: ReportCycle, day: NaiveDate) -> NaiveDate {
    let first = |month: u32| NaiveDate::from_ymd_opt(day.year(), month, 1).expect("valid month");
    match cycle {
        ReportCycle::Week => {
            day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
        }
        ReportCycle::Month => first(day.month()),
        ReportCycle::Quarter => first((day.month() - 1) / 3 * 3 + 1),
        ReportCycle::HalfYear => first(if day.month() <= 6 { 1 } else { 7 }),
        ReportCycle::Year => first(1),
    }
}

/// The last day of the cycle a report made on `day` covers: the cycle before, when `day` is
/// still within that cycle's due date (moved past a day off), else its own cycle.
fn covered_by_report(cycle: ReportCycle, day: NaiveDate, ctx: &Context<'_>) -> NaiveDate {
    let previous_end = cycle_start(cycle, day).pred_opt().expect("date in range");
    if effective_due(previous_end, ctx) >= day {
        return previous_end;
    }
    cycle_end(cycle, day)
}

/// A long-term measure's reports after the cycles its latest report covers.
struct ReportDue {
    /// The due date of the first report not made.
    first_due: NaiveDate,
    /// Cycles that have ended without a report, counted up to the red threshold.
    missed: u32,
    /// The due date whose passing turns the measure red.
    red_due: NaiveDate,
}

impl ReportDue {
    fn after(cycle: ReportCycle, covered_end: NaiveDate, ctx: &Context<'_>) -> ReportDue {
        let red_after = ctx.rules.red_after_missed_reports.max(1);
        let mut dues = Vec::with_capacity(red_after as usize);
        let mut start = covered_end.succ_opt().expect("date in range");
        for _ in 0..red_after {
            let end = cycle_end(cycle, start);
            dues.push(effective_due(end, ctx));
            start = end.succ_opt().expect("date in range");
        }
        let missed = dues.iter().filter(|due| **due < ctx.today).count() as u32;
        ReportDue {
            first_due: dues[0],
            missed,
            red_due: *dues.last().expect("at least one cycle"),
        }
    }
}

#[cfg(test)]
mod tests;
