//! The use cases on one measure outside a chat, written once for the command line and the
//! web workbench: the office closes, sends back, re-opens and extends; a liaison reports
//! progress or claims completion. Each writes its history with the change's source and
//! person, and tells the people concerned in their chat through the outbox.

use chrono::NaiveDate;
use serde_json::json;

use crate::app::decide::{Decider, Outcome, Subject, decide};
use crate::config::Settings;
use crate::core::ledger::{Source, Status};
use crate::core::report::status_label;
use crate::core::text::{Language, date};
use crate::core::workflow::{ExtensionRefusal, extension_refusal, extension_refusal_text};
use crate::store::{Change, HistoryKind, NewEvidence, Store, StoreError};

/// Why a use case did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The measure is closed already.
    Closed,
    /// Only a claim can be sent back; the measure has this status.
    NotClaimed(Status),
    /// Only a closed measure can be re-opened; the measure has this status.
    NotClosed(Status),
    /// Only a closed measure is looked back on (回头看); the measure has this status.
    NotClosedToRecheck(Status),
    /// Someone else decided the claim meanwhile.
    DecidedMeanwhile,
    /// A new deadline must come after today.
    NotAfterToday {
        /// The date asked for.
        until: NaiveDate,
        /// Today.
        today: NaiveDate,
    },
    /// The deadline cannot move there.
    Extension(ExtensionRefusal),
    /// A report needs words.
    Empty,
    /// An evidence file is larger than `evidence.max_megabytes`, or empty.
    FileSize(String),
}

impl Refusal {
    /// The refusal in words, about the measure `code`.
    pub fn text(&self, code: &str, language: Language) -> String {
        let label = |s: Status| status_label(s, language);
        match self {
            Refusal::Closed => language.pick(
                format!("{code}已销号，无需再次销号"),
                format!("{code} is closed already"),
            ),
            Refusal::NotClaimed(s) => language.pick(
                format!(
                    "{code}当前为{}，不是申请销号：只有销号申请可以退回",
                    label(*s)
                ),
                format!(
                    "{code} is {}, not claimed: only a claim can be sent back",
                    label(*s)
                ),
            ),
            Refusal::NotClosed(s) => language.pick(
                format!("{code}当前为{}，尚未销号，无需重新打开", label(*s)),
                format!("{code} is {}, not closed: nothing to re-open", label(*s)),
            ),
            Refusal::NotClosedToRecheck(s) => language.pick(
                format!("{code}当前为{}，尚未销号，无需回头看", label(*s)),
                format!(
                    "{code} is {}, not closed: nothing to look back on",
                    label(*s)
                ),
            ),
            Refusal::DecidedMeanwhile => language.pick(
                "这项销号申请刚刚已由他人处理".to_string(),
                "the claim was decided meanwhile".to_string(),
            ),
            Refusal::NotAfterToday { until, today } => language.pick(
                format!(
                    "新的完成时限{}须晚于今天（{}）",
                    date(*until, language),
                    date(*today, language)
                ),
                format!("the new deadline {until} must be after today ({today})"),
            ),
            Refusal::Extension(refusal) => {
                let why = extension_refusal_text(*refusal, language);
                language.pick(format!("{code}：{why}"), format!("{code}: {why}"))
            }
            Refusal::Empty => {
                language.pick("请写明进展".to_string(), "write what was done".to_string())
            }
            Refusal::FileSize(name) => language.pick(
                format!("佐证材料“{name}”为空或超过大小限制，未保存任何内容"),
                format!("the evidence file {name:?} is empty or too large; nothing was kept"),
            ),
        }
    }
}

/// What went wrong in a use case on a measure.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// Nothing was done, for a reason the person can act on.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The store failed, or the measure does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a use case changed: the status before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
}

