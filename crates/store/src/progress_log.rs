//! Progress of long store jobs (format upgrades) in the log: a line every
//! ten seconds with what is done, the estimated total, the rate and the time
//! left, so an operator watching a start that takes minutes knows how many.

use std::time::{Duration, Instant};

/// How often a running job logs.
const EVERY: Duration = Duration::from_secs(10);

/// One job's progress, logged as it goes.
pub(crate) struct LogProgress {
    job: &'static str,
    unit: &'static str,
    estimated_total: u64,
    done: u64,
    started: Instant,
    last: Instant,
}

impl LogProgress {
    /// A job over about `estimated_total` units (an engine estimate).
    pub(crate) fn new(job: &'static str, unit: &'static str, estimated_total: u64) -> LogProgress {
        let now = Instant::now();
        tracing::info!(job, estimated_total, unit, "{job}: started");
        LogProgress {
            job,
            unit,
            estimated_total,
            done: 0,
            started: now,
            last: now,
        }
    }

    /// `n` more units are done.
    pub(crate) fn add(&mut self, n: u64) {
        self.done += n;
        if self.last.elapsed() < EVERY {
            return;
        }
        self.last = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let per_second = (self.done as f64 / seconds) as u64;
        let total = self.estimated_total.max(self.done);
        let seconds_left = (total - self.done).checked_div(per_second).unwrap_or(0);
        tracing::info!(
            job = self.job,
            done = self.done,
            estimated_total = total,
            percent = self.done.saturating_mul(100) / total.max(1),
            per_second,
            seconds_left,
            unit = self.unit,
            "{}: {} of about {total} {} done",
            self.job,
            self.done,
            self.unit
        );
    }
}
