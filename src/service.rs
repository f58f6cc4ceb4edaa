//! The service: the reminder sweep as one step, and the loops of `duban run` around the
//! steps — polling for updates, delivering the outbox, the daily schedule — with a graceful
//! shutdown. A database or network error in a loop is logged and retried; it never ends it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::app::bot;
use crate::channels::{Channel, Channels, Limiter, SendError};
use crate::config::{Language, Settings};
use crate::core::chat::{Action, Address, ChannelKind, Event, Incoming, Message};
use crate::core::remind::{Planned, plan, plan_requests};
use crate::core::rules::{Assessment, Context, assess};
use crate::service::outbox::{Delivery, deliver_once};
use crate::store::{Store, StoreError};

/// The name of the daily sweep in the runs table.
pub const SWEEP: &str = "sweep";

/// What one sweep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepOutcome {
    /// The day swept, in the office's time zone.
    pub day: NaiveDate,
    /// Why nothing was planned, when the day is off.
    pub day_off: bool,
    /// The messages planned.
    pub planned: Vec<Planned>,
    /// How many of them were new to the outbox.
    pub queued: usize,
    /// The open measures at a step of the ladder today.
    pub steps: Vec<crate::core::remind::StepReached>,
    /// How many of them reached their step today (recorded in the history now).
    pub steps_recorded: usize,
}

/// Plans the reminders of `now`'s day. Nothing on a day off, unless the config or `force`
/// says otherwise.
pub async fn plan_sweep(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
    force: bool,
) -> Result<SweepOutcome, StoreError> {
    let day = now.with_timezone(&settings.timezone).date_naive();
    if !force
        && !settings.config.schedule.send_on_days_off
        && !settings.calendar.is_working_day(day)
    {
        return Ok(SweepOutcome {
            day,
            day_off: true,
            planned: Vec::new(),
            queued: 0,
            steps: Vec::new(),
            steps_recorded: 0,
        });
    }
    let measures = store.measures().await?;
    let ctx = Context {
        today: day,
        calendar: &settings.calendar,
        rules: &settings.config.rules,
        timezone: settings.timezone,
    };
    let assessments: Vec<Assessment> = measures.iter().map(|m| assess(m, &ctx)).collect();
    // Only the channels the configuration runs: a message queued for another would wait
    // for ever.
    let channels = settings.config.channels();
    let recipients: Vec<_> = store
        .recipients()
        .await?
        .into_iter()
        .filter(|r| channels.contains(&r.chat.channel))
        .collect();
    let mut planned = plan(
        &measures,
        &assessments,
        &recipients,
        day,
        settings.config.language,
    );
    let requests = store.requests().await?;
    planned.extend(plan_requests(
        &requests,
        &recipients,
        day,
        &settings.calendar,
        settings.config.rules.yellow_within_working_days,
        settings.config.language,
    ));
    Ok(SweepOutcome {
        day,
        day_off: false,
        planned,
        queued: 0,
        steps: crate::core::remind::steps_reached(&measures, &assessments),
        steps_recorded: 0,
    })
}

/// One sweep: plans the reminders of `now`'s day and queues them, once per key; marks the
/// day's sweep done.
pub async fn sweep(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
    force: bool,
) -> Result<SweepOutcome, StoreError> {
    let mut outcome = plan_sweep(store, settings, now, force).await?;
    if outcome.day_off {
        return Ok(outcome);
    }
    record_steps_and_plan_office(store, settings, &mut outcome, now, false).await?;
    outcome.queued = store
        .enqueue_sweep(SWEEP, outcome.day, &outcome.planned, now)
        .await?;
    Ok(outcome)
}