/// Closes a measure: approves its pending claim (telling the claimant), or closes it at once.
pub async fn close(
    store: &Store,
    settings: &Settings,
    code: &str,
    change: Change,
) -> Result<Done, MeasureError> {
    let status = store.measure(code).await?.status;
    match status {
        Status::Closed => Err(MeasureError::Refused(Refusal::Closed)),
        Status::Claimed => {
            let reason = change.note.clone();
            decide_claim(store, settings, code, true, reason.as_deref(), change).await?;
            Ok(Done {
                from: Status::Claimed,
                to: Status::Closed,
            })
        }
        _ => {
            let done = store.set_status(code, Status::Closed, &change).await?;
            Ok(Done {
                from: done.from,
                to: done.to,
            })
        }
    }
}

/// Sends a claim back to work with its reason, which goes to the claimant.
pub async fn reject(
    store: &Store,
    settings: &Settings,
    code: &str,
    reason: &str,
    change: Change,
) -> Result<Done, MeasureError> {
    let status = store.measure(code).await?.status;
    if status != Status::Claimed {
        return Err(MeasureError::Refused(Refusal::NotClaimed(status)));
    }
    decide_claim(store, settings, code, false, Some(reason), change).await?;
    Ok(Done {
        from: Status::Claimed,
        to: Status::InProgress,
    })
}

/// Re-opens a closed measure.
pub async fn reopen(store: &Store, code: &str, change: Change) -> Result<Done, MeasureError> {
    let status = store.measure(code).await?.status;
    if status != Status::Closed {
        return Err(MeasureError::Refused(Refusal::NotClosed(status)));
    }
    let done = store.set_status(code, Status::InProgress, &change).await?;
    Ok(Done {
        from: done.from,
        to: done.to,
    })
}

/// 回头看: the office's re-check of a closed measure confirms it (it stays closed, the
/// re-check in its history) or, with `reopen`, sends it back to work.
pub async fn recheck(
    store: &Store,
    code: &str,
    reopen: bool,
    change: Change,
) -> Result<Done, MeasureError> {
    let status = store.measure(code).await?.status;
    if status != Status::Closed {
        return Err(MeasureError::Refused(Refusal::NotClosedToRecheck(status)));
    }
    if reopen {
        return self::reopen(store, code, change).await;
    }
    store.confirm_recheck(code, &change).await?;
    Ok(Done {
        from: Status::Closed,
        to: Status::Closed,
    })
}

/// Moves a measure's deadline to `until`, after `today`; returns the old deadline as the
/// ledger wrote it.
pub async fn extend(
    store: &Store,
    code: &str,
    until: NaiveDate,
    today: NaiveDate,
    change: Change,
) -> Result<String, MeasureError> {
    if until <= today {
        return Err(MeasureError::Refused(Refusal::NotAfterToday {
            until,
            today,
        }));
    }
    let measure = store.measure(code).await?;
    if let Some(refusal) = extension_refusal(&measure.deadline, until) {
        return Err(MeasureError::Refused(Refusal::Extension(refusal)));
    }
    Ok(store.extend(code, until, &change).await?)
}

