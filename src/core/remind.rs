//! Planning a reminder sweep: who gets which message about which measures, and what it says.
//!
//! Pure: measures, their assessments and the bound recipients in; messages with their
//! idempotency keys out. Delivery is the outbox's business.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::core::calendar::Calendar;
use crate::core::chat::{Address, Button, Message};
use crate::core::ledger::{Deadline, Measure, Status, fnv1a};
use crate::core::report::{fit, reason_text, status_label};
use crate::core::rules::{Assessment, Audience, Colour, Tier};
use crate::core::text::{self, Language};
use crate::core::workflow::{Request, RequestState, category_label};

/// At most this many measures in one reminder, so that its buttons stay usable.
pub const MAX_ITEMS: usize = 20;

/// Who a sweep can write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The person, for one-to-one chats.
    pub person_id: Option<i64>,
    /// Where to write: a chat on a channel.
    pub chat: Address,
    /// What they receive.
    pub kind: RecipientKind,
}

/// What a recipient receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientKind {
    /// A liaison: reminders for the measures of their units.
    Liaison {
        /// The units they answer for.
        units: Vec<String>,
    },
    /// A unit's group chat: reminders for the measures of its units.
    Group {
        /// The units bound to the group.
        units: Vec<String>,
    },
    /// A responsible leader: 催办 copies of their overdue measures.
    Leader {
        /// Their name as the ledger's 责任领导 column writes it.
        name: String,
    },
    /// A unit's head (单位主要负责人): 督办 of the measures their unit leads once a step
    /// of the ladder names the unit head.
    Head {
        /// The units they head.
        units: Vec<String>,
    },
}

/// The kinds of message a sweep sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A reminder to a liaison or a unit's group, with buttons.
    Reminder,
    /// A 催办 copy to a responsible leader.
    UrgeCopy,
    /// 督办 to a unit's head.
    Supervise,
}

impl Kind {
    /// The stable code, as the outbox stores it.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Reminder => "reminder",
            Kind::UrgeCopy => "urge_copy",
            Kind::Supervise => "supervise",
        }
    }
}

/// One message a sweep wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The idempotency key: recipient, kind, item set and day (and the part, when a list is
    /// split). The same sweep planned twice gives the same keys.
    pub key: String,
    /// Where: a chat on a channel.
    pub chat: Address,
    /// To whom, for one-to-one chats.
    pub person_id: Option<i64>,
    /// What kind, as the outbox stores it: `reminder`, `urge_copy`, `requests`, `digest`.
    pub kind: &'static str,
    /// What it says.
    pub message: Message,
    /// The measures it lists, in order; buttons and replies refer to them by position.
    pub items: Vec<String>,
    /// What else it is about (JSON), for replies to it: the requests it lists.
    pub context: Option<serde_json::Value>,
}

/// The actions a reminder's buttons offer.
pub const BUTTON_ACTIONS: [&str; 4] = ["done", "progress", "blocked", "extend"];

/// Whether a measure belongs in the liaisons' reminders: open and waiting for its unit
/// (not started or in progress), and yellow, red, or due today.
pub fn wants_reminder(measure: &Measure, assessment: &Assessment<'_>) -> bool {
    matches!(measure.status, Status::NotStarted | Status::InProgress)
        && (assessment.colour != Colour::Green || assessment.tier == Some(Tier::DueToday))
}

/// Red first (the most overdue first), then yellow (the soonest due first), then ledger order.
fn urgency(a: &Assessment<'_>) -> (u8, i64) {
    let rank = match a.colour {
        Colour::Red => 0,
        Colour::Yellow => 1,
        Colour::Green => 2,
    };
    let days = match a.tier {
        Some(Tier::Overdue { working_days, .. }) => -i64::from(working_days),
        Some(Tier::DueToday) => 0,
        Some(Tier::Upcoming { working_days }) => i64::from(working_days),
        None => i64::MAX,
    };
    (rank, days)
}

/// A measure at a step of the escalation ladder, as the history records it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReached {
    /// The measure's code.
    pub code: String,
    /// The step's key (`urge`, `supervise` …).
    pub key: String,
    /// The step's label (催办, 督办 …).
    pub label: String,
}

