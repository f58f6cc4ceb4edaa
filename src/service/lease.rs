//! Several instances on one database: this instance's identity, its leases on the jobs only
//! one instance may run (the schedule, long polling), and the step that renews them.
//!
//! A lease lasts [`LEASE_FOR`] and its holder renews it every [`LEASE_EVERY`], so when the
//! holder dies another instance takes the job over within `LEASE_FOR + LEASE_EVERY` (25 s).
//! The jobs themselves stay safe if two instances ever overlap for a moment: sweeps and
//! digests queue by key, and updates are applied once by id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Service;
use crate::service::metrics::Metrics;
use crate::store::StoreError;

/// The lease on the daily schedule (sweeps and digests).
pub const SCHEDULE_LEASE: &str = "schedule";
/// The lease on long polling `getUpdates` (Telegram answers a second poller with 409).
pub const POLL_LEASE: &str = "poll";
/// How long a lease lasts unless renewed.
pub const LEASE_FOR: Duration = Duration::from_secs(20);
/// How often the holder renews its leases and every instance says it is alive.
pub const LEASE_EVERY: Duration = Duration::from_secs(5);
/// An instance not heard of for this long is taken for gone when limits are shared.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(15);

/// This process among the instances on one database.
#[derive(Debug)]
pub struct Instance {
    /// `host:pid:random`, unique among instances.
    pub id: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// Whether jobs wait for leases; a lone process (the console, `duban remind`) has every
    /// job to itself.
    leased: bool,
    schedule: AtomicBool,
    poll: AtomicBool,
    senders: AtomicUsize,
    /// The counters `/metrics` shows.
    pub metrics: Metrics,
}

impl Instance {
    /// This process, taking part in leases.
    pub fn new() -> Instance {
        Instance::with(true)
    }

    /// This process, alone on its database: it holds every job without a lease.
    pub fn alone() -> Instance {
        Instance::with(false)
    }

    fn with(leased: bool) -> Instance {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let pid = std::process::id();
        let mut bytes = [0u8; 3];
        let _ = getrandom::fill(&mut bytes);
        let tag: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Instance {
            id: format!("{host}:{pid}:{tag}"),
            host,
            pid,
            leased,
            schedule: AtomicBool::new(!leased),
            poll: AtomicBool::new(!leased),
            senders: AtomicUsize::new(1),
            metrics: Metrics::default(),
        }
    }

    fn flag(&self, lease: &str) -> Option<&AtomicBool> {
        match lease {
            SCHEDULE_LEASE => Some(&self.schedule),
            POLL_LEASE => Some(&self.poll),
            _ => None,
        }
    }

    /// Whether this instance may run the job of `lease` now.
    pub fn holds(&self, lease: &str) -> bool {
        self.flag(lease)
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// Whether jobs wait for leases.
    pub fn leased(&self) -> bool {
        self.leased
    }

    /// How many senders share the outbox (live instances, at least this one).
    pub fn senders(&self) -> usize {
        self.senders.load(Ordering::Relaxed).max(1)
    }
}

impl Default for Instance {
    fn default() -> Instance {
        Instance::new()
    }
}

/// What one lease step found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseStep {
    /// Leases this instance took in this step (it did not hold them before).
    pub gained: Vec<&'static str>,
    /// Leases it lost (another instance has them, or they ran out unrenewed).
    pub lost: Vec<&'static str>,
    /// Live instances on the database.
    pub instances: usize,
}

impl Service {
    /// One lease step: says this instance is alive, counts the live ones (they share the
    /// outbox's limits), and takes or renews `leases`.
    pub async fn lease_step(
        &self,
        leases: &[&'static str],
        now: DateTime<Utc>,
    ) -> Result<LeaseStep, StoreError> {
        let instance = &self.instance;
        let store = &self.store;
        store
            .heartbeat(&instance.id, &instance.host, instance.pid, now)
            .await?;
        let alive = now - chrono::Duration::from_std(ALIVE_WITHIN).unwrap_or_default();
        let instances = store.live_instances(alive).await?.max(1) as usize;
        instance.senders.store(instances, Ordering::Relaxed);
        let until = now + chrono::Duration::from_std(LEASE_FOR).unwrap_or_default();
        let mut step = LeaseStep {
            instances,
            ..LeaseStep::default()
        };
        for &lease in leases {
            let held = store.acquire_lease(lease, &instance.id, now, until).await?;
            let Some(flag) = instance.flag(lease) else {
                continue;
            };
            match (flag.swap(held, Ordering::SeqCst), held) {
                (false, true) => step.gained.push(lease),
                (true, false) => step.lost.push(lease),
                _ => {}
            }
        }
        Ok(step)
    }

    /// Renews the leases until the service stops, then gives them up. Taking the schedule
    /// catches up a sweep or digest missed today. When renewing fails for longer than a
    /// lease lasts, the leases count as lost: another instance may have them by then.
    pub async fn lease_loop(self: Arc<Self>, leases: Vec<&'static str>) {
        let mut stop = self.stop.clone();
        let mut renewed = tokio::time::Instant::now();
        while !*stop.borrow() {
            match self.lease_step(&leases, Utc::now()).await {
                Ok(step) => {
                    renewed = tokio::time::Instant::now();
                    for lease in &step.gained {
                        tracing::info!(lease, instance = %self.instance.id, "took the lease");
                    }
                    for lease in &step.lost {
                        tracing::info!(lease, instance = %self.instance.id, "lost the lease");
                    }
                    if step.gained.contains(&SCHEDULE_LEASE) {
                        let service = Arc::clone(&self);
                        tokio::spawn(async move { service.catch_up().await });
                    }
                }
                Err(e) => {
                    tracing::warn!("renewing leases: {e}; retrying");
                    if renewed.elapsed() >= LEASE_FOR {
                        for lease in &leases {
                            if let Some(flag) = self.instance.flag(lease)
                                && flag.swap(false, Ordering::SeqCst)
                            {
                                tracing::warn!(lease, "could not renew the lease: let it go");
                            }
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(LEASE_EVERY) => {}
                _ = stop.changed() => {}
            }
        }
        for lease in &leases {
            if let Some(flag) = self.instance.flag(lease) {
                flag.store(false, Ordering::SeqCst);
            }
            if let Err(e) = self.store.release_lease(lease, &self.instance.id).await {
                tracing::warn!(lease, "giving the lease up: {e}");
            }
        }
        let stale = Utc::now() - chrono::Duration::hours(1);
        if let Err(e) = self.store.forget_instance(&self.instance.id, stale).await {
            tracing::warn!("leaving the instance list: {e}");
        }
    }
}
