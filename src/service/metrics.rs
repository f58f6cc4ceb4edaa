//! The service's counters, and the Prometheus text of `/metrics`.
//!
//! Counters live in memory, one set per instance, as Prometheus expects: each instance is
//! scraped on its own and the server adds them up. Gauges that belong to the database (the
//! outbox, the leases) are read when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::service::outbox::Delivery;
use crate::store::{LeaseHolder, OutboxHealth};

/// Messages of one kind, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Taken by the channel.
    pub sent: u64,
    /// Given up (blocked, refused, too old).
    pub failed: u64,
    /// Put back for a later try (429, server or network error, a group that moved).
    pub retried: u64,
}

/// The counters of one running instance.
#[derive(Debug, Default)]
pub struct Metrics {
    kinds: Mutex<BTreeMap<String, KindCounts>>,
    replies: AtomicU64,
    sweeps: Mutex<Durations>,
    webhook_rejected: AtomicU64,
}

/// How long runs took: count, sum and the last one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Durations {
    count: u64,
    sum: f64,
    last: f64,
}

/// What is read from the database when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// The outbox; `None` when the database did not answer.
    pub outbox: Option<OutboxHealth>,
    /// The leases and their holders (expired ones left out by the caller).
    pub leases: Vec<LeaseHolder>,
    /// This instance's id.
    pub instance: String,
}

impl Metrics {
    /// Counts what a delivery step did.
    pub fn delivered(&self, delivery: &Delivery) {
        let (kind, field): (&str, fn(&mut KindCounts) -> &mut u64) = match delivery {
            Delivery::Sent { kind, .. } => (kind, |c| &mut c.sent),
            Delivery::Dead { kind, .. } => (kind, |c| &mut c.failed),
            Delivery::Retry { kind, .. } => (kind, |c| &mut c.retried),
            Delivery::Paused { .. } | Delivery::Idle { .. } => return,
        };
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        *field(kinds.entry(kind.to_string()).or_default()) += 1;
    }

    /// Counts incoming updates applied.
    pub fn applied(&self, updates: u64) {
        self.replies.fetch_add(updates, Ordering::Relaxed);
    }

    /// Counts a webhook request refused for its secret.
    pub fn webhook_rejected(&self) {
        self.webhook_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a sweep's duration.
    pub fn swept(&self, seconds: f64) {
        let mut sweeps = self.sweeps.lock().unwrap_or_else(|e| e.into_inner());
        sweeps.count += 1;
        sweeps.sum += seconds;
        sweeps.last = seconds;
    }

    /// The messages of one kind so far.
    pub fn kind(&self, kind: &str) -> KindCounts {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.get(kind).copied().unwrap_or_default()
    }

    /// The Prometheus text exposition of the counters and `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let families: [Family; 3] = [
            (
                "duban_messages_sent_total",
                "Messages the channel took, by kind.",
                |c| c.sent,
            ),
            (
                "duban_messages_failed_total",
                "Messages given up (blocked, refused, too old), by kind.",
                |c| c.failed,
            ),
            (
                "duban_messages_retried_total",
                "Sends put back for a later try, by kind.",
                |c| c.retried,
            ),
        ];
        for (name, help, value) in families {
            header(&mut out, name, help, "counter");
            for (kind, counts) in &kinds {
                let _ = writeln!(out, "{name}{{kind=\"{}\"}} {}", label(kind), value(counts));
            }
        }
        header(
            &mut out,
            "duban_replies_applied_total",
            "Incoming updates (replies, presses, commands) applied.",
            "counter",
        );
        let _ = writeln!(
            out,
            "duban_replies_applied_total {}",
            self.replies.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "duban_webhook_rejected_total",
            "Webhook requests refused for a wrong or missing secret.",
            "counter",
        );
        let _ = writeln!(
            out,
            "duban_webhook_rejected_total {}",
            self.webhook_rejected.load(Ordering::Relaxed)
        );
        let sweeps = *self.sweeps.lock().unwrap_or_else(|e| e.into_inner());
        header(
            &mut out,
            "duban_sweep_duration_seconds",
            "How long the reminder sweeps run by this instance took.",
            "summary",
        );
        let _ = writeln!(out, "duban_sweep_duration_seconds_sum {}", sweeps.sum);
        let _ = writeln!(out, "duban_sweep_duration_seconds_count {}", sweeps.count);
        header(
            &mut out,
            "duban_sweep_last_duration_seconds",
            "How long the last sweep run by this instance took.",
            "gauge",
        );
        let _ = writeln!(out, "duban_sweep_last_duration_seconds {}", sweeps.last);
        header(
            &mut out,
            "duban_database_up",
            "Whether the database answered this scrape.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "duban_database_up {}",
            u8::from(gauges.outbox.is_some())
        );
        if let Some(outbox) = gauges.outbox {
            header(
                &mut out,
                "duban_outbox_depth",
                "Messages waiting in the outbox.",
                "gauge",
            );
            let _ = writeln!(out, "duban_outbox_depth {}", outbox.pending);
            header(
                &mut out,
                "duban_outbox_oldest_age_seconds",
                "The age of the oldest message waiting, 0 when none waits.",
                "gauge",
            );
            let _ = writeln!(
                out,
                "duban_outbox_oldest_age_seconds {}",
                outbox.oldest_seconds
            );
        }
        header(
            &mut out,
            "duban_lease_holder",
            "The instance holding each lease (1 per lease held).",
            "gauge",
        );
        for lease in &gauges.leases {
            let _ = writeln!(
                out,
                "duban_lease_holder{{lease=\"{}\",holder=\"{}\"}} 1",
                label(&lease.name),
                label(&lease.holder)
            );
        }
        header(
            &mut out,
            "duban_lease_held",
            "Whether this instance holds the lease.",
            "gauge",
        );
        for lease in &gauges.leases {
            let _ = writeln!(
                out,
                "duban_lease_held{{lease=\"{}\"}} {}",
                label(&lease.name),
                u8::from(lease.holder == gauges.instance)
            );
        }
        out
    }
}

