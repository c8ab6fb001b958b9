//! The disk bound's schedule: the store deletes the oldest traces and
//! compacts when its directory is over `max-disk-bytes`
//! ([`tracekeep_store::Store::trim_to_disk_bound`]); this checks four times
//! a second, off the async workers, until the server stops, and starts a
//! pass early by what ingest writes while one runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracekeep_store::Store;

use crate::background;
use crate::metrics::Metrics;

/// How often the directory's size is checked: a listing and a `stat` per
/// file (a few hundred files for a store of GBs), cheap; what ingest writes
/// between two checks is what the directory can overshoot by before a pass.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Keeps the data directory under `max_disk_bytes` until `stop` turns true.
pub async fn run(store: Arc<Store>, max_disk_bytes: u64, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    tracing::info!(
        max_disk_bytes,
        "disk bound on: past it the oldest traces are deleted until the data directory is under 90% of it"
    );
    let mut tick = tokio::time::interval(CHECK_EVERY);
    // A pass can outlast the interval: start the next a full interval later.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lead = Lead::default();
    while background::unless_stopped(&mut stop, tick.tick()).await {
        let pass_store = store.clone();
        let started = Instant::now();
        let ahead = lead.bytes();
        let pass = move || pass_store.trim_to_disk_bound(ahead);
        match background::blocking_pass("disk bound pass", pass).await {
            Some(trim) if trim.rounds > 0 => {
                lead.passed(started.elapsed());
                metrics.count_trimmed(trim.deleted);
                tracing::info!(
                    traces = trim.deleted,
                    rounds = trim.rounds,
                    bytes_before = trim.bytes_before,
                    bytes_after = trim.bytes_after,
                    lead_bytes = ahead,
                    traces_left = store.trace_count(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "over max-disk-bytes: deleted the oldest traces and compacted"
                );
            }
            Some(trim) => lead.measured(started, trim.bytes_before),
            None => {}
        }
    }
}

/// How far ahead of the bound a pass starts: the directory's growth rate
/// since the last pass times how long that pass took (a pass returns space
/// only as its compaction ends, and ingest goes on meanwhile).
#[derive(Debug)]
struct Lead {
    /// The first check after the last pass (or the start): when, and the
    /// directory's size then.
    since: Option<(Instant, u64)>,
    /// Net growth in bytes per second from `since` to the latest check.
    growth: f64,
    /// How long the last pass took.
    pass: Duration,
}

/// What a pass is taken to last until one has been timed: the first pass
/// should start early too (a release build compacts 200 MB in about 4 s).
const FIRST_PASS_GUESS: Duration = Duration::from_secs(1);

impl Default for Lead {
    fn default() -> Self {
        Lead {
            since: None,
            growth: 0.0,
            pass: FIRST_PASS_GUESS,
        }
    }
}

/// Growth is measured over at least this long: compactions make the size
/// jump by megabytes up and down from one check to the next.
const GROWTH_WINDOW: Duration = Duration::from_secs(2);

impl Lead {
    /// Bytes to start the next pass early by.
    fn bytes(&self) -> u64 {
        // Half again: passes take longer as the store grows.
        (self.growth * self.pass.as_secs_f64() * 1.5) as u64
    }

    /// A check that ran no pass found the directory at `bytes`.
    fn measured(&mut self, at: Instant, bytes: u64) {
        let Some((since, base)) = self.since else {
            self.since = Some((at, bytes));
            return;
        };
        let window = at.saturating_duration_since(since);
        if window >= GROWTH_WINDOW {
            self.growth = bytes.saturating_sub(base) as f64 / window.as_secs_f64();
        }
    }

    /// A pass ran for `took`; growth is measured afresh from the next check
    /// (the estimate so far stays until then).
    fn passed(&mut self, took: Duration) {
        self.pass = took;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_is_net_growth_since_the_last_pass_times_its_duration_and_half_again() {
        let mut lead = Lead::default();
        let start = Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);
        assert_eq!(lead.bytes(), 0, "no growth measured yet: start at the bound");
        // 1 MB/s, with compactions making the size jump 3 MB up and back.
        for step in 0..=40u64 {
            let spike = if step % 4 == 1 { 3_000_000 } else { 0 };
            lead.measured(at(250 * step), 10_000_000 + 250_000 * step + spike);
        }
        // No pass timed yet: one is taken to last a second.
        let bytes = lead.bytes();
        assert!((1_450_000..=1_550_000).contains(&bytes), "{bytes}");
        lead.passed(Duration::from_secs(2));
        // 1 MB/s for 2 s, and half again.
        let bytes = lead.bytes();
        assert!((2_900_000..=3_100_000).contains(&bytes), "{bytes}");
        // After a pass: the old estimate holds until a new window is long enough.
        lead.measured(at(20_000), 8_000_000);
        lead.measured(at(21_000), 8_500_000);
        assert_eq!(lead.bytes(), bytes);
        lead.measured(at(22_000), 12_000_000);
        assert_eq!(lead.bytes(), 6_000_000, "2 MB/s for 2 s, and half again");
        // Shrinking is no growth, not negative growth.
        lead.measured(at(25_000), 1_000_000);
        assert_eq!(lead.bytes(), 0);
    }
}
