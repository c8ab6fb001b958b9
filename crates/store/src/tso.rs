//! The timestamp oracle: strictly increasing i64 nanosecond timestamps.
//!
//! As TiDB's PD does, the allocator persists a high-water mark *ahead* of the
//! values it hands out: before issuing `ts` it makes sure the stored mark is
//! above `ts`, raising it by [`TSO_WINDOW_NANOS`] at a time (one fsynced write
//! per window, not per call). After a restart it starts above the stored mark,
//! so no value is ever issued twice, even if the wall clock stepped back while
//! it was down. Within a run, a clock that steps back is ignored: each value is
//! `max(clock, previous + 1)`.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Result, StoreError};

/// How far ahead of the issued values the persisted mark is raised (3 s).
pub const TSO_WINDOW_NANOS: i64 = 3_000_000_000;

/// A source of wall-clock time in nanoseconds since the Unix epoch.
/// Injectable so that tests can move time, backwards included.
pub trait Clock: Send + Sync + 'static {
    /// Now, in nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
            // A clock before 1970 is a broken clock; the allocator still rises.
            Err(_) => 0,
        }
    }
}

struct TsoState {
    /// The last value issued (or the mark loaded at open).
    last: i64,
    /// The persisted mark: every issued value is below it.
    mark: i64,
}

/// The nodes of a cluster issue values in separate residue classes modulo
/// this: node `slot` only values `v` with `v % TSO_SLOTS == slot`, so no two
/// nodes ever issue one value, with no word between them. Each node then
/// issues at most one value per 1 024 ns (a million a second), still
/// nanoseconds of its clock.
pub const TSO_SLOTS: u32 = 1024;

/// The allocator; persisting the mark is the caller's job (`persist`).
pub(crate) struct TsoAllocator {
    clock: Arc<dyn Clock>,
    state: Mutex<TsoState>,
    /// Values issued are `slot` modulo `stride` (a node of a cluster), or
    /// any (`stride` 1).
    stride: i64,
    slot: i64,
}

impl TsoAllocator {
    /// Starts above `persisted_mark`, the mark read at open (0 for a new store).
    pub(crate) fn new(clock: Arc<dyn Clock>, persisted_mark: i64) -> TsoAllocator {
        TsoAllocator {
            clock,
            state: Mutex::new(TsoState {
                last: persisted_mark,
                mark: persisted_mark,
            }),
            stride: 1,
            slot: 0,
        }
    }

    /// As [`TsoAllocator::new`], issuing only values congruent to `slot`
    /// modulo [`TSO_SLOTS`]: node `slot` of a cluster.
    pub(crate) fn for_slot(clock: Arc<dyn Clock>, persisted_mark: i64, slot: u32) -> TsoAllocator {
        TsoAllocator {
            stride: i64::from(TSO_SLOTS),
            slot: i64::from(slot % TSO_SLOTS),
            ..TsoAllocator::new(clock, persisted_mark)
        }
    }

    /// The least value this allocator may issue at or above `at`.
    fn at_or_above(&self, at: i64) -> Option<i64> {
        let up = (self.slot - at.rem_euclid(self.stride)).rem_euclid(self.stride);
        at.checked_add(up)
    }

    /// The current persisted mark.
    pub(crate) fn mark(&self) -> i64 {
        self.state
            .lock()
            .map_or_else(|poisoned| poisoned.into_inner().mark, |state| state.mark)
    }

    /// Issues the next value; calls `persist(new_mark)` first when the mark must rise,
    /// and issues nothing if that fails.
    pub(crate) fn next(&self, persist: impl FnOnce(i64) -> Result<()>) -> Result<i64> {
        // A panic while holding the lock cannot leave the state half-updated
        // (both fields are written after every fallible step), so poison is harmless.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let floor = state.last.checked_add(1).ok_or(StoreError::TsoExhausted)?;
        let ts = self
            .at_or_above(self.clock.now_nanos().max(floor))
            .ok_or(StoreError::TsoExhausted)?;
        if ts >= state.mark {
            let mark = ts.checked_add(TSO_WINDOW_NANOS).ok_or(StoreError::TsoExhausted)?;
            persist(mark)?;
            state.mark = mark;
        }
        state.last = ts;
        Ok(ts)
    }

