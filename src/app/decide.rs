//! The office's decisions, written once: a claim (销号申请) approved or sent back, and an
//! extension (延期申请) granted or refused, each told to the person who asked; and a
//! coordination flag (需协调) raised into a request. The bot calls them on a button or a
//! reply, the CLI on a command; both inside a transaction of the store.

use serde_json::json;

use crate::config::Settings;
use crate::core::chat::{Address, Message};
use crate::core::rules::{RequestCategory, response_due};
use crate::core::text::{self, Language};
use crate::core::workflow::{
    ClaimState, DecisionRefusal, category_label, claim_decided_text, extension_decided_text,
    extension_refusal, extension_refusal_text, may_decide, request_code,
};
use crate::store::{Change, NewRequest, StoreError, UpdateTx};

/// What the office decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A claim of completion, by id.
    Claim(i64),
    /// A request for a later deadline, by id.
    Extension(i64),
}

impl Subject {
    /// The table that keeps it, and the key a message about it carries.
    fn name(self) -> (&'static str, &'static str) {
        match self {
            Subject::Claim(_) => ("claims", "claim"),
            Subject::Extension(_) => ("extension_requests", "extension"),
        }
    }

    fn id(self) -> i64 {
        match self {
            Subject::Claim(id) | Subject::Extension(id) => id,
        }
    }

    /// What a message about it carries as its context (`{"claim": 12}`).
    pub fn context(self) -> serde_json::Value {
        json!({ self.name().1: self.id() })
    }
}

/// Who decides: the name the history keeps, the change it writes (with the chat it came
/// from, if any), whether they are the office, and who they are on their channel (none
/// from the command line).
#[derive(Debug, Clone)]
pub struct Decider<'a> {
    /// The change the decision writes; its actor is the decider as people read it.
    pub change: Change,
    /// Whether they speak for the office.
    pub office: bool,
    /// Who they are on their channel, when they decide from a chat.
    pub user: Option<&'a Address>,
}

/// What a decision came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Decided: the line for the office (the notice is marked with it), and the measure.
    Decided {
        /// The office's line (`✅ 已通过 · 整改办 张三`).
        line: String,
        /// The measure's code.
        code: String,
    },
    /// Not decided, and why, in words.
    Refused(String),
    /// A rejection needs its reason: the decider owes it (on `code`).
    NeedsReason {
        /// The measure's code.
        code: String,
    },
}

/// The request decided on, read the same way for both subjects.
struct Pending {
    code: String,
    pending: bool,
    requester: Option<Address>,
    chat: Option<Address>,
    /// For an extension: the date asked for, and its own reason.
    until: Option<chrono::NaiveDate>,
    asked_reason: Option<String>,
}

/// Approves (`approve`) or rejects a claim or an extension request, and tells the person who
/// asked. A rejection without a `reason` from a chat leaves the decider owing one.
pub async fn decide(
    tx: &mut UpdateTx<'_>,
    settings: &Settings,
    subject: Subject,
    approve: bool,
    reason: Option<&str>,
    decider: &Decider<'_>,
) -> Result<Outcome, StoreError> {
    let language = settings.config.language;
    let zh = language == Language::Zh;
    let pending = match subject {
        Subject::Claim(id) => tx.claim(id).await?.map(|c| Pending {
            code: c.code,
            pending: c.state == ClaimState::Pending,
            requester: c.claimed_by_user,
            chat: c.chat_id,
            until: None,
            asked_reason: None,
        }),
        Subject::Extension(id) => tx.extension(id).await?.map(|e| Pending {
            code: e.code,
            pending: e.state == "pending",
            requester: e.requested_by_user,
            chat: e.chat_id,
            until: Some(e.until),
            asked_reason: e.reason,
        }),
    };
    let Some(pending) = pending else {
        return Ok(Outcome::Refused(pick(
            language,
            "没有这项申请。",
            "No such request.",
        )));
    };
    let code = &pending.code;
    // From the command line there is no user: the office itself, who asked nothing.
    if let Some(decider_user) = decider.user {
        let requester = pending.requester.as_ref();
        if let Err(refusal) = may_decide(pending.pending, requester, decider_user, decider.office) {
            return Ok(Outcome::Refused(refusal_text(
                refusal, subject, code, settings,
            )));
        }
        if !approve && reason.is_none() {
            let (table, _) = subject.name();
            tx.awaiting_reason(table, subject.id(), decider_user)
                .await?;
            return Ok(Outcome::NeedsReason { code: code.clone() });
        }
    }
    let by = &decider.change.actor;
    let decided_already = Outcome::Refused(pick(language, "此申请已处理。", "Decided already."));
    let (line, told) = match subject {
        Subject::Claim(id) => {
            let mut change = decider.change.clone();
            change.note = reason.map(str::to_string);
            if tx
                .decide_claim(id, approve, reason, &change)
                .await?
                .is_none()
            {
                return Ok(decided_already);
            }
            let line = match (approve, zh) {
                (true, true) => format!("✅ 已通过 · {by}"),
                (true, false) => format!("✅ Approved by {by}"),
                (false, true) => format!("↩️ 已退回 · {by}：{}", reason.unwrap_or("")),
                (false, false) => format!("↩️ Rejected by {by}: {}", reason.unwrap_or("")),
            };
            (line, claim_decided_text(code, approve, reason, language))
        }
        Subject::Extension(id) => {
            let until = pending.until.expect("an extension asks for a date");
            if approve {
                // The deadline may have moved since the request (another one was approved).
                let measure = tx.measure(code).await?;
                if let Some(refusal) = extension_refusal(&measure.deadline, until) {
                    return Ok(Outcome::Refused(extension_refusal_text(refusal, language)));
                }
            }
            let mut change = decider.change.clone();
            change.note = Some(match reason {
                Some(reason) => reason.to_string(),
                None => pending.asked_reason.clone().unwrap_or_default(),
            });
            let Some(old) = tx.decide_extension(id, approve, reason, &change).await? else {
                return Ok(decided_already);
            };
            let line = match (approve, zh) {
                (true, true) => format!(
                    "✅ 已同意延期 · {by}：{} → {}",
                    text::date_text(&old, language),
                    text::date(until, language)
                ),
                (true, false) => format!("✅ Extension approved by {by}: {old} → {until}"),
                (false, true) => format!("↩️ 不予同意 · {by}：{}", reason.unwrap_or("")),
                (false, false) => {
                    format!("↩️ Extension refused by {by}: {}", reason.unwrap_or(""))
                }
            };
            let told = extension_decided_text(code, approve, &old, until, reason, language);
            (line, told)
        }
    };
    if let Some(chat) = &pending.chat {
        let (_, key) = subject.name();
        tx.enqueue_about(
            &format!("{key}-decided:{}", subject.id()),
            chat,
            "notice",
            &Message::text(told),
            &subject.context(),
        )
        .await?;
    }
    Ok(Outcome::Decided {
        line,
        code: code.clone(),
    })
}