/// A counter family by kind: its name, its help and the count it shows.
type Family = (&'static str, &'static str, fn(&KindCounts) -> u64);

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the text format wants: backslash, double quote, line feed.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_and_renders_them() {
        let metrics = Metrics::default();
        let sent = |kind: &str| Delivery::Sent {
            id: 1,
            chat: crate::core::chat::Address::new(crate::core::chat::ChannelKind::Telegram, "7"),
            kind: kind.into(),
        };
        metrics.delivered(&sent("reminder"));
        metrics.delivered(&sent("reminder"));
        metrics.delivered(&Delivery::Retry {
            id: 2,
            kind: "digest".into(),
            error: "429".into(),
        });
        metrics.delivered(&Delivery::Dead {
            id: 3,
            kind: "reminder".into(),
            error: "blocked".into(),
        });
        metrics.delivered(&Delivery::Idle { next: None });
        metrics.applied(3);
        metrics.swept(0.5);
        metrics.swept(1.5);
        assert_eq!(
            metrics.kind("reminder"),
            KindCounts {
                sent: 2,
                failed: 1,
                retried: 0
            }
        );
        let text = metrics.render(&Gauges {
            outbox: Some(OutboxHealth {
                pending: 4,
                oldest_seconds: 2.5,
                sent: 2,
                dead: 1,
            }),
            leases: vec![LeaseHolder {
                name: "schedule".into(),
                holder: "host:1:\"x\"".into(),
                expires_at: chrono::Utc::now(),
            }],
            instance: "host:1:\"x\"".into(),
        });
        for line in [
            "duban_messages_sent_total{kind=\"reminder\"} 2",
            "duban_messages_failed_total{kind=\"reminder\"} 1",
            "duban_messages_retried_total{kind=\"digest\"} 1",
            "duban_replies_applied_total 3",
            "duban_sweep_duration_seconds_sum 2",
            "duban_sweep_duration_seconds_count 2",
            "duban_outbox_depth 4",
            "duban_outbox_oldest_age_seconds 2.5",
            "duban_lease_holder{lease=\"schedule\",holder=\"host:1:\\\"x\\\"\"} 1",
            "duban_lease_held{lease=\"schedule\"} 1",
            "duban_database_up 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        let down = metrics.render(&Gauges::default());
        assert!(down.contains("duban_database_up 0"));
        assert!(!down.contains("duban_outbox_depth "));
    }
}