    /// Issues the next value if the persisted mark already covers it;
    /// `None` (nothing issued) when the mark must rise first, which takes a
    /// synced write: the caller then uses [`TsoAllocator::next`] where it
    /// may block.
    pub(crate) fn try_next_within_mark(&self) -> Option<i64> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let floor = state.last.checked_add(1)?;
        let ts = self.at_or_above(self.clock.now_nanos().max(floor))?;
        if ts >= state.mark {
            return None;
        }
        state.last = ts;
        Some(ts)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    #[test]
    fn a_value_under_the_mark_is_issued_without_persisting_and_one_past_it_is_not() {
        let (clock, tso) = allocator(1_000, 0);
        assert_eq!(
            tso.try_next_within_mark(),
            None,
            "a new store has no mark to issue under"
        );
        assert_eq!(tso.next(|_| Ok(())).ok(), Some(1_000));
        // The clock has not moved: the next value is one above the last.
        assert_eq!(tso.try_next_within_mark(), Some(1_001));
        let mark = tso.mark();
        clock.0.store(mark, Ordering::SeqCst);
        assert_eq!(tso.try_next_within_mark(), None, "at the mark it must persist first");
        assert_eq!(tso.next(|_| Ok(())).ok(), Some(mark));
    }

    struct ManualClock(AtomicI64);

    impl Clock for ManualClock {
        fn now_nanos(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn allocator(now: i64, mark: i64) -> (Arc<ManualClock>, TsoAllocator) {
        let clock = Arc::new(ManualClock(AtomicI64::new(now)));
        (clock.clone(), TsoAllocator::new(clock, mark))
    }

    #[test]
    fn follows_the_clock_and_persists_ahead() {
        let (clock, tso) = allocator(1_000, 0);
        let mut persisted = Vec::new();
        let first = tso.next(|mark| {
            persisted.push(mark);
            Ok(())
        });
        assert_eq!(first.ok(), Some(1_000));
        assert_eq!(persisted, [1_000 + TSO_WINDOW_NANOS]);
        clock.0.store(5_000, Ordering::SeqCst);
        let ts = tso.next(|_| panic!("mark is still ahead")).ok();
        assert_eq!(ts, Some(5_000));
    }

    #[test]
    fn a_clock_stepping_back_never_makes_it_go_back() {
        let (clock, tso) = allocator(10_000, 0);
        let first = tso.next(|_| Ok(())).ok();
        clock.0.store(1, Ordering::SeqCst);
        let second = tso.next(|_| Ok(())).ok();
        assert_eq!(first, Some(10_000));
        assert_eq!(second, Some(10_001));
    }

    #[test]
    fn restarts_above_the_persisted_mark() {
        let (_clock, tso) = allocator(5, 1_000_000);
        assert_eq!(tso.next(|_| Ok(())).ok(), Some(1_000_001));
        assert_eq!(tso.mark(), 1_000_001 + TSO_WINDOW_NANOS);
    }

    #[test]
    fn a_failed_persist_issues_nothing() {
        let (_clock, tso) = allocator(100, 0);
        let failed = tso.next(|_| Err(StoreError::Closed));
        assert!(matches!(failed, Err(StoreError::Closed)));
        assert_eq!(tso.mark(), 0);
        assert_eq!(tso.next(|_| Ok(())).ok(), Some(100));
    }

    #[test]
    fn nodes_of_a_cluster_never_issue_one_value_even_on_one_clock() {
        let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
        let nodes: Vec<TsoAllocator> = [0, 1, 1023]
            .into_iter()
            .map(|slot| TsoAllocator::for_slot(clock.clone(), 0, slot))
            .collect();
        let mut issued = std::collections::HashSet::new();
        for _ in 0..100 {
            for (node, slot) in nodes.iter().zip([0, 1, 1023]) {
                let value = node.next(|_| Ok(())).ok();
                assert_eq!(value.map(|value| value.rem_euclid(i64::from(TSO_SLOTS))), Some(slot));
                assert!(issued.insert(value), "{value:?} issued twice");
            }
        }
    }

    #[test]
    fn the_end_of_time_is_an_error_not_a_wrap() {
        let (_clock, tso) = allocator(i64::MAX, 0);
        assert!(matches!(tso.next(|_| Ok(())), Err(StoreError::TsoExhausted)));
    }
}
