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

/// Deletes expired traces now and every [`interval`] until `stop` turns true.
pub async fn run(store: Arc<Store>, retention: Duration, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    tracing::info!(
        ?retention,
        "retention on: traces whose newest event is older are deleted"
    );
    loop {
        loop {
            let pass_store = store.clone();
            let pass = move || pass_store.expire(retention, TRACES_PER_PASS);
            let Some(expiry) = background::blocking_pass("retention pass", pass).await else {
                break;
            };
            metrics.count_expired(expiry.deleted);
            if expiry.deleted > 0 {
                tracing::info!(traces = expiry.deleted, "retention deleted expired traces");
            }
            if !expiry.more || *stop.borrow() {
                break;
            }
        }
        if !background::unless_stopped(&mut stop, tokio::time::sleep(interval(retention))).await {
            return;
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
