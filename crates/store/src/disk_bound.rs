//! The disk bound (`max_disk_bytes`): once the data directory grows past it,
//! the oldest traces in first-seen order are deleted until it is under 90% of
//! it, and the key space is compacted so that their space really returns.

use super::{Cursor, Store, directory_usage};
use crate::error::{Result, StoreError};

/// What one [`Store::trim_to_disk_bound`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trim {
    /// Traces deleted.
    pub deleted: u64,
    /// Delete-then-compact rounds run (0: the directory was within the bound).
    pub rounds: u32,
    /// The data directory's size when the pass began, in bytes.
    pub bytes_before: u64,
    /// Its size when the pass ended.
    pub bytes_after: u64,
}

/// A pass deletes and compacts at most this often; the next pass goes on.
/// Each round compacts the whole key space, so a round's estimate of what to
/// delete errs towards deleting enough.
const MAX_ROUNDS: u32 = 4;

/// A round aims this far below the bound (in hundredths), under the 90% a
/// pass must reach: an estimate that falls just short would cost another
/// round, and each pass compacts everything, so passes should be rare (one
/// per fifth of the bound ingested).
const AIM_PERCENT: u64 = 80;

/// First-seen entries read per walk of the order: bounds the pass's memory
/// however many traces it deletes.
const TRACES_PER_WALK: usize = 1_000;

impl Store {
    /// Enforces the disk bound ([`crate::StoreOptions::max_disk_bytes`];
    /// nothing to do without one): when the data directory is larger than
    /// the bound less `lead` bytes, deletes the oldest traces (first-seen
    /// order, whatever their age) and compacts, in rounds, until it is under
    /// 90% of the bound.
    ///
    /// `lead` (at most a tenth of the bound) starts a pass early by what
    /// ingest will write while the pass runs (a compaction of everything
    /// takes seconds), so the directory stays near the bound rather than
    /// past it; 0 starts it at the bound.
    ///
    /// How much to delete is estimated from the trace count: the excess
    /// over 80% of the bound, as a share of the table and log files, is taken
    /// as the share of traces (the oldest ones) to delete, which holds while
    /// traces' sizes do not drift. Each trace goes whole or not at all, also
    /// if the process dies mid-pass ([`Store::expire`]'s commits). Compaction
    /// runs beside the automatic ones and ingest: nothing waits for it but
    /// the caller.
    pub fn trim_to_disk_bound(&self, lead: u64) -> Result<Trim> {
        if self.writer.is_none() {
            return Err(StoreError::ReadOnly);
        }
        let bound = self.max_disk_bytes;
        let mut usage = directory_usage(&self.path)?;
        let before = usage.total;
        let mut trim = Trim {
            bytes_before: before,
            bytes_after: before,
            ..Trim::default()
        };
        if bound == 0 || before.saturating_add(lead.min(bound / 10)) <= bound {
            return Ok(trim);
        }
        let target = bound / 10 * 9;
        let aim = bound / 100 * AIM_PERCENT;
        while usage.total > target && trim.rounds < MAX_ROUNDS {
            trim.rounds += 1;
            let traces = self.counters().traces;
            if traces == 0 {
                break;
            }
            // The share of the trace data (tables and log) above the aim.
            let share = (usage.total.saturating_sub(aim) as f64 / usage.data.max(1) as f64).min(1.0);
            let doomed = (traces as f64 * share).ceil() as u64;
            let deleted = self.delete_oldest(doomed.max(1))?;
            trim.deleted += deleted;
            self.compact_everything();
            usage = directory_usage(&self.path)?;
            if deleted == 0 {
                // What is left is not traces (logs, metadata): nothing to gain.
                break;
            }
        }
        trim.bytes_after = usage.total;
        Ok(trim)
    }

    /// The first-seen arrival number of the oldest trace.
    pub(crate) fn oldest_first_seq(&self) -> Result<Option<u64>> {
        let mut oldest = None;
        self.walk_order(None, self.engine(), |_, Cursor(first_seq)| {
            oldest = Some(first_seq);
            Ok(false)
        })?;
        Ok(oldest)
    }

    /// Deletes the `count` traces first seen earliest, a few per commit;
    /// returns how many went. By count, not by a range of arrival numbers:
    /// those follow the clock, so a range says how long, not how much.
    fn delete_oldest(&self, count: u64) -> Result<u64> {
        let mut deleted = 0;
        let mut walked = 0;
        let mut after = None;
        loop {
            let mut doomed = Vec::new();
            let mut more = false;
            self.walk_order(after, self.engine(), |trace_id, cursor| {
                if walked >= count {
                    return Ok(false);
                }
                if doomed.len() >= TRACES_PER_WALK {
                    more = true;
                    return Ok(false);
                }
                after = Some(cursor);
                walked += 1;
                doomed.push((trace_id, cursor.0));
                Ok(true)
            })?;
            // Every event of these traces goes, however recent.
            deleted += self.expire_traces(&doomed, u64::MAX)?;
            if !more {
                return Ok(deleted);
            }
        }
    }

    /// Compacts the whole key space of both families: the deleted traces'
    /// start entries and span index keys are spread over all of the default
    /// one. Not exclusive, so automatic compactions (which ingest needs)
    /// keep running; under the bound's leveled layout each job deletes its
    /// inputs as it ends, so space returns as it goes.
    fn compact_everything(&self) {
        self.db.compact_all();
    }
}