/// Records the ladder's steps reached today in the history (with `dry_run`, only finds
/// them) and adds the office's daily 待办 message to the sweep: claims waiting for
/// verification, extension requests, flags, late requests, and what reached the office's
/// step (问责建议) today; one message per office chat, none when nothing waits.
pub async fn record_steps_and_plan_office(
    store: &Store,
    settings: &Settings,
    outcome: &mut SweepOutcome,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<(), StoreError> {
    use crate::core::office::{FlagLine, OfficeTodo, todo_message};
    use crate::core::rules::Audience;
    let new = store.record_steps(&outcome.steps, now, dry_run).await?;
    outcome.steps_recorded = new.len();
    if !dry_run {
        issue_step_documents(store, settings, outcome, &new, now).await?;
    }
    let office_steps: Vec<&str> = settings
        .config
        .rules
        .ladder
        .iter()
        .filter(|s| s.notify.contains(&Audience::Office))
        .map(|s| s.key.as_str())
        .collect();
    let mut reached = Vec::new();
    for step in new
        .iter()
        .filter(|s| office_steps.contains(&s.key.as_str()))
    {
        reached.push(store.measure(&step.code).await?);
    }
    let reached: Vec<&crate::core::ledger::Measure> = reached.iter().collect();
    let queue = store.office_queue().await?;
    let flags: Vec<FlagLine> = queue
        .flags
        .iter()
        .map(|f| FlagLine {
            code: f.code.clone(),
            unit: f.unit.clone().unwrap_or_else(|| f.lead_unit.clone()),
            reason: f.reason.clone(),
        })
        .collect();
    let requests = store.requests().await?;
    let late: Vec<(&crate::core::workflow::Request, i64)> = requests
        .iter()
        .filter_map(|r| match r.state(outcome.day, &settings.calendar) {
            crate::core::workflow::RequestState::Late { overdue_days } => Some((r, overdue_days)),
            _ => None,
        })
        .collect();
    let look_back = settings.config.rules.look_back_months;
    let recheck: Vec<(String, chrono::NaiveDate)> = match look_back {
        0 => Vec::new(),
        months => {
            // Closed on or before the day `months` ago: up to that day's end.
            let day = outcome
                .day
                .checked_sub_months(chrono::Months::new(months))
                .unwrap_or(outcome.day);
            let cutoff = digest::day_bounds(settings, day).1;
            store
                .due_for_recheck(cutoff)
                .await?
                .into_iter()
                .map(|(code, at)| (code, at.with_timezone(&settings.timezone).date_naive()))
                .collect()
        }
    };
    let todo = OfficeTodo {
        recheck: &recheck,
        claims: &queue.claims,
        extensions: &queue.extensions,
        flags: &flags,
        late_requests: &late,
        accountability: &reached,
    };
    let timezone = settings.timezone;
    let Some(message) = todo_message(
        &todo,
        |c| c.claimed_at.with_timezone(&timezone).date_naive(),
        outcome.day,
        &settings.calendar,
        settings.config.rules.verify_within_working_days,
        settings.config.language,
    ) else {
        return Ok(());
    };
    let channels = settings.config.channels();
    for chat in store.office_chats().await? {
        if !channels.contains(&chat.channel) {
            continue;
        }
        outcome.planned.push(crate::core::remind::Planned {
            key: format!("office_todo:{}:{}", outcome.day, chat.key()),
            chat,
            person_id: None,
            kind: "office_todo",
            message: message.clone(),
            items: Vec::new(),
            context: None,
        });
    }
    Ok(())
}

/// 五书制: for each step newly reached whose configuration names a document, issues it
/// (numbered per year and prefix, a .docx kept under `data_dir/documents/`, its number in
/// the step's history row) and adds it to the sweep for the step's audience: the liaisons
/// and groups of the measure's units, the lead unit's head, the responsible leaders, the
/// office.
async fn issue_step_documents(
    store: &Store,
    settings: &Settings,
    outcome: &mut SweepOutcome,
    new: &[crate::core::remind::StepReached],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use crate::core::chat::{Attachment, FileKind, FileSource, Message};
    use crate::core::remind::RecipientKind;
    use crate::core::rules::Audience;
    use chrono::Datelike;
    let documented: Vec<_> = new
        .iter()
        .filter_map(|reached| {
            let step = settings
                .config
                .rules
                .ladder
                .iter()
                .find(|s| s.key == reached.key && !s.document.is_empty())?;
            Some((reached, step))
        })
        .collect();
    if documented.is_empty() {
        return Ok(());
    }
    let channels = settings.config.channels();
    let recipients: Vec<_> = store
        .recipients()
        .await?
        .into_iter()
        .filter(|r| channels.contains(&r.chat.channel))
        .collect();
    let office_chats = store.office_chats().await?;
    let language = settings.config.language;
    let year = outcome.day.year();
    let date = crate::core::text::date(outcome.day, language);
    for (reached, step) in documented {
        let measure = store.measure(&reached.code).await?;
        let prefix = match step.document_prefix.as_str() {
            "" => "督办",
            prefix => prefix,
        };
        let issued = store
            .step_document_number(&measure.code, &step.key, prefix, year, now)
            .await?;
        let number = format!("{prefix}〔{year}〕{}号", issued.number);
        let path = format!("documents/{year}/{prefix}-{year}-{:03}.docx", issued.number);
        let body = vec![
            format!(
                "你单位牵头的整改措施“{} {}”，完成时限为{}，{}。",
                measure.code,
                measure.content,
                measure.deadline.describe(language),
                crate::core::report::reason_text(
                    &crate::core::rules::assess(
                        &measure,
                        &crate::core::rules::Context {
                            today: outcome.day,
                            calendar: &settings.calendar,
                            rules: &settings.config.rules,
                            timezone: settings.timezone,
                        }
                    ),
                    language
                )
            ),
            format!(
                "根据督办工作要求，现予以{}，请你单位高度重视，抓紧落实整改，并将整改情况按时报送{}。",
                step.label,
                settings.config.office_name()
            ),
        ];
        let bytes = crate::ingest::docx::step_docx(&crate::ingest::docx::StepDocument {
            title: &step.document,
            number: &number,
            to: &measure.lead_unit,
            body: &body,
            office: settings.config.office_name(),
            date: &date,
        })
        .map_err(|e| StoreError::Corrupt {
            column: "step document",
            value: e.to_string(),
        })?;
        let target = settings.config.data_dir.join(&path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Corrupt {
                column: "step document",
                value: e.to_string(),
            })?;
        }
        std::fs::write(&target, &bytes).map_err(|e| StoreError::Corrupt {
            column: "step document",
            value: e.to_string(),
        })?;
        store.keep_file(&path, &bytes, now).await?;
        // Whom the step reaches, for this measure.
        let mut chats = Vec::new();
        for r in &recipients {
            let reaches = match &r.kind {
                RecipientKind::Liaison { units } | RecipientKind::Group { units } => {
                    step.notify.contains(&Audience::Liaison)
                        && units.iter().any(|u| measure.involves(u))
                }
                RecipientKind::Head { units } => {
                    step.notify.contains(&Audience::UnitHead) && units.contains(&measure.lead_unit)
                }
                RecipientKind::Leader { name } => {
                    step.notify.contains(&Audience::Leader) && measure.leaders.contains(name)
                }
            };
            if reaches && !chats.iter().any(|(c, _)| *c == r.chat) {
                chats.push((r.chat.clone(), r.person_id));
            }
        }
        if step.notify.contains(&Audience::Office) {
            for chat in &office_chats {
                if channels.contains(&chat.channel) && !chats.iter().any(|(c, _)| c == chat) {
                    chats.push((chat.clone(), None));
                }
            }
        }
        for (chat, person_id) in chats {
            outcome.planned.push(crate::core::remind::Planned {
                key: format!("stepdoc:{}:{}:{}", measure.code, step.key, chat.key()),
                chat,
                person_id,
                kind: "step_document",
                message: Message::file(
                    Attachment {
                        kind: FileKind::Document,
                        source: FileSource::Stored(path.clone()),
                        name: format!("{}{number}.docx", step.document),
                    },
                    format!(
                        "{}（{number}）：{} {}",
                        step.document, measure.code, measure.lead_unit
                    ),
                ),
                items: Vec::new(),
                context: None,
            });
        }
    }
    Ok(())
}

/// Whether today's sweep should have run by `now` and has not: the service catches it up
/// once at start.
pub async fn sweep_missed(
    store: &Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let local = now.with_timezone(&settings.timezone);
    let day = local.date_naive();
    let Some(at) = settings.config.schedule.sweep_time() else {
        return Ok(false);
    };
    let sweep_day =
        settings.config.schedule.send_on_days_off || settings.calendar.is_working_day(day);
    Ok(sweep_day && local.time() >= at && !store.run_done(SWEEP, day).await?)
}