/// Raises coordination flag `id` into a request of `category` for the measure's lead unit,
/// due by the response rule counted from the day the liaison asked. Returns the office's
/// line, or why not.
pub async fn raise_flag(
    tx: &mut UpdateTx<'_>,
    settings: &Settings,
    id: i64,
    category: RequestCategory,
    to: Option<&str>,
    by: &str,
) -> Result<Outcome, StoreError> {
    let language = settings.config.language;
    let zh = language == Language::Zh;
    let Some(flag) = tx.flag_by_id(id).await? else {
        return Ok(Outcome::Refused(pick(
            language,
            "没有这项协调事项。",
            "No such flag.",
        )));
    };
    if let Some(request) = flag.request_id {
        return Ok(Outcome::Refused(if zh {
            format!("已列为督办事项{}。", request_code(request))
        } else {
            format!("Raised already as {}.", request_code(request))
        }));
    }
    let asked = flag.asked_at.with_timezone(&settings.timezone).date_naive();
    let due = response_due(
        asked,
        category,
        &settings.config.rules.response,
        &settings.calendar,
    );
    let from = flag.unit.clone().unwrap_or_else(|| flag.lead_unit.clone());
    // The unit that answers: the one the office names (another unit, or the office itself),
    // else the measure's lead unit.
    let office = settings.config.office_name().to_string();
    let to = match to
        .map(crate::core::ledger::parse::name)
        .filter(|u| !u.is_empty())
    {
        None => flag.lead_unit.clone(),
        Some(unit) if unit == office || unit == settings.config.office.name => {
            tx.ensure_unit(&unit).await?;
            unit
        }
        Some(unit) => {
            if !tx.unit_exists(&unit).await? {
                return Ok(Outcome::Refused(if zh {
                    format!(
                        "台账中没有单位“{unit}”，请核对单位名称，或写“{office}”由{office}答复。"
                    )
                } else {
                    format!(
                        "No unit {unit:?} in the ledger; check the name, or name {office} to answer it yourselves."
                    )
                }));
            }
            unit
        }
    };
    let body = if zh {
        format!("{}需协调（{from}）：{}", flag.code, flag.reason)
    } else {
        format!("{} needs coordination ({from}): {}", flag.code, flag.reason)
    };
    let request = tx
        .raise_flag(
            id,
            &NewRequest {
                unit: &to,
                category,
                body: &body,
                raised_on: asked,
                due,
                by,
                at: tx.at(),
            },
        )
        .await?;
    let label = category_label(category, language);
    let line = if zh {
        format!(
            "📌 已列为督办事项{}（{label}，由{}答复，时限：{}） · {by}",
            request_code(request),
            to,
            text::date(due, Language::Zh)
        )
    } else {
        format!(
            "📌 Raised as {} ({label}, {} to answer by {due}) · {by}",
            request_code(request),
            to
        )
    };
    Ok(Outcome::Decided {
        line,
        code: flag.code,
    })
}

/// Why a decision may not be made, in words.
fn refusal_text(
    refusal: DecisionRefusal,
    subject: Subject,
    code: &str,
    settings: &Settings,
) -> String {
    let office = settings.config.office_name();
    let zh = settings.config.language == Language::Zh;
    let (kind_zh, kind_en) = match subject {
        Subject::Claim(_) => ("销号申请", "claim"),
        Subject::Extension(_) => ("延期申请", "extension request"),
    };
    match (refusal, zh) {
        (DecisionRefusal::NotOffice, true) => format!("只有{office}可以核验和审批。"),
        (DecisionRefusal::NotOffice, false) => {
            "Only the supervision office can decide this.".to_string()
        }
        (DecisionRefusal::Decided, true) => format!("{code} 的{kind_zh}已处理。"),
        (DecisionRefusal::Decided, false) => format!("The {kind_en} on {code} is decided already."),
        (DecisionRefusal::Own, true) => match subject {
            Subject::Claim(_) => format!("不能核验自己提交的销号申请，请由{office}其他同志核验。"),
            Subject::Extension(_) => "不能审批自己提交的延期申请。".to_string(),
        },
        (DecisionRefusal::Own, false) => match subject {
            Subject::Claim(_) => {
                "You cannot decide your own claim: another office member must.".to_string()
            }
            Subject::Extension(_) => "You cannot decide your own request.".to_string(),
        },
    }
}

fn pick(language: Language, zh: &str, en: &str) -> String {
    language.pick(zh, en).to_string()
}
