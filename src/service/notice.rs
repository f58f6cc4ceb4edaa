//! The periodic 通报 step: the notice of a week or a month, numbered per year, kept as a
//! .docx under the data directory and queued to everyone its audience names, with the
//! document. Issuing the same period again queues nothing new and keeps its number.

use chrono::{DateTime, Datelike, Utc};

use super::digest::DigestError;
use super::digest::{day_bounds, split_text};
use crate::config::Settings;
use crate::core::chat::{Attachment, FileKind, FileSource, Message};
use crate::core::notice::{Facts, Notice, Period, build};
use crate::core::remind::Planned;
use crate::core::rules::{Audience, Context, assess};
use crate::store::Store;

/// What one notice did.
#[derive(Debug, Clone)]
pub struct NoticeOutcome {
    /// The notice.
    pub notice: Notice,
    /// Whether it was issued now (false: the period's notice was issued before).
    pub new: bool,
    /// The document's path under the data directory (none on a dry run).
    pub document: Option<String>,
    /// The messages planned.
    pub planned: Vec<Planned>,
    /// How many of them were new to the outbox.
    pub queued: usize,
}

/// Makes the notice of the `period` before `now` and, unless `dry_run`, numbers it, keeps
/// its document and queues it to its audience.
pub async fn notice(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
    period: Period,
    dry_run: bool,
) -> Result<NoticeOutcome, DigestError> {
    let today = now.with_timezone(&settings.timezone).date_naive();
    let (from, to) = period.covering(today);
    let language = settings.config.language;
    let number = store
        .notice_number(period.code(), from, to, today.year(), now, dry_run)
        .await?;
    let measures = store.measures().await?;
    let ctx = Context {
        today,
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    let assessments: Vec<_> = measures.iter().map(|m| assess(m, &ctx)).collect();
    // From the start of the period's first day to the end of its last.
    let (start, end) = (day_bounds(settings, from).0, day_bounds(settings, to).1);
    let named_keys: Vec<&str> = settings
        .config
        .rules
        .ladder
        .iter()
        .filter(|s| s.notify.contains(&Audience::Digest))
        .map(|s| s.key.as_str())
        .collect();
    let newly_named = store.steps_reached_between(&named_keys, start, end).await?;
    let closed = store.closed_between(start, end).await?;
    let silent: Vec<(String, chrono::NaiveDate)> = store
        .silent_units()
        .await?
        .into_iter()
        .map(|s| {
            (
                s.unit,
                s.since.with_timezone(&settings.timezone).date_naive(),
            )
        })
        .collect();
    let built = build(
        &Facts {
            today,
            period,
            number: number.number,
            measures: &measures,
            assessments: &assessments,
            silent: &silent,
            newly_named: &newly_named,
            closed: &closed,
        },
        language,
    );
    let mut outcome = NoticeOutcome {
        notice: built,
        new: number.new,
        document: None,
        planned: Vec::new(),
        queued: 0,
    };
    if dry_run {
        return Ok(outcome);
    }
    let year = today.year();
    let path = format!(
        "notices/{year}/{}-{year}-{:03}.docx",
        period.code(),
        number.number
    );
    let bytes =
        crate::ingest::docx::notice_docx(&outcome.notice, settings.config.office_name(), language)
            .map_err(|e| DigestError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
    let target = settings.config.data_dir.join(&path);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DigestError::File {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
    }
    std::fs::write(&target, &bytes).map_err(|e| DigestError::File {
        path: target.display().to_string(),
        message: e.to_string(),
    })?;
    store.keep_file(&path, &bytes, now).await?;
    store.set_notice_path(year, number.number, &path).await?;
    outcome.document = Some(path.clone());
    let audience: Vec<&str> = settings
        .config
        .notice
        .audience
        .iter()
        .map(String::as_str)
        .collect();
    let channels = settings.config.channels();
    let key = format!("notice:{}:{from}", period.code());
    let mut seen = std::collections::HashSet::new();
    for (person_id, chat) in store.chats_of_roles(&audience).await? {
        if !channels.contains(&chat.channel) || !seen.insert(chat.clone()) {
            continue;
        }
        let parts = split_text(&outcome.notice.text, chat.channel.capabilities().text_limit);
        for (i, part) in parts.iter().enumerate() {
            outcome.planned.push(Planned {
                key: format!("{key}:{}:{}/{}", chat.key(), i + 1, parts.len()),
                chat: chat.clone(),
                person_id: Some(person_id),
                kind: "notice",
                message: Message::text(part.clone()),
                items: Vec::new(),
                context: None,
            });
        }
        outcome.planned.push(Planned {
            key: format!("{key}:{}:document", chat.key()),
            chat: chat.clone(),
            person_id: Some(person_id),
            kind: "notice",
            message: Message::file(
                Attachment {
                    kind: FileKind::Document,
                    source: FileSource::Stored(path.clone()),
                    name: format!("{}.docx", outcome.notice.number),
                },
                outcome.notice.number.clone(),
            ),
            items: Vec::new(),
            context: None,
        });
    }
    outcome.queued = store
        .enqueue_sweep(
            &format!("notice-{}", period.code()),
            today,
            &outcome.planned,
            now,
        )
        .await?;
    Ok(outcome)
}