/// Wakes every delivery loop (one per channel) when something was queued. A ring while a
/// loop is busy is not lost: the loop sees it when it next waits.
#[derive(Debug)]
pub struct Wake {
    rung: watch::Sender<u64>,
}

impl Default for Wake {
    fn default() -> Wake {
        Wake {
            rung: watch::Sender::new(0),
        }
    }
}

impl Wake {
    /// A bell nobody has rung.
    pub fn new() -> Wake {
        Wake::default()
    }

    /// Wakes every loop waiting, and every loop the next time it waits.
    pub fn ring(&self) {
        self.rung.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A loop's ear for the bell.
    pub fn listen(&self) -> watch::Receiver<u64> {
        self.rung.subscribe()
    }
}

/// Where updates come from: one call, one batch (a long poll, or a line typed).
pub trait UpdateSource: Send {
    /// The channel the updates come from.
    fn channel(&self) -> ChannelKind;

    /// The next updates after `after` (the channel's own update id); an empty batch when
    /// none came in time; `None` when the source has ended (the console's input closed).
    fn next(
        &mut self,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Option<Vec<Incoming>>, SendError>> + Send;
}

/// Handles one batch of updates of `channel` in order, and records where the channel was
/// read up to. Updates without a file are applied together ([`apply_batch`]: one
/// transaction, one commit); an update with a file goes alone, its file fetched before its
/// transaction ([`apply_or_hold`]). Returns the id of the last update handled, which is
/// before the batch's end when the database failed in a way that may pass (busy,
/// unreachable): the rest will come again.
pub async fn handle_batch(
    store: &Store,
    settings: &Settings,
    channel: &dyn Channel,
    batch: &[Incoming],
    wake: &Wake,
) -> (Option<String>, Option<(String, StoreError)>) {
    let mut last: Option<String> = None;
    let mut rest = batch;
    while let Some(first) = rest.first() {
        let now = Utc::now();
        if matches!(first.event, Event::File { .. }) {
            if let Err(e) = apply_or_hold(store, settings, channel, first, wake, now).await {
                return (last, Some((first.update_id.clone(), e)));
            }
            if let Err(e) = store.set_cursor(first.channel, &first.update_id, now).await {
                tracing::warn!("recording where {} was read up to: {e}", first.channel);
            }
            last = Some(first.update_id.clone());
            rest = &rest[1..];
            continue;
        }
        let files = rest
            .iter()
            .position(|i| matches!(i.event, Event::File { .. }))
            .unwrap_or(rest.len());
        let (group, tail) = rest.split_at(files);
        if let Err(e) = apply_batch(store, settings, channel, group, wake, now, true).await {
            return (last, Some((group[0].update_id.clone(), e)));
        }
        last = group.last().map(|i| i.update_id.clone());
        rest = tail;
    }
    (last, None)
}

/// What became of a batch of updates applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// What became of each update, in the batch's order.
    pub outcomes: Vec<Applied>,
    /// The updates that failed inside the batch: rolled back there, and tried again alone
    /// once the rest had committed.
    pub retried_alone: Vec<String>,
}

/// Applies updates of `channel` (none carrying a file) in one transaction: one commit, one
/// sync to disk for all of them (group commit). The batch is first applied without
/// savepoints; when an update in it fails, the batch is rolled back and applied again with
/// each update inside a savepoint of its own. An update that fails for a reason that does
/// not pass by itself is then rolled back to its savepoint while the others go on; once the batch has committed it is tried again alone
/// ([`apply_or_hold`]: applied, or held back), and the later updates of its chat in the
/// batch follow it alone, so that one chat's updates keep their order. With `cursor`,
/// where the channel was read up to is written in the same transaction. Nothing is done on
/// the channel (a button's toast, an edited reminder) before the batch has committed. A
/// failure that may pass (the database busy or unreachable) rolls the whole batch back and
/// is returned: the updates come again.
pub async fn apply_batch(
    store: &Store,
    settings: &Settings,
    channel: &dyn Channel,
    group: &[Incoming],
    wake: &Wake,
    now: DateTime<Utc>,
    cursor: bool,
) -> Result<BatchOutcome, StoreError> {
    if let Some(done) =
        apply_group(store, settings, channel, group, wake, now, cursor, false).await?
    {
        return Ok(done);
    }
    let done = apply_group(store, settings, channel, group, wake, now, cursor, true).await?;
    Ok(done.unwrap_or_default())
}

/// One try of [`apply_batch`], with a savepoint per update when `careful`. Without, an
/// update that fails rolls the batch back and `None` is returned: nothing was written.
#[allow(clippy::too_many_arguments)]
async fn apply_group(
    store: &Store,
    settings: &Settings,
    channel: &dyn Channel,
    group: &[Incoming],
    wake: &Wake,
    now: DateTime<Utc>,
    cursor: bool,
    careful: bool,
) -> Result<Option<BatchOutcome>, StoreError> {
    let Some(end) = group.last() else {
        return Ok(Some(BatchOutcome::default()));
    };
    let caps = channel.capabilities();
    let mut outcomes = vec![Applied::Applied; group.len()];
    let mut handled = Vec::with_capacity(group.len());
    // The updates to try alone after the commit, and the chats they stop.
    let mut alone: Vec<usize> = Vec::new();
    let mut stopped: std::collections::HashSet<(ChannelKind, &str)> = Default::default();
    let mut batch = store.begin_batch(careful).await?;
    batch.expect_measures(group.iter().filter_map(bot::code_named));
    // Updates of a chat with one held back wait behind it; the others are marked as seen
    // all at once, and applied if they were not seen before.
    let mut behind = vec![false; group.len()];
    for (i, incoming) in group.iter().enumerate() {
        behind[i] = batch.chat_held(incoming.channel, &incoming.chat_id).await?;
    }
    let marks: Vec<(ChannelKind, &str)> = group
        .iter()
        .zip(&behind)
        .filter(|(_, behind)| !**behind)
        .map(|(incoming, _)| (incoming.channel, incoming.update_id.as_str()))
        .collect();
    let mut fresh = batch.mark_updates(&marks, now).await?;
    for (i, incoming) in group.iter().enumerate() {
        if behind[i] {
            // The writes of the updates before go first; one that fails is theirs.
            let Some(settled) = settle_or_undo(batch).await? else {
                return Ok(None);
            };
            batch = settled;
            let why = "an earlier update of this chat is held back";
            let payload = held_payload(incoming)?;
            batch
                .hold_update(&held_row(incoming, &payload, 0, why, now, now))
                .await?;
            outcomes[i] = Applied::Behind;
            continue;
        }
        // Seen before, or twice in this group (a webhook request sent again while the
        // first waits): applied once.
        if !fresh.remove(&(incoming.channel, incoming.update_id.clone())) {
            continue;
        }
        let chat = (incoming.channel, incoming.chat_id.as_str());
        if !incoming.chat_id.is_empty() && stopped.contains(&chat) {
            batch.unmark(incoming.channel, &incoming.update_id).await?;
            alone.push(i);
            continue;
        }
        let tx = batch.begin_update(now).await?;
        match bot::apply(tx, settings, &caps, incoming, now, bot::Download::None).await {
            Ok(done) => handled.push((i, done)),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) if !batch.careful() => {
                tracing::debug!(
                    "applying update {} of {} in a batch: {e}; the batch is applied again with a savepoint per update",
                    incoming.update_id,
                    incoming.channel
                );
                batch.rollback().await?;
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(
                    "applying update {} of {} in a batch: {e}; rolled back, to be tried alone",
                    incoming.update_id,
                    incoming.channel
                );
                batch.unmark(incoming.channel, &incoming.update_id).await?;
                alone.push(i);
                if !incoming.chat_id.is_empty() {
                    stopped.insert(chat);
                }
            }
        }
    }
    // The last update's writes may still wait to be sent.
    let Some(mut batch) = settle_or_undo(batch).await? else {
        return Ok(None);
    };
    if cursor {
        // Read up to the batch's end, unless an update is still to be tried alone.
        let upto = match alone.first() {
            None => Some(end),
            Some(0) => None,
            Some(first) => Some(&group[first - 1]),
        };
        if let Some(upto) = upto {
            batch.set_cursor(upto.channel, &upto.update_id, now).await?;
        }
    }
    batch.commit().await?;
    wake_if(wake, handled.iter().any(|(_, done)| done.queued));
    for (i, mut done) in handled {
        let incoming = &group[i];
        if let Err(e) = bot::finish(store, settings, &caps, incoming, now, &mut done).await {
            tracing::warn!("reading a reminder again after {}: {e}", incoming.update_id);
        }
        carry_out(channel, done).await;
    }
    let mut retried_alone = Vec::with_capacity(alone.len());
    for &i in &alone {
        let incoming = &group[i];
        outcomes[i] = apply_or_hold(store, settings, channel, incoming, wake, Utc::now()).await?;
        retried_alone.push(incoming.update_id.clone());
    }
    if cursor && !alone.is_empty() {
        store
            .set_cursor(end.channel, &end.update_id, Utc::now())
            .await?;
    }
    Ok(Some(BatchOutcome {
        outcomes,
        retried_alone,
    }))
}

