//! Updates pushed to the service (the Telegram webhook) applied in groups: each request
//! hands its update to the intake and waits; a worker takes every update waiting at that
//! moment and applies them in one transaction ([`crate::service::apply_batch`]: a
//! savepoint each, one commit and one sync for the group). Under load the groups grow by
//! themselves; alone, an update is a group of one and waits for nobody.

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

/// Applies one group: updates of one channel without a file together, the others alone.
async fn apply_group(service: &Service, group: Vec<Waiting>) {
    let mut together: Vec<Waiting> = Vec::with_capacity(group.len());
    for waiting in group {
        let alone = matches!(waiting.incoming.event, Event::File { .. })
            || together
                .first()
                .is_some_and(|first| first.incoming.channel != waiting.incoming.channel);
        if alone {
            let taken = Taken::from(service.take(waiting.incoming).await);
            let _ = waiting.done.send(taken);
            continue;
        }
        together.push(waiting);
    }
    if together.is_empty() {
        return;
    }
    let Some(channel) = service.channels.get(together[0].incoming.channel) else {
        for waiting in together {
            let _ = waiting.done.send(Taken::Again);
        }
        return;
    };
    let (incoming, senders): (Vec<Incoming>, Vec<oneshot::Sender<Taken>>) =
        together.into_iter().map(|w| (w.incoming, w.done)).unzip();
    let applied = apply_batch(
        &service.store,
        &service.settings,
        channel.as_ref(),
        &incoming,
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
            for done in senders {
                let _ = done.send(Taken::Kept);
            }
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(
                "applying {} pushed updates: {e}; they will come again",
                incoming.len()
            );
            for done in senders {
                let _ = done.send(Taken::Again);
            }
        }
        // The group as a whole failed for a reason of its own: each update alone.
        Err(e) => {
            tracing::warn!(
                "applying {} pushed updates together: {e}; each alone",
                incoming.len()
            );
            for (incoming, done) in incoming.into_iter().zip(senders) {
                let _ = done.send(Taken::from(service.take(incoming).await));
            }
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
