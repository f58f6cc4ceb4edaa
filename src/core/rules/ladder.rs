//! The escalation ladder (督办阶梯): who hears about a measure, and when.
//!
//! The ladder is configuration. Each step names its anchor (the deadline or the day the
//! measure was handed out), an offset in working days, the audiences it reaches, and a label
//! for people. The default is the ladder of the source report (see [`default_ladder`]). A
//! county's 五书制 is the same mechanism with five steps (see `config/ladder-wushu.toml`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Context, Tier};

/// What a step counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The due date: offset -5 is five working days before it, +1 the working day after.
    Deadline,
    /// The day the measure entered the ledger (任务交办).
    Assigned,
}

/// Who a step reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The liaisons of the lead and responsible units (联络员).
    Liaison,
    /// The head of the lead unit (单位主要负责人).
    UnitHead,
    /// The responsible leader (责任领导), as a copy.
    Leader,
    /// The supervision office (整改办).
    Office,
    /// Named in the leadership digest (通报).
    Digest,
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderStep {
    /// A stable key, such as `remind`, `urge` or `report`.
    pub key: String,
    /// The label people read, such as 提醒, 催办, 通报.
    pub label: String,
    /// The English label.
    #[serde(default)]
    pub label_en: String,
    /// What the offset counts from.
    #[serde(default = "default_anchor")]
    pub anchor: Anchor,
    /// Working days from the anchor at which the step begins; negative is before it.
    pub offset: i32,
    /// Who the step reaches.
    pub notify: Vec<Audience>,
    /// 五书制: the document reaching the step issues (提醒书, 督办通知书, 告诫书, 问责建议书),
    /// sent as a .docx with the step's messages; none when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub document: String,
    /// The prefix of the document's number, numbered per year: `督办` gives `督办〔2024〕3号`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub document_prefix: String,
}

fn default_anchor() -> Anchor {
    Anchor::Deadline
}

/// The ladder that moved the district's units (提醒 → 催办 → 督办 → 通报 → 问责), in working
/// days from the deadline: 提醒 to the liaisons while yellow; 催办 with a copy to the
/// responsible leader from the first day overdue; 督办 to the unit head from the fifth; 通报,
/// named in the notice and the digest, from the tenth; 问责建议 on the office's list from the
/// twentieth. Each later step still reaches everyone the earlier ones did.
pub fn default_ladder() -> Vec<LadderStep> {
    use Audience::{Digest, Leader, Liaison, Office, UnitHead};
    let step =
        |key: &str, label: &str, label_en: &str, offset: i32, notify: Vec<Audience>| LadderStep {
            key: key.into(),
            label: label.into(),
            label_en: label_en.into(),
            anchor: Anchor::Deadline,
            offset,
            notify,
            document: String::new(),
            document_prefix: String::new(),
        };
    vec![
        step("remind", "提醒", "reminder", -5, vec![Liaison]),
        step("urge", "催办", "urge", 1, vec![Liaison, Leader]),
        step(
            "supervise",
            "督办",
            "supervision",
            5,
            vec![Liaison, UnitHead, Leader],
        ),
        step(
            "report",
            "通报",
            "named in the notice",
            10,
            vec![Liaison, UnitHead, Leader, Digest],
        ),
        step(
            "accountability",
            "问责建议",
            "accountability proposed",
            20,
            vec![Liaison, UnitHead, Leader, Digest, Office],
        ),
    ]
}

/// The step a measure has reached: the last step, in ladder order, whose start has passed.
pub(super) fn current_step<'r>(
    ladder: &'r [LadderStep],
    tier: Tier,
    assigned_on: NaiveDate,
    ctx: &Context<'_>,
) -> Option<&'r LadderStep> {
    let from_deadline: i64 = match tier {
        Tier::Upcoming { working_days } => -i64::from(working_days),
        Tier::DueToday => 0,
        Tier::Overdue { working_days, .. } => i64::from(working_days),
    };
    let from_assigned = ctx.calendar.working_days_between(assigned_on, ctx.today);
    ladder.iter().rev().find(|step| {
        let position = match step.anchor {
            Anchor::Deadline => from_deadline,
            Anchor::Assigned => from_assigned,
        };
        position >= i64::from(step.offset)
    })
}