/// Sends the writes the batch's updates left to send (`UpdateBatch::settle`). One that fails
/// is the failure of the update that made it: in a batch without savepoints the batch is
/// rolled back and `None` returned, to be applied again with a savepoint per update.
async fn settle_or_undo(
    mut batch: crate::store::UpdateBatch,
) -> Result<Option<crate::store::UpdateBatch>, StoreError> {
    let Err(e) = batch.settle().await else {
        return Ok(Some(batch));
    };
    if e.is_transient() || batch.careful() {
        return Err(e);
    }
    tracing::debug!(
        "sending the writes of a batch's updates: {e}; the batch is applied again with a savepoint per update"
    );
    batch.rollback().await?;
    Ok(None)
}

/// What became of one incoming update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It is applied (now, or before: each update is applied once).
    Applied,
    /// It failed for a reason that does not pass by itself: it is held back and tried again
    /// later, and the updates of other chats go on meanwhile.
    Held,
    /// An earlier update of its chat is held back: it waits behind it, so that one chat's
    /// updates are applied in order.
    Behind,
}

/// Applies one update that came in on `channel`, or holds it back: a failure that does not
/// pass by itself (a value the database refuses, a bug) must not hold back the updates of
/// other chats. A failure that may pass (the database busy or unreachable) is returned: the
/// update comes again.
pub async fn apply_or_hold(
    store: &Store,
    settings: &Settings,
    channel: &dyn Channel,
    incoming: &Incoming,
    wake: &Wake,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    if store.chat_held(incoming.channel, &incoming.chat_id).await? {
        let why = "an earlier update of this chat is held back";
        hold(store, incoming, 0, why, now, now).await?;
        return Ok(Applied::Behind);
    }
    match apply_update(store, settings, channel, incoming, wake).await {
        Ok(()) => Ok(Applied::Applied),
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            tracing::warn!(
                "applying update {} of {}: {e}; held back, to be tried again",
                incoming.update_id,
                incoming.channel
            );
            hold(
                store,
                incoming,
                1,
                &e.to_string(),
                now,
                now + chrono_wait(1),
            )
            .await?;
            Ok(Applied::Held)
        }
    }
}

async fn hold(
    store: &Store,
    incoming: &Incoming,
    attempts: u32,
    why: &str,
    now: DateTime<Utc>,
    next_try: DateTime<Utc>,
) -> Result<(), StoreError> {
    let payload = held_payload(incoming)?;
    store
        .hold_update(&held_row(incoming, &payload, attempts, why, now, next_try))
        .await
}

/// An update as it is kept while held back.
fn held_payload(incoming: &Incoming) -> Result<String, StoreError> {
    serde_json::to_string(incoming).map_err(|e| StoreError::Corrupt {
        column: "held_updates.payload",
        value: e.to_string(),
    })
}

/// The row that holds `incoming` back.
fn held_row<'a>(
    incoming: &'a Incoming,
    payload: &'a str,
    attempts: u32,
    why: &'a str,
    now: DateTime<Utc>,
    next_try: DateTime<Utc>,
) -> crate::store::NewHeldUpdate<'a> {
    crate::store::NewHeldUpdate {
        channel: incoming.channel,
        update_id: &incoming.update_id,
        chat_id: &incoming.chat_id,
        payload,
        attempts,
        error: why,
        at: now,
        next_try,
    }
}