/// The open measures that are at a step of the ladder, with the step.
pub fn steps_reached(measures: &[Measure], assessments: &[Assessment<'_>]) -> Vec<StepReached> {
    measures
        .iter()
        .zip(assessments)
        .filter(|(m, _)| matches!(m.status, Status::NotStarted | Status::InProgress))
        .filter_map(|(m, a)| {
            a.step.map(|step| StepReached {
                code: m.code.clone(),
                key: step.key.clone(),
                label: step.label.clone(),
            })
        })
        .collect()
}

/// Plans the sweep of `today`.
pub fn plan(
    measures: &[Measure],
    assessments: &[Assessment<'_>],
    recipients: &[Recipient],
    today: NaiveDate,
    language: Language,
) -> Vec<Planned> {
    let mut due: Vec<usize> = (0..measures.len())
        .filter(|&i| wants_reminder(&measures[i], &assessments[i]))
        .collect();
    due.sort_by_key(|&i| (urgency(&assessments[i]), i));
    // Who is involved in what, by place in `due`: each recipient then reads the lists of
    // their units instead of every measure (10,000 liaisons × 100,000 measures otherwise).
    let mut by_unit: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_leader: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_head: HashMap<&str, Vec<usize>> = HashMap::new();
    for (place, &i) in due.iter().enumerate() {
        let measure = &measures[i];
        by_unit
            .entry(measure.lead_unit.as_str())
            .or_default()
            .push(place);
        for unit in &measure.units {
            by_unit.entry(unit.as_str()).or_default().push(place);
        }
        // 督办 reaches the head of the unit that leads the measure.
        if assessments[i]
            .step
            .is_some_and(|s| s.notify.contains(&Audience::UnitHead))
        {
            by_head
                .entry(measure.lead_unit.as_str())
                .or_default()
                .push(place);
        }
        if assessments[i]
            .step
            .is_some_and(|s| s.notify.contains(&Audience::Leader))
        {
            for leader in &measure.leaders {
                by_leader.entry(leader.as_str()).or_default().push(place);
            }
        }
    }
    let gather = |lists: Vec<&Vec<usize>>| -> Vec<usize> {
        let mut places: Vec<usize> = lists.into_iter().flatten().copied().collect();
        places.sort_unstable();
        places.dedup();
        places.into_iter().map(|place| due[place]).collect()
    };
    let mut out = Vec::new();
    for recipient in recipients {
        let (kind, items): (Kind, Vec<usize>) = match &recipient.kind {
            RecipientKind::Liaison { units } | RecipientKind::Group { units } => (
                Kind::Reminder,
                gather(
                    units
                        .iter()
                        .filter_map(|u| by_unit.get(u.as_str()))
                        .collect(),
                ),
            ),
            RecipientKind::Leader { name } => (
                Kind::UrgeCopy,
                gather(by_leader.get(name.as_str()).into_iter().collect()),
            ),
            RecipientKind::Head { units } => (
                Kind::Supervise,
                gather(
                    units
                        .iter()
                        .filter_map(|u| by_head.get(u.as_str()))
                        .collect(),
                ),
            ),
        };
        if items.is_empty() {
            continue;
        }
        out.extend(messages_for(
            recipient,
            kind,
            &items,
            measures,
            assessments,
            today,
            language,
        ));
    }
    out
}

fn messages_for(
    recipient: &Recipient,
    kind: Kind,
    items: &[usize],
    measures: &[Measure],
    assessments: &[Assessment<'_>],
    today: NaiveDate,
    language: Language,
) -> Vec<Planned> {
    let codes: Vec<&str> = items.iter().map(|&i| measures[i].code.as_str()).collect();
    let set = fnv1a(codes.join("\u{1f}").into_bytes());
    let limit = recipient.chat.channel.capabilities().text_limit;
    let chunks: Vec<Vec<usize>> =
        chunk_by_size(items, measures, assessments, kind, language, limit);
    let parts = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(part, chunk)| {
            let rows: Vec<(&Measure, &Assessment)> = chunk
                .iter()
                .map(|&i| (&measures[i], &assessments[i]))
                .collect();
            let message = render(kind, &rows, today, language);
            Planned {
                key: format!(
                    "{}:{}:{today}:{set:016x}:{}/{parts}",
                    kind.code(),
                    recipient.chat.key(),
                    part + 1
                ),
                chat: recipient.chat.clone(),
                person_id: recipient.person_id,
                kind: kind.code(),
                message,
                items: chunk.iter().map(|&i| measures[i].code.clone()).collect(),
                context: None,
            }
        })
        .collect()
}

/// Splits items into messages of at most [`MAX_ITEMS`] items and `limit` characters (the
/// recipient's channel's text limit).
fn chunk_by_size(
    items: &[usize],
    measures: &[Measure],
    assessments: &[Assessment<'_>],
    kind: Kind,
    language: Language,
    limit: usize,
) -> Vec<Vec<usize>> {
    let frame = header(kind, NaiveDate::MIN, 0, false, language)
        .chars()
        .count()
        + footer(kind, "0000-00", NaiveDate::MIN, language)
            .chars()
            .count()
        + 40;
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut size = frame;
    for &i in items {
        let line = item_line(kind, &measures[i], &assessments[i], language)
            .chars()
            .count()
            + 1;
        if !current.is_empty() && (current.len() == MAX_ITEMS || size + line > limit) {
            chunks.push(std::mem::take(&mut current));
            size = frame;
        }
        current.push(i);
        size += line;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn header(kind: Kind, today: NaiveDate, count: usize, urgent: bool, language: Language) -> String {
    let day = text::date(today, language);
    match (kind, language, urgent) {
        (Kind::Reminder, Language::Zh, true) => {
            format!("【催办】{day}，以下{count}项整改措施已逾期或即将到期，请抓紧办理：")
        }
        (Kind::Reminder, Language::Zh, false) => {
            format!("【督办提醒】{day}，以下{count}项整改措施请关注：")
        }
        (Kind::Reminder, Language::En, true) => {
            format!("[Urgent] {day}: {count} measure(s) overdue or due soon:")
        }
        (Kind::Reminder, Language::En, false) => {
            format!("[Reminder] {day}: {count} measure(s) need attention:")
        }
        (Kind::UrgeCopy, Language::Zh, _) => {
            format!("【督办抄报】{day}，您分管的{count}项整改措施已逾期：")
        }
        (Kind::UrgeCopy, Language::En, _) => {
            format!("[Copy to the leader] {day}: {count} measure(s) under you are overdue:")
        }
        (Kind::Supervise, Language::Zh, _) => {
            format!(
                "【督办】{day}，贵单位牵头的{count}项整改措施逾期未完成，请主要负责人督促落实："
            )
        }
        (Kind::Supervise, Language::En, _) => format!(
            "[Supervision] {day}: {count} measure(s) your unit leads are overdue; please see that they are done:"
        ),
    }
}

/// The footer: how to answer, with examples on `code` whose extension date comes after
/// `today`.
fn footer(kind: Kind, code: &str, today: NaiveDate, language: Language) -> String {
    let until = text::date(text::example_date(today), language);
    match (kind, language) {
        (Kind::Reminder, Language::Zh) => format!(
            "回复本消息并写明序号更新进展，如“{code} 已完成”“{code} 60% 合同已签”“{code} 需协调 原因”“{code} 延期至{until} 原因”；也可点下方按钮。"
        ),
        (Kind::Reminder, Language::En) => format!(
            "Reply to this message with a code, e.g. \"{code} done\", \"{code} 60% contract signed\", \"{code} blocked: reason\", \"{code} extend to {until} reason\", or press a button."
        ),
        (Kind::UrgeCopy, Language::Zh) => "牵头单位已同时收到催办。".to_string(),
        (Kind::UrgeCopy, Language::En) => "The lead units were urged at the same time.".to_string(),
        (Kind::Supervise, Language::Zh) => {
            "本单位联络员已同时收到催办；办结后由联络员在聊天中申请销号。".to_string()
        }
        (Kind::Supervise, Language::En) => {
            "Your unit's liaisons were urged too; they claim completion in the chat once done."
                .to_string()
        }
    }
}

fn light(colour: Colour) -> &'static str {
    match colour {
        Colour::Red => "🔴",
        Colour::Yellow => "🟡",
        Colour::Green => "🟢",
    }
}

/// The deadline as a reminder shows it.
fn deadline_text(measure: &Measure, assessment: &Assessment<'_>, language: Language) -> String {
    let zh = language == Language::Zh;
    match (measure.deadline, assessment.due) {
        (Deadline::Date(d), _) => text::date(d, language),
        (Deadline::Immediate(_), Some(due)) if zh => {
            format!("立行立改（{}）", text::date(due, language))
        }
        (Deadline::Immediate(_), Some(due)) => format!("immediate ({due})"),
        (Deadline::LongTerm(_), Some(due)) if zh => {
            format!("长期坚持，本期{}前报送", text::date(due, language))
        }
        (Deadline::LongTerm(_), Some(due)) => format!("long-term, report due {due}"),
        _ => measure.deadline_text.clone(),
    }
}

fn item_line(
    kind: Kind,
    measure: &Measure,
    assessment: &Assessment<'_>,
    language: Language,
) -> String {
    let zh = language == Language::Zh;
    let what = fit(&measure.content, 36).trim_end().to_string();
    let deadline = deadline_text(measure, assessment, language);
    let reason = reason_text(assessment, language);
    let status = status_label(measure.status, language);
    let label = if zh { "时限：" } else { "due " };
    match kind {
        Kind::Reminder => format!(
            "{} {} {what}\n    {label}{deadline} · {reason} · {status}",
            light(assessment.colour),
            measure.code
        ),
        Kind::UrgeCopy | Kind::Supervise => format!(
            "{} {} {what}\n    {}{} · {label}{deadline} · {reason}",
            light(assessment.colour),
            measure.code,
            if zh { "牵头单位：" } else { "lead unit " },
            measure.lead_unit
        ),
    }
}

/// The text and buttons of a reminder listing `rows`, as sent and as refreshed after a
/// button press.
pub fn render(
    kind: Kind,
    rows: &[(&Measure, &Assessment<'_>)],
    today: NaiveDate,
    language: Language,
) -> Message {
    let urgent = rows.iter().any(|(_, a)| {
        a.step.is_some_and(|s| {
            s.notify.contains(&Audience::UnitHead) || s.notify.contains(&Audience::Leader)
        })
    });
    let mut text = header(kind, today, rows.len(), urgent, language);
    for (m, a) in rows {
        text.push('\n');
        text.push_str(&item_line(kind, m, a, language));
    }
    text.push('\n');
    let example = rows.first().map_or("1-1", |(m, _)| m.code.as_str());
    text.push_str(&footer(kind, example, today, language));
    let buttons = match kind {
        Kind::UrgeCopy | Kind::Supervise => Vec::new(),
        Kind::Reminder => rows
            .iter()
            .enumerate()
            .map(|(position, (m, _))| buttons_for(position, &m.code, language))
            .collect(),
    };
    Message {
        text,
        buttons,
        file: None,
        no_preview: false,
    }
}

fn buttons_for(position: usize, code: &str, language: Language) -> Vec<Button> {
    let labels: [String; 4] = match language {
        Language::Zh => [
            format!("✅ {code} 完成"),
            "🔄 推进中".into(),
            "⚠️ 需协调".into(),
            "📅 申请延期".into(),
        ],
        Language::En => [
            format!("✅ {code} done"),
            "🔄 in progress".into(),
            "⚠️ blocked".into(),
            "📅 extend".into(),
        ],
    };
    // What a person could type instead: a channel with one-tap links sends it.
    let replies: [String; 4] = match language {
        Language::Zh => [
            format!("{code} 已完成"),
            format!("{code} 推进中"),
            format!("{code} 需协调"),
            format!("{code} 申请延期"),
        ],
        Language::En => [
            format!("{code} done"),
            format!("{code} in progress"),
            format!("{code} blocked"),
            format!("{code} extend"),
        ],
    };
    labels
        .into_iter()
        .zip(replies)
        .zip(BUTTON_ACTIONS)
        .map(|((label, reply), action)| {
            Button::new(label, format!("m:{position}:{action}")).with_reply(reply)
        })
        .collect()
}

#[cfg(test)]
mod tests;

/// Whether a request (诉求) belongs in its unit's reminders: not answered, and due within
/// `yellow_within` working days, or late.
pub fn wants_request_reminder(
    request: &Request,
    today: NaiveDate,
    calendar: &Calendar,
    yellow_within: u32,
) -> bool {
    match request.state(today, calendar) {
        RequestState::Late { .. } => true,
        RequestState::Open { working_days_left } => working_days_left <= i64::from(yellow_within),
        RequestState::AnsweredInTime | RequestState::AnsweredLate { .. } => false,
    }
}

/// Plans the reminders of open requests (诉求督办) to the liaisons and groups of the units
/// that must answer them: late ones first, then by due day.
pub fn plan_requests(
    requests: &[Request],
    recipients: &[Recipient],
    today: NaiveDate,
    calendar: &Calendar,
    yellow_within: u32,
    language: Language,
) -> Vec<Planned> {
    let mut due: Vec<&Request> = requests
        .iter()
        .filter(|r| wants_request_reminder(r, today, calendar, yellow_within))
        .collect();
    due.sort_by_key(|r| (r.due, r.id));
    let mut out = Vec::new();
    for recipient in recipients {
        let (RecipientKind::Liaison { units } | RecipientKind::Group { units }) = &recipient.kind
        else {
            continue;
        };
        let mine: Vec<&Request> = due
            .iter()
            .copied()
            .filter(|r| units.contains(&r.unit))
            .collect();
        let parts = mine.len().div_ceil(MAX_ITEMS);
        for (part, chunk) in mine.chunks(MAX_ITEMS).enumerate() {
            let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
            let set = fnv1a(
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
                    .into_bytes(),
            );
            out.push(Planned {
                key: format!(
                    "requests:{}:{today}:{set:016x}:{}/{parts}",
                    recipient.chat.key(),
                    part + 1
                ),
                chat: recipient.chat.clone(),
                person_id: recipient.person_id,
                kind: "requests",
                message: Message::text(render_requests(chunk, today, calendar, language)),
                items: Vec::new(),
                context: Some(serde_json::json!({ "requests": ids })),
            });
        }
    }
    out
}

/// The text of a reminder listing `requests`.
fn render_requests(
    requests: &[&Request],
    today: NaiveDate,
    calendar: &Calendar,
    language: Language,
) -> String {
    let zh = language == Language::Zh;
    let day = text::date(today, language);
    let mut lines = vec![if zh {
        format!("【诉求督办】{day}，以下{}项诉求待答复：", requests.len())
    } else {
        format!("[Requests] {day}: {} request(s) to answer:", requests.len())
    }];
    for r in requests {
        let (light, state) = match r.state(today, calendar) {
            RequestState::Late { overdue_days } if zh => {
                ("🔴", format!("超时{overdue_days}个工作日"))
            }
            RequestState::Late { overdue_days } => {
                ("🔴", format!("{overdue_days} working day(s) late"))
            }
            RequestState::Open {
                working_days_left: 0,
            } if zh => ("🟡", "今日到期".to_string()),
            RequestState::Open {
                working_days_left: 0,
            } => ("🟡", "due today".to_string()),
            RequestState::Open { working_days_left } if zh => {
                ("🟡", format!("还剩{working_days_left}个工作日"))
            }
            RequestState::Open { working_days_left } => {
                ("🟡", format!("{working_days_left} working day(s) left"))
            }
            _ => ("🟢", String::new()),
        };
        let category = category_label(r.category, language);
        let category = if zh {
            format!("【{category}】")
        } else {
            format!("[{category}]")
        };
        lines.push(format!(
            "{light} {} {category}{}\n    {}{} · {state} · {}",
            r.code(),
            fit(&r.body, 36).trim_end(),
            if zh { "时限：" } else { "due " },
            text::date(r.due, language),
            r.unit
        ));
    }
    // The example names the first request listed, so it can be copied as it is.
    let example = requests
        .first()
        .map_or_else(|| "R1".to_string(), |r| r.code());
    lines.push(if zh {
        format!("回复本消息答复（多项时写明编号），如“{example} 已与企业对接，问题已解决”；也可发送“/answer {example} 内容”。")
    } else {
        format!("Reply to this message to answer (with the code when several are listed), e.g. \"{example} solved with the company\", or send /answer {example} TEXT.")
    });
    lines.join("\n")
}
