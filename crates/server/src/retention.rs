//! Retention's schedule: the store deletes expired traces in bounded,
//! per-trace atomic passes ([`tracekeep_store::Store::expire`]); this runs
//! them in the background, off the async workers, until the server stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracekeep_store::Store;

use crate::background;
use crate::metrics::Metrics;

/// Traces one pass deletes at most before the sweep lets other work in.
const TRACES_PER_PASS: usize = 1_000;

/// How often a sweep starts: a hundredth of the retention, within 1 s to 1 min.
fn interval(retention: Duration) -> Duration {
    (retention / 100).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Deletes expired traces now and every `interval` until `stop` turns true.
pub async fn run(store: Arc<Store>, retention: Duration, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    tracing::info!(
        ?retention,
        "retention on: traces whose newest event is older are deleted"
    );
    loop {
        let mut sweep = Sweep::start();
        loop {
            let pass_store = store.clone();
            let pass = move || pass_store.expire(retention, TRACES_PER_PASS);
            let Some(expiry) = background::blocking_pass("retention pass", pass).await else {
                break;
            };
            metrics.count_expired(expiry.deleted);
            sweep.passed(expiry.deleted, expiry.more, store.trace_count());
            if !expiry.more || *stop.borrow() {
                break;
            }
        }
        if !background::unless_stopped(&mut stop, tokio::time::sleep(interval(retention))).await {
            return;
        }
    }
}

/// One sweep's running totals, logged per pass while more remain and once
/// at its end, so a sweep through a large backlog shows its progress.
struct Sweep {
    started: std::time::Instant,
    passes: u64,
    deleted: u64,
}

impl Sweep {
    fn start() -> Sweep {
        Sweep {
            started: std::time::Instant::now(),
            passes: 0,
            deleted: 0,
        }
    }

    fn passed(&mut self, deleted: u64, more: bool, traces_left: u64) {
        self.passes += 1;
        self.deleted += deleted;
        if self.deleted == 0 {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        if more {
            tracing::info!(
                deleted_so_far = self.deleted,
                passes = self.passes,
                traces_left,
                traces_per_second = (self.deleted as f64 / seconds.max(0.001)) as u64,
                "retention sweep: deleting expired traces, oldest first"
            );
        } else {
            tracing::info!(
                deleted = self.deleted,
                passes = self.passes,
                traces_left,
                seconds,
                "retention sweep done: deleted expired traces"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_run_every_hundredth_of_the_retention_within_a_second_and_a_minute() {
        assert_eq!(interval(Duration::from_secs(7 * 86_400)), Duration::from_secs(60));
        assert_eq!(interval(Duration::from_secs(3000)), Duration::from_secs(30));
        assert_eq!(interval(Duration::from_secs(10)), Duration::from_secs(1));
    }
}