/// [`retry_wait`] as a span of the calendar.
fn chrono_wait(failures: u32) -> chrono::Duration {
    chrono::Duration::from_std(retry_wait(failures)).unwrap_or_default()
}

/// What one try of the held-back updates did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldStep {
    /// Nothing is due; the next held update is due in this long, if any is held.
    Idle {
        /// How long until the next is due.
        next: Option<Duration>,
    },
    /// A held update is applied now.
    Applied {
        /// Its id.
        update_id: String,
    },
    /// A held update failed again; it is tried once more later.
    Again {
        /// Its id.
        update_id: String,
        /// How often it has failed.
        attempts: u32,
    },
    /// A held update failed [`POISON_ATTEMPTS`] times: it is skipped and its sender told.
    Skipped {
        /// Its id.
        update_id: String,
    },
}

/// Tries the held-back update that is due first (the first of its chat). The loop around it
/// only sleeps; a failure that may pass is returned for the loop to wait on. An update of a
/// channel this service does not run waits until one that does.
pub async fn retry_held(
    store: &Store,
    settings: &Settings,
    channels: &Channels,
    wake: &Wake,
    now: DateTime<Utc>,
) -> Result<HeldStep, StoreError> {
    let held = store.next_held(now).await?;
    let Some(held) = held.filter(|h| channels.get(h.channel).is_some()) else {
        let next = store.next_held_time().await?.map(|at| {
            (at - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(1))
        });
        return Ok(HeldStep::Idle { next });
    };
    let channel = channels
        .get(held.channel)
        .expect("filtered to a running channel");
    let update_id = held.update_id.clone();
    let result = match serde_json::from_str::<Incoming>(&held.payload) {
        Ok(incoming) => apply_update(store, settings, channel.as_ref(), &incoming, wake).await,
        Err(e) => Err(StoreError::Corrupt {
            column: "held_updates.payload",
            value: e.to_string(),
        }),
    };
    let error = match result {
        Ok(()) => {
            store.release_held(held.channel, &update_id).await?;
            return Ok(HeldStep::Applied { update_id });
        }
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => e,
    };
    let attempts = held.attempts + 1;
    if attempts < POISON_ATTEMPTS {
        tracing::warn!("update {update_id} failed again ({error}); tried again later");
        store
            .held_again(
                held.channel,
                &update_id,
                attempts,
                &error.to_string(),
                now + chrono_wait(attempts),
            )
            .await?;
        return Ok(HeldStep::Again {
            update_id,
            attempts,
        });
    }
    let chat = (!held.chat_id.is_empty()).then(|| Address::new(held.channel, held.chat_id.clone()));
    skip_update(
        store,
        settings,
        held.channel,
        &update_id,
        chat.as_ref(),
        now,
    )
    .await?;
    store.release_held(held.channel, &update_id).await?;
    tracing::error!("update {update_id} failed {attempts} times ({error}); skipped it");
    wake.ring();
    Ok(HeldStep::Skipped { update_id })
}

/// Records an update as applied without its changes, and tells its chat that nothing was
/// done.
pub async fn skip_update(
    store: &Store,
    settings: &Settings,
    channel: ChannelKind,
    update_id: &str,
    chat: Option<&Address>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.skip_update(channel, update_id, now).await?;
    let Some(chat) = chat else {
        return Ok(());
    };
    let text = match settings.config.language {
        Language::Zh => format!(
            "抱歉，您的上一条消息未能处理，未作任何更改。请稍后重发，或联系{}。",
            settings.config.office_name()
        ),
        Language::En => "Sorry, your last message could not be processed and changed nothing. Please send it again later, or contact the office.".to_string(),
    };
    store
        .enqueue(
            &format!("skipped:{}:{update_id}", channel.code()),
            chat,
            None,
            "reply",
            &Message::text(text),
            now,
        )
        .await?;
    Ok(())
}

/// Applies one update: fetches its file, applies it in one transaction, and carries out its
/// immediate actions (a button's toast, a refreshed reminder) on its channel.
async fn apply_update(
    store: &Store,
    settings: &Settings,
    channel: &dyn Channel,
    incoming: &Incoming,
    wake: &Wake,
) -> Result<(), StoreError> {
    let limit = settings
        .config
        .evidence
        .max_megabytes
        .saturating_mul(1 << 20);
    // A file is fetched before its update is applied, so that the step stays one
    // transaction; only for an update not applied yet, from someone bound (the bot answers
    // strangers without it), so that nobody can make the bot download for them.
    let wanted = match &incoming.event {
        Event::File { .. } => worth_fetching(store, incoming).await?,
        _ => false,
    };
    let fetched = match &incoming.event {
        Event::File { .. } if !wanted => Ok(None),
        Event::File { file, .. } if file.size_invalid => Err(bot::Download::Invalid),
        Event::File { file, .. } if file.size.is_some_and(|size| size > limit) => {
            Err(bot::Download::TooLarge)
        }
        Event::File { file, .. } if file.size == Some(0) => Err(bot::Download::Empty),
        Event::File { file, .. } => match channel.download(&file.file_id, limit).await {
            Ok(bytes) if bytes.is_empty() => Err(bot::Download::Empty),
            Ok(bytes) => Ok(Some(bytes)),
            Err(SendError::Refused(why))
                if why.contains("too large") || why.contains("too big") =>
            {
                Err(bot::Download::TooLarge)
            }
            Err(e) => {
                tracing::warn!("fetching a file of update {}: {e}", incoming.update_id);
                Err(bot::Download::Failed)
            }
        },
        _ => Ok(None),
    };
    let download = match &fetched {
        Ok(Some(bytes)) => bot::Download::Bytes(bytes),
        Ok(None) => bot::Download::None,
        Err(download) => *download,
    };
    let caps = channel.capabilities();
    let handled = bot::handle(store, settings, &caps, incoming, Utc::now(), download).await?;
    wake_if(wake, handled.queued);
    carry_out(channel, handled).await;
    Ok(())
}

/// Rings the outbox's bell when an update queued messages.
fn wake_if(wake: &Wake, queued: bool) {
    if queued {
        wake.ring();
    }
}

