//! Updates pushed to the service (the Telegram webhook) applied in groups: each request
//! hands its update to the intake and waits; a worker takes every update waiting at that
//! moment and applies them in one transaction ([`crate::service::apply_batch`]: a
//! savepoint each, one commit and one sync for the group). Under load the groups grow by
//! themselves; alone, an update is a group of one and waits for nobody. DingTalk's Stream
//! hands over what its socket holds at once the same way ([`take_group`]).

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::core::chat::{Event, Incoming};
use crate::service::{Applied, Service, apply_batch};

/// How many waiting updates one group takes at most.
pub const GROUP_MAX: usize = 64;

/// What became of an update handed to the intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// It is kept (applied, held back, or skipped after it could be neither): the sender
    /// may be told so (a webhook's 200), since it is on disk.
    Kept,
    /// The database failed in a way that may pass: nothing of it is kept, it must come
    /// again.
    Again,
}

struct Waiting {
    incoming: Incoming,
    done: oneshot::Sender<Taken>,
}

/// The queue of pushed updates and its workers.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<Waiting>,
}

impl Intake {
    /// Starts `workers` workers applying the updates handed to the intake in groups. On
    /// SQLite one writes at a time whatever their number; on PostgreSQL several groups are
    /// applied side by side.
    pub fn start(service: Arc<Service>, workers: usize) -> Intake {
        let (queue, receiver) = mpsc::channel::<Waiting>(4 * GROUP_MAX);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(Arc::clone(&service), Arc::clone(&receiver)));
        }
        Intake { queue }
    }

    /// Hands `incoming` over and waits until it is kept for good, or must come again.
    pub async fn take(&self, incoming: Incoming) -> Taken {
        let (done, outcome) = oneshot::channel();
        if self.queue.send(Waiting { incoming, done }).await.is_err() {
            return Taken::Again;
        }
        outcome.await.unwrap_or(Taken::Again)
    }
}

/// One worker: takes what is waiting (at least one update), applies it, tells each sender.
async fn work(service: Arc<Service>, receiver: Arc<Mutex<mpsc::Receiver<Waiting>>>) {
    loop {
        let mut group = Vec::with_capacity(GROUP_MAX);
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            group.push(first);
            while group.len() < GROUP_MAX
                && let Ok(more) = receiver.try_recv()
            {
                group.push(more);
            }
        }
        apply_group(&service, group).await;
    }
}

/// Applies one group and tells each sender what became of its update.
async fn apply_group(service: &Service, group: Vec<Waiting>) {
    let (incoming, senders): (Vec<Incoming>, Vec<oneshot::Sender<Taken>>) =
        group.into_iter().map(|w| (w.incoming, w.done)).unzip();
    let taken = take_group(service, &incoming).await;
    for (done, taken) in senders.into_iter().zip(taken) {
        let _ = done.send(taken);
    }
}

/// Applies updates pushed together, in their order: each run of updates of one channel
/// without a file in one transaction ([`apply_batch`]: one commit, one sync), an update
/// with a file alone. Returns what became of each update, in the group's order.
pub async fn take_group(service: &Service, group: &[Incoming]) -> Vec<Taken> {
    let mut taken = Vec::with_capacity(group.len());
    let mut rest = group;
    while let Some(first) = rest.first() {
        if matches!(first.event, Event::File { .. }) {
            taken.push(Taken::from(service.take(first.clone()).await));
            rest = &rest[1..];
            continue;
        }
        let run = rest
            .iter()
            .position(|i| matches!(i.event, Event::File { .. }) || i.channel != first.channel)
            .unwrap_or(rest.len());
        let (together, tail) = rest.split_at(run);
        taken.extend(take_together(service, together).await);
        rest = tail;
    }
    taken
}

/// Applies updates of one channel, none with a file, in one transaction; each alone when
/// the group as a whole fails for a reason of its own.
async fn take_together(service: &Service, together: &[Incoming]) -> Vec<Taken> {
    let Some(channel) = service.channels.get(together[0].channel) else {
        return vec![Taken::Again; together.len()];
    };
    let applied = apply_batch(
        &service.store,
        &service.settings,
        channel.as_ref(),
        together,
        &service.wake,
        chrono::Utc::now(),
        false,
    )
    .await;
    match applied {
        Ok(outcome) => {
            let new = outcome
                .outcomes
                .iter()
                .filter(|o| **o == Applied::Applied)
                .count();
            service.instance.metrics.applied(new as u64);
            vec![Taken::Kept; together.len()]
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(
                "applying {} pushed updates: {e}; they will come again",
                together.len()
            );
            vec![Taken::Again; together.len()]
        }
        Err(e) => {
            tracing::warn!(
                "applying {} pushed updates together: {e}; each alone",
                together.len()
            );
            let mut taken = Vec::with_capacity(together.len());
            for incoming in together {
                taken.push(Taken::from(service.take(incoming.clone()).await));
            }
            taken
        }
    }
}

impl From<bool> for Taken {
    fn from(kept: bool) -> Taken {
        match kept {
            true => Taken::Kept,
            false => Taken::Again,
        }
    }
}
