//! The workflow after a reminder: close-out claims (销号), extension requests, and requests
//! under the response rule (诉求/事项), with what they are worth on a given day.
//!
//! Pure: values in, values out. The store keeps them; the bot and the CLI change them; the
//! digest counts them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::core::calendar::Calendar;
use crate::core::chat::Address;
use crate::core::ledger::Deadline;
use crate::core::rules::RequestCategory;
use crate::core::text::Language;

/// A claim of completion and the office's decision on it (销号申请).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// Its id.
    pub id: i64,
    /// The measure's code.
    pub code: String,
    /// Who claimed, by name.
    pub claimed_by: String,
    /// Who claimed, by address, when the claim came from a chat.
    pub claimed_by_user: Option<Address>,
    /// The chat the claim came from, to tell the decision to.
    pub chat_id: Option<Address>,
    /// When.
    pub claimed_at: DateTime<Utc>,
    /// Where it stands.
    pub state: ClaimState,
    /// An office member pressed 退回 and owes the reason.
    pub rejecting_user: Option<Address>,
    /// Who decided, by name.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it went back, or the office's note.
    pub reason: Option<String>,
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Waiting for the office (待核验).
    Pending,
    /// Verified: the measure is closed (已销号).
    Approved,
    /// Sent back with a reason (退回).
    Rejected,
    /// The measure went back to work without a decision (a status set by hand).
    Withdrawn,
}

impl ClaimState {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ClaimState::Pending => "pending",
            ClaimState::Approved => "approved",
            ClaimState::Rejected => "rejected",
            ClaimState::Withdrawn => "withdrawn",
        }
    }

    /// The state a code names.
    pub fn from_code(code: &str) -> Option<ClaimState> {
        [
            ClaimState::Pending,
            ClaimState::Approved,
            ClaimState::Rejected,
            ClaimState::Withdrawn,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// What a measure's change of status does to its claims (销号申请): the claim's state
/// machine, which the store carries out in the same transaction as the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFollow {
    /// No claim is concerned.
    None,
    /// The measure is claimed: a claim is opened, pending the office.
    Open,
    /// Closed without a claim: the office's own verification, recorded as a claim approved
    /// at once.
    ApprovedAtOnce,
    /// The pending claim ends in this state: closing approves it, anything else withdraws it.
    End(ClaimState),
}

/// What changing a measure's status from `from` to `to` does to its claims.
pub fn claim_follows(
    from: crate::core::ledger::Status,
    to: crate::core::ledger::Status,
) -> ClaimFollow {
    use crate::core::ledger::Status;
    if from == to {
        return ClaimFollow::None;
    }
    match (from, to) {
        (_, Status::Claimed) => ClaimFollow::Open,
        (Status::Claimed, Status::Closed) => ClaimFollow::End(ClaimState::Approved),
        (Status::Claimed, _) => ClaimFollow::End(ClaimState::Withdrawn),
        (_, Status::Closed) => ClaimFollow::ApprovedAtOnce,
        _ => ClaimFollow::None,
    }
}

/// The office's decision on a pending claim: the state it leaves the claim in, and the
/// measure's status (通过: 已销号; 退回: back to 推进中).
pub fn claim_decision(approve: bool) -> (ClaimState, crate::core::ledger::Status) {
    use crate::core::ledger::Status;
    match approve {
        true => (ClaimState::Approved, Status::Closed),
        false => (ClaimState::Rejected, Status::InProgress),
    }
}

/// Why someone may not decide a claim or an extension request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionRefusal {
    /// Only the office decides.
    NotOffice,
    /// It was decided already.
    Decided,
    /// Nobody decides their own (四眼原则: another office member must).
    Own,
}

/// Whether `decider`, an office member when `office`, may decide a request of `requester`
/// that is still `pending`.
pub fn may_decide(
    pending: bool,
    requester: Option<&Address>,
    decider: &Address,
    office: bool,
) -> Result<(), DecisionRefusal> {
    if !office {
        return Err(DecisionRefusal::NotOffice);
    }
    if !pending {
        return Err(DecisionRefusal::Decided);
    }
    if requester == Some(decider) {
        return Err(DecisionRefusal::Own);
    }
    Ok(())
}

/// A liaison's request for a later deadline (申请延期).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtensionRequest {
    /// Its id.
    pub id: i64,
    /// The measure's code.
    pub code: String,
    /// Who asked, by name.
    pub requested_by: String,
    /// Who asked, by address.
    pub requested_by_user: Option<Address>,
    /// The chat the request came from.
    pub chat_id: Option<Address>,
    /// The date asked for.
    pub until: NaiveDate,
    /// Why.
    pub reason: Option<String>,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// An office member pressed 退回 and owes the reason.
    pub rejecting_user: Option<Address>,
}

/// A request (诉求/事项) a unit must answer within the response rule's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Its id; people write it as `R12`.
    pub id: i64,
    /// The unit that must answer.
    pub unit: String,
    /// 咨询 / 一般 / 重大.
    pub category: RequestCategory,
    /// What is asked.
    pub body: String,
    /// The day it was raised, in the office's time zone.
    pub raised_on: NaiveDate,
    /// The day it must be answered by.
    pub due: NaiveDate,
    /// Who raised it.
    pub created_by: String,
    /// The answer, once given.
    pub answer: Option<String>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// The day it was answered, in the office's time zone.
    pub answered_on: Option<NaiveDate>,
}

/// Where a request stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RequestState {
    /// Not answered, and not yet due or due today.
    Open {
        /// Working days left until due (0: due today).
        working_days_left: i64,
    },
    /// Not answered, and past its limit.
    Late {
        /// Working days past due.
        overdue_days: i64,
    },
    /// Answered within the limit.
    AnsweredInTime,
    /// Answered after the limit.
    AnsweredLate {
        /// Working days past due when answered.
        overdue_days: i64,
    },
}