/// Carries out what an applied update does on its channel at once (a button's toast, a
/// refreshed reminder); a failure is logged: the update stays applied.
async fn carry_out(channel: &dyn Channel, handled: bot::Handled) {
    for action in handled.actions {
        let done = match &action {
            Action::Answer { callback_id, text } => channel.answer(callback_id, text).await,
            Action::Edit {
                chat_id,
                message_id,
                message,
            } => channel.edit(chat_id, message_id, message).await,
        };
        if let Err(e) = done {
            tracing::warn!("could not carry out {}: {e}", action_name(&action));
        }
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Answer { .. } => "a button answer",
        Action::Edit { .. } => "a message edit",
    }
}

/// Whether an update's file should be fetched: the update is new and its sender bound.
async fn worth_fetching(store: &Store, incoming: &Incoming) -> Result<bool, StoreError> {
    let Some(sender) = incoming.sender() else {
        return Ok(false);
    };
    if store
        .update_applied(incoming.channel, &incoming.update_id)
        .await?
    {
        return Ok(false);
    }
    Ok(!store.bindings(&sender).await?.is_empty())
}

/// How often one update may fail before it is skipped.
pub const POISON_ATTEMPTS: u32 = 4;

/// How often the held-back updates are looked at when none is due sooner.
const HELD_CHECK: Duration = Duration::from_secs(2);

/// A loop's wait after an error: 1, 2, 4 … up to 30 seconds.
fn retry_wait(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
}

/// The running service's parts, shared by its loops.
pub struct Service {
    /// The ledger.
    pub store: Store,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Where messages go and updates come from: every channel the service runs.
    pub channels: Channels,
    /// Wakes the outbox loops when something was queued.
    pub wake: Arc<Wake>,
    /// Turns true when the service should stop.
    pub stop: watch::Receiver<bool>,
    /// This process among the instances on the database: its leases and counters.
    pub instance: Arc<Instance>,
}

