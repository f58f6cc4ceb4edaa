//! The service: the reminder sweep as one step, and the loops of `duban run` around the
//! steps — polling for updates, delivering the outbox, the daily schedule — with a graceful
//! shutdown. A database or network error in a loop is logged and retried; it never ends it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Notify, watch};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::bot;
use crate::channel::{Channel, Limiter, SendError};
use crate::chat::{Action, Event, Incoming, Message};
use crate::config::{Language, Settings};
use crate::outbox::{Delivery, deliver_once};
use crate::remind::{Planned, plan, plan_requests};
use crate::rules::{Assessment, Context, assess};
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
    let recipients = store.recipients().await?;
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
    outcome.queued = store
        .enqueue_sweep(SWEEP, outcome.day, &outcome.planned, now)
        .await?;
    Ok(outcome)
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

/// Where updates come from: one call, one batch (a long poll, or a line typed).
pub trait UpdateSource: Send {
    /// The next updates after `after`; an empty batch when none came in time; `None` when
    /// the source has ended (the console's input closed).
    fn next(
        &mut self,
        after: Option<i64>,
    ) -> impl Future<Output = Result<Option<Vec<Incoming>>, SendError>> + Send;
}

/// Handles one batch of updates and carries out their immediate actions. Returns the id of
/// the last update handled, which may be before the batch's end when the database failed:
/// the rest will come again.
pub async fn handle_batch<C: Channel>(
    store: &Store,
    settings: &Settings,
    channel: &C,
    batch: &[Incoming],
    wake: &Notify,
) -> (Option<i64>, Option<(i64, StoreError)>) {
    let mut last = None;
    let limit = settings
        .config
        .evidence
        .max_megabytes
        .saturating_mul(1 << 20);
    for incoming in batch {
        // A file is fetched before its update is applied, so that the step stays one
        // transaction; only for an update not applied yet, from someone bound (the bot
        // answers strangers without it), so that nobody can make the bot download for them.
        let wanted = match &incoming.event {
            Event::File { .. } => match worth_fetching(store, settings, incoming).await {
                Ok(wanted) => wanted,
                Err(e) => return (last, Some((incoming.update_id, e))),
            },
            _ => false,
        };
        let fetched = match &incoming.event {
            Event::File { .. } if !wanted => Ok(None),
            Event::File { file, .. } if file.size.is_some_and(|size| size > limit) => {
                Err(bot::Download::TooLarge)
            }
            Event::File { file, .. } => match channel.download(&file.file_id, limit).await {
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
        match bot::handle(store, settings, incoming, Utc::now(), download).await {
            Ok(handled) => {
                last = Some(incoming.update_id);
                if handled.queued {
                    wake.notify_one();
                }
                for action in handled.actions {
                    let done = match &action {
                        Action::Answer { callback_id, text } => {
                            channel.answer(callback_id, text).await
                        }
                        Action::Edit {
                            chat_id,
                            message_id,
                            message,
                        } => channel.edit(*chat_id, *message_id, message).await,
                    };
                    if let Err(e) = done {
                        tracing::warn!("could not carry out {}: {e}", action_name(&action));
                    }
                }
            }
            Err(e) => return (last, Some((incoming.update_id, e))),
        }
    }
    (last, None)
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Answer { .. } => "a button answer",
        Action::Edit { .. } => "a message edit",
    }
}

/// Whether an update's file should be fetched: the update is new and its sender bound (or
/// an admin of the configuration).
async fn worth_fetching(
    store: &Store,
    settings: &Settings,
    incoming: &Incoming,
) -> Result<bool, StoreError> {
    let Some(sender) = &incoming.from else {
        return Ok(false);
    };
    if store.update_applied(incoming.update_id).await? {
        return Ok(false);
    }
    Ok(settings.config.telegram.admins.contains(&sender.user_id)
        || !store.bindings(sender.user_id).await?.is_empty())
}

/// How often one update may fail before it is skipped.
pub const POISON_ATTEMPTS: u32 = 4;

/// A loop's wait after an error: 1, 2, 4 … up to 30 seconds.
fn retry_wait(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
}

/// The running service's parts, shared by its loops.
pub struct Service<C> {
    /// The ledger.
    pub store: Store,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Where messages go.
    pub channel: C,
    /// Wakes the outbox loop when something was queued.
    pub wake: Arc<Notify>,
    /// Turns true when the service should stop.
    pub stop: watch::Receiver<bool>,
    /// This process among the instances on the database: its leases and counters.
    pub instance: Arc<Instance>,
}

impl<C: Channel + Clone + 'static> Service<C> {
    /// Delivers the outbox until told to stop. A message being sent when the stop comes is
    /// finished first; the rest stays queued.
    pub async fn deliver_loop(self: Arc<Self>) {
        let mut limiter = Limiter::new(&self.settings.config.delivery);
        let mut stop = self.stop.clone();
        let mut failures = 0;
        while !*stop.borrow() {
            limiter.share(self.instance.senders());
            let step = deliver_once(
                &self.store,
                &self.channel,
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
                _ = self.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Polls `source` and applies each update until told to stop or the source ends.
    pub async fn poll_loop<S: UpdateSource>(self: Arc<Self>, mut source: S) {
        let mut stop = self.stop.clone();
        let mut after = loop {
            match self.store.last_update_id().await {
                Ok(last) => break last,
                Err(e) => {
                    tracing::warn!("reading the last update: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut failures = 0;
        // The update that failed last, and how often in a row.
        let mut failing: Option<(i64, u32)> = None;
        let mut polling = self.instance.holds(POLL_LEASE);
        while !*stop.borrow() {
            // Only the holder of the poll lease asks for updates: Telegram answers a second
            // poller with 409. Taking the lease over, start after what the other applied.
            if !self.instance.holds(POLL_LEASE) {
                polling = false;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            if !polling {
                polling = true;
                match self.store.last_update_id().await {
                    Ok(last) => after = last.max(after),
                    Err(e) => {
                        polling = false;
                        tracing::warn!("reading the last update: {e}; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let batch = tokio::select! {
                batch = source.next(after) => batch,
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
                &self.channel,
                &batch,
                &self.wake,
            )
            .await;
            if let Some(last) = last {
                after = Some(after.map_or(last, |a| a.max(last)));
                let applied = batch.iter().filter(|i| i.update_id <= last).count();
                self.instance.metrics.applied(applied as u64);
            }
            let Some((update_id, e)) = error else {
                failures = 0;
                failing = None;
                continue;
            };
            failures += 1;
            // Only failures that will not pass by themselves (not a busy or unreachable
            // database) count towards skipping.
            let times = match failing {
                _ if e.is_transient() => 0,
                Some((id, times)) if id == update_id => times + 1,
                _ => 1,
            };
            failing = Some((update_id, times));
            if times < POISON_ATTEMPTS {
                tracing::warn!("applying update {update_id}: {e}; it will come again");
                tokio::time::sleep(retry_wait(failures)).await;
                continue;
            }
            // The same update fails however often it is tried: skip it rather than stall
            // every later one, and tell the sender. If the store itself is down, skipping
            // fails too and the update is tried again.
            let chat_id = batch
                .iter()
                .find(|incoming| incoming.update_id == update_id)
                .map_or(0, |incoming| incoming.chat_id);
            match self.skip(update_id, chat_id).await {
                Ok(()) => {
                    tracing::error!("update {update_id} failed {times} times ({e}); skipped it");
                    after = Some(after.map_or(update_id, |a| a.max(update_id)));
                    failing = None;
                    self.wake.notify_one();
                }
                Err(skip) => {
                    tracing::warn!("applying update {update_id}: {e}; skipping it: {skip}");
                    tokio::time::sleep(retry_wait(failures)).await;
                }
            }
        }
    }

    /// Records an update as applied without its changes, and tells its chat.
    pub async fn skip(&self, update_id: i64, chat_id: i64) -> Result<(), StoreError> {
        let now = Utc::now();
        self.store.skip_update(update_id, now).await?;
        if chat_id == 0 {
            return Ok(());
        }
        let text = match self.settings.config.language {
            Language::Zh => format!(
                "抱歉，您的上一条消息未能处理，未作任何更改。请稍后重发，或联系{}。",
                self.settings.config.office_name()
            ),
            Language::En => "Sorry, your last message could not be processed and changed nothing. Please send it again later, or contact the office.".to_string(),
        };
        self.store
            .enqueue(
                &format!("skipped:{update_id}"),
                chat_id,
                None,
                "reply",
                &Message::text(text),
                now,
            )
            .await?;
        Ok(())
    }

    /// Runs the sweep, retrying after errors until it has run or the service stops.
    pub async fn sweep_until_done(&self) {
        let mut stop = self.stop.clone();
        let mut failures = 0;
        while !*stop.borrow() {
            let started = std::time::Instant::now();
            match sweep(&self.store, &self.settings, Utc::now(), false).await {
                Ok(outcome) => {
                    self.instance.metrics.swept(started.elapsed().as_secs_f64());
                    if outcome.day_off {
                        tracing::info!(day = %outcome.day, "a day off: no sweep");
                    } else {
                        tracing::info!(day = %outcome.day, planned = outcome.planned.len(), queued = outcome.queued, "sweep");
                        self.wake.notify_one();
                    }
                    return;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!("sweep failed: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(retry_wait(failures)) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
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

    /// Makes and queues today's digest, retrying after errors until it is done or the
    /// service stops.
    pub async fn digest_until_done(&self) {
        let mut stop = self.stop.clone();
        let mut failures = 0;
        while !*stop.borrow() {
            match digest(&self.store, &self.settings, Utc::now(), false, false).await {
                Ok(outcome) => {
                    if outcome.day_off {
                        tracing::info!(day = %outcome.day, "a day off: no digest");
                    } else {
                        tracing::info!(day = %outcome.day, queued = outcome.queued, "digest");
                        self.wake.notify_one();
                    }
                    return;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!("digest failed: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(retry_wait(failures)) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }
}

/// What draining the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages sent.
    pub sent: usize,
    /// Why the channel refused the bot, when it did: the rest stays queued.
    pub refused: Option<String>,
}

/// Delivers the outbox until nothing may go for `patience` (for `duban remind`).
pub async fn drain<C: Channel>(
    store: &Store,
    channel: &C,
    settings: &Settings,
    patience: Duration,
) -> Result<Drained, StoreError> {
    let mut limiter = Limiter::new(&settings.config.delivery);
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

mod digest;
mod lease;

pub use digest::{DIGEST, DigestError, DigestOutcome, digest, digest_missed, split_text};
pub use lease::{
    ALIVE_WITHIN, Instance, LEASE_EVERY, LEASE_FOR, LeaseStep, POLL_LEASE, SCHEDULE_LEASE,
};