/// An evidence file uploaded with a report: its name as sent, and its bytes.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file's name.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// A liaison's report on a measure outside a chat: a progress note (a measure not started
/// moves to 推进中), or, with `claim`, a claim of completion that goes to the office to
/// verify, with its evidence kept as chat evidence is (by SHA-256 under the data directory,
/// who and when). `who` signs the office's notice.
#[allow(clippy::too_many_arguments)]
pub async fn report(
    store: &Store,
    settings: &Settings,
    code: &str,
    note: &str,
    claim: bool,
    evidence: &[Upload],
    who: &str,
    change: Change,
) -> Result<Done, MeasureError> {
    let note = note.trim();
    if note.is_empty() && !claim && evidence.is_empty() {
        return Err(MeasureError::Refused(Refusal::Empty));
    }
    let limit = settings
        .config
        .evidence
        .max_megabytes
        .saturating_mul(1 << 20);
    if let Some(file) = evidence
        .iter()
        .find(|f| f.bytes.is_empty() || f.bytes.len() as u64 > limit)
    {
        return Err(MeasureError::Refused(Refusal::FileSize(file.name.clone())));
    }
    // The files first: a file on disk that no row names is harmless; a row without its
    // file is not.
    let mut kept = Vec::with_capacity(evidence.len());
    for file in evidence {
        let sha256 = crate::app::signin::sha256_hex(&file.bytes);
        let path = crate::app::bot::evidence_path(&sha256, &file.name);
        crate::app::bot::store_file(&settings.config.data_dir, &path, &file.bytes).map_err(
            |e| StoreError::Corrupt {
                column: "evidence file",
                value: e.to_string(),
            },
        )?;
        store.keep_file(&path, &file.bytes, change.at).await?;
        kept.push((sha256, path));
    }
    let mut tx = store.begin_change(change.at).await?;
    let Some((id, status)) = tx.find_measure(code).await? else {
        return Err(MeasureError::Store(
            store
                .measure(code)
                .await
                .err()
                .unwrap_or(StoreError::NoSuchMeasure {
                    code: code.to_string(),
                    nearest: Vec::new(),
                }),
        ));
    };
    if status == Status::Closed {
        return Err(MeasureError::Refused(Refusal::Closed));
    }
    for (file, (sha256, path)) in evidence.iter().zip(&kept) {
        let lower = file.name.to_lowercase();
        let photo = [".jpg", ".jpeg", ".png", ".gif", ".webp"]
            .iter()
            .any(|e| lower.ends_with(e));
        tx.add_evidence(
            &NewEvidence {
                measure_id: id,
                file_id: "",
                file_name: &file.name,
                kind: if photo { "photo" } else { "document" },
                size: file.bytes.len() as i64,
                sha256,
                path,
            },
            &change,
        )
        .await?;
    }
    let to = match (claim, status) {
        (true, Status::Claimed) => Status::Claimed,
        (true, _) => {
            let done = tx.set_status(id, Status::Claimed, &change).await?;
            if let Some(claim) = done.claim {
                tx.adopt_evidence(id, claim).await?;
                let measure = tx.measure(code).await?;
                let evidence = tx.evidence_count(id).await?;
                let message = crate::app::bot::claim_notice(
                    &measure,
                    claim,
                    who,
                    evidence,
                    settings.config.language,
                );
                tx.notify_office(
                    &format!("claim:{claim}"),
                    "claim",
                    &message,
                    &json!({ "claim": claim }),
                )
                .await?;
            }
            Status::Claimed
        }
        (false, Status::NotStarted) => {
            tx.set_status(id, Status::InProgress, &change).await?;
            Status::InProgress
        }
        (false, status) => {
            tx.record(id, HistoryKind::Note, status, &change).await?;
            status
        }
    };
    if !note.is_empty() {
        tx.add_note(id, note, &change).await?;
    }
    tx.commit().await?;
    Ok(Done { from: status, to })
}

/// The office's decision on a measure's pending claim: the same use case as a button in a
/// chat, which tells the claimant.
async fn decide_claim(
    store: &Store,
    settings: &Settings,
    code: &str,
    approve: bool,
    reason: Option<&str>,
    change: Change,
) -> Result<(), MeasureError> {
    let mut tx = store.begin_change(change.at).await?;
    // A measure imported as 申请销号 has no claim yet: it is the ledger's.
    let imported = Change {
        actor: "台账导入".into(),
        source: Source::Import,
        note: None,
        chat: None,
        ..change.clone()
    };
    let pending = match tx.find_measure(code).await? {
        Some((id, _)) => tx.claim_of_claimed(id, &imported).await?,
        None => None,
    };
    let Some(claim) = pending else {
        return Err(MeasureError::Refused(Refusal::DecidedMeanwhile));
    };
    let decider = Decider {
        change,
        office: true,
        user: None,
    };
    match decide(
        &mut tx,
        settings,
        Subject::Claim(claim),
        approve,
        reason,
        &decider,
    )
    .await?
    {
        Outcome::Decided { .. } => {
            tx.commit().await?;
            Ok(())
        }
        Outcome::Refused(_) | Outcome::NeedsReason { .. } => {
            Err(MeasureError::Refused(Refusal::DecidedMeanwhile))
        }
    }
}
