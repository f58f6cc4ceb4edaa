//! The office's daily 待办 message: what waits for the supervision office itself. Claims
//! waiting for verification (oldest first, with the working days they have waited, marked
//! when past `rules.verify_within_working_days`), extension requests, coordination flags,
//! requests past their limit, the measures that reached 问责建议 today, and the closed ones due
//! for 回头看. Pure: the caller gathers the facts.

use chrono::NaiveDate;

use crate::core::calendar::Calendar;
use crate::core::chat::Message;
use crate::core::ledger::Measure;
use crate::core::text::{self, Language};
use crate::core::workflow::{Claim, ExtensionRequest, Request};

/// A coordination flag as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagLine {
    /// The measure's code.
    pub code: String,
    /// The unit that asked.
    pub unit: String,
    /// Why.
    pub reason: String,
}

/// What waits for the office on a day.
#[derive(Debug, Clone, Copy)]
pub struct OfficeTodo<'a> {
    /// Claims waiting for verification.
    pub claims: &'a [Claim],
    /// Extension requests waiting for a decision.
    pub extensions: &'a [ExtensionRequest],
    /// Flags not yet raised into requests.
    pub flags: &'a [FlagLine],
    /// Requests past their limit and unanswered, with the working days late.
    pub late_requests: &'a [(&'a Request, i64)],
    /// Measures that reached the office's step (问责建议) today.
    pub accountability: &'a [&'a Measure],
    /// 回头看: closed measures due for a re-check, with the day they were closed.
    pub recheck: &'a [(String, NaiveDate)],
}

impl OfficeTodo<'_> {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
            && self.extensions.is_empty()
            && self.flags.is_empty()
            && self.late_requests.is_empty()
            && self.accountability.is_empty()
            && self.recheck.is_empty()
    }
}

/// The office's 待办 message of `today`, or `None` when nothing waits. A claim counts its
/// working days from the day it was made (`claimed_on`, in the office's time zone).
pub fn todo_message(
    todo: &OfficeTodo<'_>,
    claimed_on: impl Fn(&Claim) -> NaiveDate,
    today: NaiveDate,
    calendar: &Calendar,
    verify_within: u32,
    language: Language,
) -> Option<Message> {
    if todo.is_empty() {
        return None;
    }
    let zh = language == Language::Zh;
    let mut lines = vec![if zh {
        format!("【今日待办】{}", text::date(today, language))
    } else {
        format!("[To do] {}", text::date(today, language))
    }];
    if !todo.accountability.is_empty() {
        lines.push(if zh {
            format!("⛔ 今日达到问责建议（{}项）：", todo.accountability.len())
        } else {
            format!(
                "⛔ Reached accountability today ({}):",
                todo.accountability.len()
            )
        });
        for m in todo.accountability {
            let leaders = match m.leaders.is_empty() {
                true => String::new(),
                false => format!(" · {}", m.leaders.join("、")),
            };
            lines.push(format!("  {} {}{leaders}", m.code, m.lead_unit));
        }
    }
    if !todo.claims.is_empty() {
        let mut claims: Vec<&Claim> = todo.claims.iter().collect();
        claims.sort_by_key(|c| (c.claimed_at, c.id));
        lines.push(if zh {
            format!(
                "📋 待核验的销号申请（{}项，{verify_within}个工作日内核验）：",
                claims.len()
            )
        } else {
            format!(
                "📋 Claims to verify ({}, within {verify_within} working days):",
                claims.len()
            )
        });
        for c in claims {
            let waited = calendar.working_days_between(claimed_on(c), today).max(0);
            let late = waited > i64::from(verify_within);
            lines.push(match (zh, late) {
                (true, true) => format!(
                    "  ⚠️ {} · {} · 已等待{waited}个工作日，超过核验时限",
                    c.code, c.claimed_by
                ),
                (true, false) => {
                    format!("  {} · {} · 已等待{waited}个工作日", c.code, c.claimed_by)
                }
                (false, true) => format!(
                    "  ⚠️ {} · {} · waiting {waited} working day(s), past the limit",
                    c.code, c.claimed_by
                ),
                (false, false) => format!(
                    "  {} · {} · waiting {waited} working day(s)",
                    c.code, c.claimed_by
                ),
            });
        }
    }
    if !todo.extensions.is_empty() {
        lines.push(if zh {
            format!("📅 延期申请（{}项）：", todo.extensions.len())
        } else {
            format!("📅 Extension requests ({}):", todo.extensions.len())
        });
        for e in todo.extensions {
            lines.push(format!(
                "  {} · {} → {}",
                e.code,
                e.requested_by,
                text::date(e.until, language)
            ));
        }
    }
    if !todo.flags.is_empty() {
        lines.push(if zh {
            format!("⚠️ 申请协调（{}项）：", todo.flags.len())
        } else {
            format!("⚠️ Coordination asked ({}):", todo.flags.len())
        });
        for f in todo.flags {
            lines.push(format!(
                "  {} · {} · {}",
                f.code,
                f.unit,
                crate::core::report::fit(&f.reason, 30).trim_end()
            ));
        }
    }
    if !todo.late_requests.is_empty() {
        lines.push(if zh {
            format!("⏰ 超时未答复的诉求（{}项）：", todo.late_requests.len())
        } else {
            format!(
                "⏰ Requests past their limit ({}):",
                todo.late_requests.len()
            )
        });
        for (r, days) in todo.late_requests {
            lines.push(if zh {
                format!("  {} · {} · 超时{days}个工作日", r.code(), r.unit)
            } else {
                format!("  {} · {} · {days} working day(s) late", r.code(), r.unit)
            });
        }
    }
    if !todo.recheck.is_empty() {
        lines.push(if zh {
            format!(
                "🔁 回头看（{}项，销号已满期限，请复核整改效果）：",
                todo.recheck.len()
            )
        } else {
            format!(
                "🔁 Look back ({}, closed long enough ago to re-check):",
                todo.recheck.len()
            )
        });
        for (code, closed) in todo.recheck {
            lines.push(if zh {
                format!("  {code} · {}销号", text::date(*closed, language))
            } else {
                format!("  {code} · closed {}", text::date(*closed, language))
            });
        }
    }
    Some(Message::text(lines.join("\n")))
}

#[cfg(test)]
mod tests;