impl Request {
    /// The code people write: `R12`.
    pub fn code(&self) -> String {
        request_code(self.id)
    }

    /// Where it stands on `today`.
    pub fn state(&self, today: NaiveDate, calendar: &Calendar) -> RequestState {
        match self.answered_on {
            Some(on) if on <= self.due => RequestState::AnsweredInTime,
            // Answered after the limit on a day off: still at least one working day late.
            Some(on) => RequestState::AnsweredLate {
                overdue_days: calendar.working_days_between(self.due, on).max(1),
            },
            None if today <= self.due => RequestState::Open {
                working_days_left: calendar.working_days_between(today, self.due),
            },
            None => RequestState::Late {
                overdue_days: calendar.working_days_between(self.due, today).max(1),
            },
        }
    }
}

/// The code of request `id`: `R12`.
pub fn request_code(id: i64) -> String {
    format!("R{id}")
}

/// The request id a code names: `R12`, `r12`, `Ｒ12` or `12` → 12.
pub fn parse_request_code(text: &str) -> Option<i64> {
    let text = crate::core::ledger::parse::normalize(text);
    let digits = text
        .strip_prefix('R')
        .or_else(|| text.strip_prefix('r'))
        .unwrap_or(&text);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The category's name.
pub fn category_label(category: RequestCategory, language: Language) -> &'static str {
    match (category, language) {
        (RequestCategory::Consult, Language::Zh) => "咨询类",
        (RequestCategory::General, Language::Zh) => "一般性协调",
        (RequestCategory::Major, Language::Zh) => "重大事项",
        (RequestCategory::Consult, Language::En) => "consultation",
        (RequestCategory::General, Language::En) => "general",
        (RequestCategory::Major, Language::En) => "major",
    }
}

/// The category a code names (`consult`, `general`, `major`, or the Chinese words).
pub fn parse_category(text: &str) -> Option<RequestCategory> {
    match text.trim().to_lowercase().as_str() {
        "consult" | "咨询" | "咨询类" => Some(RequestCategory::Consult),
        "general" | "一般" | "一般性" | "一般性协调" => Some(RequestCategory::General),
        "major" | "重大" | "重大事项" => Some(RequestCategory::Major),
        _ => None,
    }
}

/// The stable code of a category, as the store keeps it.
pub fn category_code(category: RequestCategory) -> &'static str {
    match category {
        RequestCategory::Consult => "consult",
        RequestCategory::General => "general",
        RequestCategory::Major => "major",
    }
}

/// Why a measure's deadline cannot move to a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionRefusal {
    /// A long-term measure (长期坚持) has no deadline to move: it reports every cycle.
    LongTerm,
    /// The date is not after the deadline it has now.
    NotLater(NaiveDate),
}

/// Whether `current` may be extended to `until`; `None` when it may.
pub fn extension_refusal(current: &Deadline, until: NaiveDate) -> Option<ExtensionRefusal> {
    match current {
        Deadline::LongTerm(_) => Some(ExtensionRefusal::LongTerm),
        _ => match current.date() {
            Some(date) if until <= date => Some(ExtensionRefusal::NotLater(date)),
            _ => None,
        },
    }
}

/// What the claimant is told of the office's decision on their claim (销号申请).
pub fn claim_decided_text(
    code: &str,
    approved: bool,
    reason: Option<&str>,
    language: Language,
) -> String {
    let reason = reason.unwrap_or("");
    match (approved, language) {
        (true, Language::Zh) => format!("✅ {code} 销号申请已通过核验，已销号。"),
        (true, Language::En) => {
            format!("✅ {code}: the office verified it; the measure is closed.")
        }
        (false, Language::Zh) => {
            format!("↩️ {code} 销号申请被退回，已回到推进中。理由：{reason}")
        }
        (false, Language::En) => {
            format!("↩️ {code}: the claim was sent back; it is in progress again. Reason: {reason}")
        }
    }
}

/// What the liaison is told of the office's decision on their extension request (延期申请);
/// `old` is the deadline before, as stored.
pub fn extension_decided_text(
    code: &str,
    approved: bool,
    old: &str,
    until: NaiveDate,
    reason: Option<&str>,
    language: Language,
) -> String {
    let reason = reason.unwrap_or("");
    let old = crate::core::text::date_text(old, language);
    let until = crate::core::text::date(until, language);
    match (approved, language) {
        (true, Language::Zh) => format!("📅 {code} 延期申请已批准，时限由{old}调整为{until}。"),
        (true, Language::En) => {
            format!("📅 {code}: extension approved, the deadline moves from {old} to {until}.")
        }
        (false, Language::Zh) => format!("📅 {code} 延期申请未获同意，时限不变。理由：{reason}"),
        (false, Language::En) => {
            format!("📅 {code}: extension refused, the deadline stands. Reason: {reason}")
        }
    }
}

/// The refusal in words.
pub fn extension_refusal_text(refusal: ExtensionRefusal, language: Language) -> String {
    match (refusal, language) {
        (ExtensionRefusal::LongTerm, Language::Zh) => {
            "长期坚持类措施无完成时限，不适用延期。".to_string()
        }
        (ExtensionRefusal::LongTerm, Language::En) => {
            "A long-term measure reports every cycle and has no deadline to extend; ask the office."
                .to_string()
        }
        (ExtensionRefusal::NotLater(date), Language::Zh) => {
            format!(
                "延期日期须晚于现有时限{}。",
                crate::core::text::date(date, language)
            )
        }
        (ExtensionRefusal::NotLater(date), Language::En) => {
            format!("The new date must be after the current deadline, {date}.")
        }
    }
}

#[cfg(test)]
mod tests;