impl Service {
    /// Delivers `kind`'s outbox until told to stop. A message being sent when the stop
    /// comes is finished first; the rest stays queued.
    pub async fn deliver_loop(self: Arc<Self>, kind: ChannelKind) {
        let Some(channel) = self.channels.get(kind).cloned() else {
            return;
        };
        let mut limiter = Limiter::new(&channel.capabilities());
        let mut stop = self.stop.clone();
        let mut rung = self.wake.listen();
        let mut failures = 0;
        while !*stop.borrow() {
            limiter.share(self.instance.senders());
            let step = deliver_once(
                &self.store,
                channel.as_ref(),
                &mut limiter,
                &self.settings,
                &self.instance.id,
                Utc::now(),
            )
            .await;
            if let Ok(delivery) = &step {
                self.instance.metrics.delivered(delivery);
            }
            let wait = match step {
                Ok(Delivery::Idle { next }) => {
                    failures = 0;
                    let idle = self.settings.config.delivery.idle_check_seconds.max(1);
                    next.unwrap_or(Duration::from_secs(idle))
                        .min(Duration::from_secs(idle))
                }
                Ok(Delivery::Paused { .. }) => Duration::from_secs(60),
                Ok(delivery) => {
                    failures = 0;
                    if let Delivery::Retry { id, error, .. } | Delivery::Dead { id, error, .. } =
                        &delivery
                    {
                        tracing::info!(outbox = id, "not delivered: {error}");
                    }
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!("outbox: {e}; retrying");
                    retry_wait(failures)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = rung.changed() => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Polls `source` and applies each update until told to stop or the source ends. Where
    /// the channel's updates were read up to is kept in the store, so that a restart (or
    /// another instance taking over) goes on after it.
    pub async fn poll_loop<S: UpdateSource>(self: Arc<Self>, mut source: S) {
        let kind = source.channel();
        let Some(channel) = self.channels.get(kind).cloned() else {
            return;
        };
        let mut stop = self.stop.clone();
        let mut after = loop {
            match self.store.cursor(kind).await {
                Ok(last) => break last,
                Err(e) => {
                    tracing::warn!("reading where {kind} was read up to: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut failures = 0;
        // The update that failed last, and how often in a row.
        let mut failing: Option<(String, u32)> = None;
        // Long polling: only the holder of the poll lease asks for updates (Telegram answers
        // a second poller with 409). The console has its own input.
        let leased = kind != ChannelKind::Console;
        let mut polling = !leased || self.instance.holds(POLL_LEASE);
        while !*stop.borrow() {
            // Taking the lease over, start after what the other applied.
            if leased && !self.instance.holds(POLL_LEASE) {
                polling = false;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            if !polling {
                polling = true;
                match self.store.cursor(kind).await {
                    Ok(last) => after = last.or(after),
                    Err(e) => {
                        polling = false;
                        tracing::warn!("reading where {kind} was read up to: {e}; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let batch = tokio::select! {
                batch = source.next(after.as_deref()) => batch,
                _ = stop.changed() => break,
            };
            let batch = match batch {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => {
                    failures += 1;
                    tracing::warn!("getting updates: {e}; retrying");
                    tokio::time::sleep(match e {
                        SendError::RetryAfter(wait) => wait,
                        _ => retry_wait(failures),
                    })
                    .await;
                    continue;
                }
            };
            let (last, error) = handle_batch(
                &self.store,
                &self.settings,
                channel.as_ref(),
                &batch,
                &self.wake,
            )
            .await;
            if let Some(last) = &last {
                let applied = batch
                    .iter()
                    .position(|i| i.update_id == *last)
                    .map_or(0, |p| p + 1);
                self.instance.metrics.applied(applied as u64);
                after = Some(last.clone());
            }
            let Some((update_id, e)) = error else {
                failures = 0;
                failing = None;
                continue;
            };
            failures += 1;
            // Only failures that will not pass by themselves (not a busy or unreachable
            // database) count towards skipping.
            let times = match &failing {
                _ if e.is_transient() => 0,
                Some((id, times)) if *id == update_id => times + 1,
                _ => 1,
            };
            failing = Some((update_id.clone(), times));
            if times < POISON_ATTEMPTS {
                tracing::warn!("applying update {update_id}: {e}; it will come again");
                tokio::time::sleep(retry_wait(failures)).await;
                continue;
            }
            // The same update fails however often it is tried, and cannot even be held back:
            // skip it rather than stall every later one, and tell the sender. If the store
            // itself is down, skipping fails too and the update is tried again.
            let chat = batch
                .iter()
                .find(|incoming| incoming.update_id == update_id)
                .filter(|incoming| !incoming.chat_id.is_empty())
                .map(Incoming::chat);
            match skip_update(
                &self.store,
                &self.settings,
                kind,
                &update_id,
                chat.as_ref(),
                Utc::now(),
            )
            .await
            {
                Ok(()) => {
                    tracing::error!("update {update_id} failed {times} times ({e}); skipped it");
                    after = Some(update_id.clone());
                    let _ = self.store.set_cursor(kind, &update_id, Utc::now()).await;
                    failing = None;
                    self.wake.ring();
                }
                Err(skip) => {
                    tracing::warn!("applying update {update_id}: {e}; skipping it: {skip}");
                    tokio::time::sleep(retry_wait(failures)).await;
                }
            }
        }
    }

    /// Takes an update a channel pushed (DingTalk's Stream): applies it or holds it back.
    /// `true` when it is kept, so that the channel may acknowledge it; `false` when the
    /// database failed in a way that may pass, so that it comes again.
    pub async fn take(&self, incoming: Incoming) -> bool {
        let Some(channel) = self.channels.get(incoming.channel) else {
            return false;
        };
        let applied = apply_or_hold(
            &self.store,
            &self.settings,
            channel.as_ref(),
            &incoming,
            &self.wake,
            Utc::now(),
        )
        .await;
        match applied {
            Ok(Applied::Applied) => {
                self.instance.metrics.applied(1);
                true
            }
            Ok(Applied::Held | Applied::Behind) => true,
            Err(e) if e.is_transient() => {
                tracing::warn!(
                    "applying update {}: {e}; it will come again",
                    incoming.update_id
                );
                false
            }
            Err(e) => {
                let chat = (!incoming.chat_id.is_empty()).then(|| incoming.chat());
                match self
                    .skip(incoming.channel, &incoming.update_id, chat.as_ref())
                    .await
                {
                    Ok(()) => {
                        tracing::error!(
                            "update {} could not be applied or held ({e}); skipped it",
                            incoming.update_id
                        );
                        self.wake.ring();
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// Records an update of `channel` as applied without its changes, and tells its chat.
    pub async fn skip(
        &self,
        channel: ChannelKind,
        update_id: &str,
        chat: Option<&Address>,
    ) -> Result<(), StoreError> {
        skip_update(
            &self.store,
            &self.settings,
            channel,
            update_id,
            chat,
            Utc::now(),
        )
        .await
    }

    /// Tries the held-back updates again as they fall due, until told to stop.
    pub async fn held_loop(self: Arc<Self>) {
        let mut stop = self.stop.clone();
        let mut failures = 0;
        while !*stop.borrow() {
            let step = retry_held(
                &self.store,
                &self.settings,
                &self.channels,
                &self.wake,
                Utc::now(),
            )
            .await;
            let wait = match step {
                Ok(HeldStep::Idle { next }) => {
                    failures = 0;
                    next.unwrap_or(HELD_CHECK).min(HELD_CHECK)
                }
                Ok(step) => {
                    failures = 0;
                    if let HeldStep::Applied { .. } = step {
                        self.instance.metrics.applied(1);
                    }
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!("trying held updates: {e}; retrying");
                    retry_wait(failures)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Runs `step` until it succeeds, logging each failure as `what` and waiting longer
    /// after each; `None` when the service stops first.
    async fn until_done<T, E, F, Fut>(&self, what: &str, mut step: F) -> Option<T>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut stop = self.stop.clone();
        let mut failures = 0;
        while !*stop.borrow() {
            match step().await {
                Ok(done) => return Some(done),
                Err(e) => {
                    failures += 1;
                    tracing::warn!("{what} failed: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(retry_wait(failures)) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        None
    }

    /// Runs the sweep, retrying after errors until it has run or the service stops.
    pub async fn sweep_until_done(&self) {
        let started = std::time::Instant::now();
        let swept = self
            .until_done("sweep", || {
                sweep(&self.store, &self.settings, Utc::now(), false)
            })
            .await;
        let Some(outcome) = swept else {
            return;
        };
        self.instance.metrics.swept(started.elapsed().as_secs_f64());
        if outcome.day_off {
            tracing::info!(day = %outcome.day, "a day off: no sweep");
        } else {
            tracing::info!(day = %outcome.day, planned = outcome.planned.len(), queued = outcome.queued, "sweep");
            self.wake.ring();
        }
    }

    /// Catches up a sweep and a digest that should have run today and have not (the
    /// service was down at the time, or the instance that held the schedule died).
    pub async fn catch_up(&self) {
        match sweep_missed(&self.store, &self.settings, Utc::now()).await {
            Ok(true) => {
                tracing::info!("catching up today's sweep");
                self.sweep_until_done().await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("checking for a missed sweep: {e}"),
        }
        if !self.settings.config.digest.enabled {
            return;
        }
        match digest_missed(&self.store, &self.settings, Utc::now()).await {
            Ok(true) => {
                tracing::info!("catching up today's digest");
                self.digest_until_done().await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("checking for a missed digest: {e}"),
        }
    }

    /// Starts the daily sweep and digest on tokio-cron-scheduler at `schedule.sweep_at` and
    /// `digest.at` in the office's time zone. Every instance has the jobs; only the holder
    /// of the schedule lease runs them (it catches up missed ones when it takes the lease).
    /// A lone instance catches up here.
    pub async fn start_schedule(self: &Arc<Self>) -> Result<JobScheduler, JobSchedulerError> {
        if !self.instance.leased() {
            self.catch_up().await;
        }
        let scheduler = JobScheduler::new().await?;
        let mut jobs: Vec<(chrono::NaiveTime, bool)> = vec![(
            self.settings
                .config
                .schedule
                .sweep_time()
                .unwrap_or_default(),
            false,
        )];
        if self.settings.config.digest.enabled {
            jobs.push((self.settings.config.digest.time().unwrap_or_default(), true));
        }
        let notices = self.settings.config.notice.weekly || self.settings.config.notice.monthly;
        if let Some(at) = self.settings.config.notice.time().filter(|_| notices) {
            let cron = format!("0 {} {} * * *", at.minute(), at.hour());
            let service = Arc::clone(self);
            let job = Job::new_async_tz(cron.as_str(), self.settings.timezone, move |_, _| {
                let service = Arc::clone(&service);
                Box::pin(async move {
                    if !service.instance.holds(SCHEDULE_LEASE) {
                        return;
                    }
                    service.notices_until_done().await;
                })
            })?;
            scheduler.add(job).await?;
        }
        for (at, is_digest) in jobs {
            let cron = format!("0 {} {} * * *", at.minute(), at.hour());
            let service = Arc::clone(self);
            let job = Job::new_async_tz(cron.as_str(), self.settings.timezone, move |_, _| {
                let service = Arc::clone(&service);
                Box::pin(async move {
                    if !service.instance.holds(SCHEDULE_LEASE) {
                        tracing::debug!("another instance holds the schedule");
                        return;
                    }
                    match is_digest {
                        true => service.digest_until_done().await,
                        false => service.sweep_until_done().await,
                    }
                })
            })?;
            scheduler.add(job).await?;
        }
        scheduler.start().await?;
        Ok(scheduler)
    }

    /// Issues the notices due today: the weekly one on the first working day of a week, the
    /// monthly one on the first working day of a month; retried after errors until done or
    /// the service stops.
    pub async fn notices_until_done(&self) {
        use crate::core::notice::Period;
        use chrono::Datelike;
        let today = Utc::now()
            .with_timezone(&self.settings.timezone)
            .date_naive();
        let calendar = &self.settings.calendar;
        let config = &self.settings.config.notice;
        let mut due = Vec::new();
        if config.weekly && first_working_day(calendar, today, |d| d.iso_week() == today.iso_week())
        {
            due.push(Period::Week);
        }
        if config.monthly && first_working_day(calendar, today, |d| d.month() == today.month()) {
            due.push(Period::Month);
        }
        for period in due {
            let issued = self
                .until_done("notice", || {
                    notice::notice(&self.store, &self.settings, Utc::now(), period, false)
                })
                .await;
            if let Some(outcome) = issued {
                tracing::info!(number = %outcome.notice.number, queued = outcome.queued, "notice");
                self.wake.ring();
            }
        }
    }

    /// Makes and queues today's digest, retrying after errors until it is done or the
    /// service stops.
    pub async fn digest_until_done(&self) {
        let made = self
            .until_done("digest", || {
                digest(&self.store, &self.settings, Utc::now(), false, false)
            })
            .await;
        let Some(outcome) = made else {
            return;
        };
        if outcome.day_off {
            tracing::info!(day = %outcome.day, "a day off: no digest");
        } else {
            tracing::info!(day = %outcome.day, queued = outcome.queued, "digest");
            self.wake.ring();
        }
    }
}

/// Whether `today` is a working day and no day before it within the same span (`same`: the
/// same week, the same month) was one.
pub fn first_working_day(
    calendar: &crate::core::calendar::Calendar,
    today: NaiveDate,
    same: impl Fn(NaiveDate) -> bool,
) -> bool {
    if !calendar.is_working_day(today) {
        return false;
    }
    let mut day = today;
    while let Some(before) = day.pred_opt().filter(|d| same(*d)) {
        if calendar.is_working_day(before) {
            return false;
        }
        day = before;
    }
    true
}

/// What draining the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages sent.
    pub sent: usize,
    /// Why the channel refused the bot, when it did: the rest stays queued.
    pub refused: Option<String>,
}

/// Delivers `channel`'s outbox until nothing may go for `patience` (for `duban remind`).
pub async fn drain(
    store: &Store,
    channel: &dyn Channel,
    settings: &Settings,
    patience: Duration,
) -> Result<Drained, StoreError> {
    let mut limiter = Limiter::new(&channel.capabilities());
    let mut drained = Drained::default();
    // A sender of its own, beside any running service: claims keep them apart.
    let sender = format!("drain:{}", Instance::alone().id);
    loop {
        match deliver_once(store, channel, &mut limiter, settings, &sender, Utc::now()).await? {
            Delivery::Sent { .. } => drained.sent += 1,
            Delivery::Retry { .. } | Delivery::Dead { .. } => {}
            Delivery::Idle { next: Some(wait) } if wait <= patience => {
                tokio::time::sleep(wait).await
            }
            Delivery::Idle { .. } => return Ok(drained),
            Delivery::Paused { error } => {
                drained.refused = Some(error);
                return Ok(drained);
            }
        }
    }
}

pub mod digest;
pub mod http;
pub mod intake;
mod lease;
pub mod metrics;
pub mod notice;
pub mod outbox;

pub use digest::{DIGEST, DigestError, DigestOutcome, digest, digest_missed, split_text};
pub use lease::{
    ALIVE_WITHIN, Instance, LEASE_EVERY, LEASE_FOR, LeaseStep, POLL_LEASE, SCHEDULE_LEASE,
};

#[cfg(test)]
mod notice_days {
    use chrono::{Datelike, NaiveDate};

    use super::first_working_day;
    use crate::core::calendar::Calendar;

    #[test]
    fn notices_go_on_the_first_working_day_of_a_week_or_a_month() {
        let cal = Calendar::builtin();
        let d = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
        #[rustfmt::skip]
        let cases = [
            // (day, first of its week, first of its month)
            ("2024-10-08", true, true),   // after National Day: the week's and October's first
            ("2024-10-12", false, false), // a make-up Saturday, later in the week
            ("2024-10-14", true, false),  // an ordinary Monday
            ("2024-09-29", false, false), // a make-up Sunday: Monday 09-23 came first
            ("2024-02-01", false, true),  // a Thursday, the first of February
            ("2024-10-05", false, false), // a holiday
        ];
        for (day, week, month) in cases {
            let day = d(day);
            assert_eq!(
                first_working_day(&cal, day, |x| x.iso_week() == day.iso_week()),
                week,
                "{day} week"
            );
            assert_eq!(
                first_working_day(&cal, day, |x| x.month() == day.month()),
                month,
                "{day} month"
            );
        }
    }
}
