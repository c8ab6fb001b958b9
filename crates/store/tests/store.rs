//! The store's behaviour through its public API, on either engine: RocksDB
//! directories by default, or with `TRACEKEEP_TEST_ENGINE=bucket` SlateDB in a
//! local-file bucket inside each test's directory (`scripts/test.sh` runs the
//! suite both ways). Tests of what only a RocksDB directory has (older
//! on-disk formats, read-only opens of a directory, the disk bound, table
//! files) say so and pass on the bucket engine without running.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};

use tracekeep_store::{
    Clock, Cursor, EventKind, Expiry, LIST_SKIP_LIMIT, ListOrder, SpanSearch, Store, StoreError, StoreOptions,
    TSO_WINDOW_NANOS, TraceEvent, TraceFilter, pb,
};

fn base(trace_id: &str, tso: i64) -> Option<pb::BaseEvent> {
    Some(pb::BaseEvent {
        trace_id: trace_id.to_owned(),
        tso,
        filename: "syncer.go".into(),
        line: 42,
        ..Default::default()
    })
}

fn job(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Job(pb::SyncerJobEvent {
        base: base(trace_id, tso),
        sql: format!("INSERT INTO t VALUES ({tso})"),
        ..Default::default()
    })
}

fn binlog(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Binlog(pb::SyncerBinlogEvent {
        base: base(trace_id, tso),
        event_type: 4,
        ..Default::default()
    })
}

/// Whether the suite runs on the bucket engine (`TRACEKEEP_TEST_ENGINE=bucket`).
fn on_bucket() -> bool {
    std::env::var("TRACEKEEP_TEST_ENGINE").is_ok_and(|engine| engine == "bucket")
}

/// Ends a test of what only a RocksDB directory has when the suite runs on
/// the bucket engine.
macro_rules! rocksdb_only {
    ($why:literal) => {
        if on_bucket() {
            eprintln!("RocksDB only: {}", $why);
            return;
        }
    };
}

/// `options` for a store in `dir` on the suite's engine: the same bucket
/// for every open of one directory, so reopening finds the data.
fn on_engine(dir: &std::path::Path, mut options: StoreOptions) -> StoreOptions {
    if on_bucket() {
        options.bucket = Some(format!("file://{}/bucket", dir.display()));
        options.bucket_flush_interval = std::time::Duration::from_millis(2);
    }
    options
}

/// Opens the store in `dir` with `options` on the suite's engine.
fn open_with(dir: &std::path::Path, options: StoreOptions) -> Store {
    Store::open(dir, on_engine(dir, options)).expect("open store")
}

fn open(dir: &tempfile::TempDir) -> Store {
    open_with(dir.path(), StoreOptions::default())
}

fn tsos(store: &Store, trace_id: &str) -> Vec<i64> {
    store
        .query(trace_id)
        .expect("query")
        .iter()
        .map(|stored| stored.event.tso())
        .collect()
}

fn assert_consistent(store: &Store) {
    let mut problems = Vec::new();
    let report = store
        .verify(|problem| problems.push(problem.clone()), |_| {})
        .expect("verify");
    assert!(problems.is_empty(), "verify found {problems:?}");
    assert_eq!(report.problems, 0);
}

#[test]
fn appended_events_come_back_in_arrival_order_with_their_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .append(vec![job("t", 3), binlog("t", 1), job("other", 9)])
        .unwrap();
    store.append(vec![binlog("t", 2)]).unwrap();
    let events = store.query("t").unwrap();
    let kinds: Vec<_> = events.iter().map(|stored| stored.event.kind()).collect();
    assert_eq!(kinds, [EventKind::Job, EventKind::Binlog, EventKind::Binlog]);
    assert_eq!(tsos(&store, "t"), [3, 1, 2]);
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(events[0].event, job("t", 3));
    assert_consistent(&store);
}

#[test]
fn an_unknown_trace_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("known", 1)]).unwrap();
    for id in ["unknown", "", "kno", "known\0"] {
        match store.query(id) {
            Err(StoreError::TraceNotFound { trace_id }) => assert_eq!(trace_id, id),
            other => panic!("{id:?}: {other:?}"),
        }
    }
}

#[test]
fn prefix_colliding_trace_ids_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let long = "x".repeat(5_000);
    let ids = [
        "t.1",
        "t.10",
        "t.1\0x",
        "t.1\0",
        "t",
        "t.1|2",
        "",
        "多.1",
        long.as_str(),
    ];
    for (n, id) in ids.iter().enumerate().filter(|(_, id)| !id.is_empty()) {
        store.append(vec![job(id, n as i64), job(id, 100 + n as i64)]).unwrap();
    }
    for (n, id) in ids.iter().enumerate().filter(|(_, id)| !id.is_empty()) {
        assert_eq!(tsos(&store, id), [n as i64, 100 + n as i64], "trace {id:?}");
    }
    assert!(store.delete("t.1").unwrap());
    assert!(matches!(store.query("t.1"), Err(StoreError::TraceNotFound { .. })));
    assert_eq!(tsos(&store, "t.10"), [1, 101]);
    assert_eq!(tsos(&store, "t.1\0x"), [2, 102]);
    assert_consistent(&store);
}

#[test]
fn a_batch_with_a_bad_event_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let no_base = TraceEvent::Binlog(pb::SyncerBinlogEvent::default());
    let empty_id = job("", 5);
    let huge_id = job(&"y".repeat(tracekeep_store::MAX_TRACE_ID_LEN + 1), 5);
    for (bad, reason) in [(no_base, "no base"), (empty_id, "traceID is empty"), (huge_id, "limit")] {
        match store.append(vec![job("a", 1), job("b", 2), bad]) {
            Err(StoreError::InvalidEvent { index, reason: got }) => {
                assert_eq!(index, 2);
                assert!(got.contains(reason), "{got}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(store.query("a").is_err());
    assert_eq!(store.stats().unwrap().traces, 0);
    store.append(Vec::new()).unwrap();
    assert_consistent(&store);
}

fn fifteen_traces(store: &Store) {
    for n in 0..15 {
        store.append(vec![job(&format!("trace.{n}"), n)]).unwrap();
    }
}

fn scanned_ids(store: &Store, offset: u64, limit: u64) -> Result<Vec<String>, StoreError> {
    Ok(store
        .scan(offset, limit)?
        .into_iter()
        .map(|trace| trace.trace_id)
        .collect())
}

#[test]
fn scan_follows_dm_tracer_offsets_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    fifteen_traces(&store);
    for (offset, limit, expected) in [(0, 0, 0), (3, 5, 5), (3, 20, 12), (10, 10, 5), (15, 10, 0)] {
        let ids = scanned_ids(&store, offset, limit).unwrap();
        assert_eq!(ids.len(), expected, "offset {offset} limit {limit}");
        let want: Vec<_> = (offset..offset + expected as u64)
            .map(|n| format!("trace.{n}"))
            .collect();
        assert_eq!(ids, want);
    }
    match store.scan(16, 10) {
        Err(StoreError::OffsetPastEnd { offset: 16, traces: 15 }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn scan_offsets_count_the_traces_that_exist_now() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    fifteen_traces(&store);
    assert!(store.delete("trace.1").unwrap());
    assert_eq!(scanned_ids(&store, 1, 2).unwrap(), ["trace.2", "trace.3"]);
    // A trace's later events do not move it in first-seen order.
    store.append(vec![job("trace.0", 99)]).unwrap();
    assert_eq!(scanned_ids(&store, 0, 1).unwrap(), ["trace.0"]);
    assert!(matches!(store.scan(15, 1), Err(StoreError::OffsetPastEnd { .. })));
    // A deleted trace that comes back is first seen again, at the end.
    store.append(vec![job("trace.1", 7)]).unwrap();
    assert_eq!(scanned_ids(&store, 14, 5).unwrap(), ["trace.1"]);
    assert_consistent(&store);
}

#[test]
fn cursor_scan_pages_through_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    fifteen_traces(&store);
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = store.scan_after(after, 4).unwrap();
        assert!(page.traces.len() <= 4);
        seen.extend(page.traces.iter().map(|trace| {
            assert_eq!(trace.events.len(), 1);
            trace.trace_id.clone()
        }));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let want: Vec<_> = (0..15).map(|n| format!("trace.{n}")).collect();
    assert_eq!(seen, want);
    // A cursor stays valid when the trace it points at is deleted.
    let first = store.scan_after(None, 2).unwrap();
    assert!(store.delete("trace.1").unwrap());
    let rest = store.scan_after(first.next, 1).unwrap();
    assert_eq!(rest.traces[0].trace_id, "trace.2");
    assert_eq!(store.scan_after(Some(Cursor(u64::MAX)), 5).unwrap().traces, []);
    assert_eq!("17".parse::<Cursor>().unwrap(), Cursor(17));
}

#[test]
fn list_traces_summarises_each_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("a", 5), binlog("a", 2), job("b", 7)]).unwrap();
    store.append(vec![job("ab", 0), job("c", 1)]).unwrap();
    let (summaries, next) = store.list_traces(None, 10, "").unwrap();
    assert_eq!(next, None);
    assert_eq!(summaries.len(), 4);
    assert_eq!((summaries[0].trace_id.as_str(), summaries[0].events), ("a", 2));
    assert_eq!((summaries[0].min_tso, summaries[0].max_tso), (2, 5));
    assert_eq!(
        (summaries[2].min_tso, summaries[2].max_tso),
        (0, 0),
        "an unset TSO is not a time"
    );
    let (page, next) = store.list_traces(None, 1, "").unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(next, Some(page[0].cursor));
    let (matching, next) = store.list_traces(None, 1, "a").unwrap();
    assert_eq!(matching[0].trace_id, "a");
    let (rest, end) = store.list_traces(next, 5, "a").unwrap();
    let ids: Vec<_> = rest.iter().map(|summary| summary.trace_id.as_str()).collect();
    assert_eq!((ids, end), (vec!["ab"], None));
    assert_eq!(store.tso_range().unwrap(), Some((1, 7)));
}

#[test]
fn a_dm_listing_keeps_traces_that_begin_with_a_dm_event_and_bounds_its_walk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let dm = TraceFilter {
        prefix: String::new(),
        dm_only: true,
    };
    store.append(vec![job("dm.1", 1), binlog("dm.1", 2)]).unwrap();
    store
        .append(vec![span("00000000000000aa", "01", "web", "get", 1, &[])])
        .unwrap();
    store.append(vec![binlog("dm.2", 3)]).unwrap();
    let (all, _) = store.list_traces_in(ListOrder::OldestFirst, None, 10, "").unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].events_by_kind, [1, 1, 0]);
    assert_eq!(all[1].events_of(EventKind::Span), 1);
    let (page, next) = store
        .list_traces_filtered(ListOrder::NewestFirst, None, 10, &dm)
        .unwrap();
    let ids: Vec<_> = page.iter().map(|summary| summary.trace_id.as_str()).collect();
    assert_eq!((ids, next), (vec!["dm.2", "dm.1"], None));

    // Past LIST_SKIP_LIMIT span traces in a row the page ends early, and its
    // cursor goes on to the DM trace beyond them.
    let spans: Vec<_> = (0..LIST_SKIP_LIMIT)
        .map(|i| span(&format!("{:016x}", 0x1000 + i), "01", "web", "get", 1, &[]))
        .collect();
    for chunk in spans.chunks(2_000) {
        store.append(chunk.to_vec()).unwrap();
    }
    store.append(vec![job("dm.3", 4)]).unwrap();
    let (page, next) = store
        .list_traces_filtered(ListOrder::OldestFirst, None, 10, &dm)
        .unwrap();
    let ids: Vec<_> = page.iter().map(|summary| summary.trace_id.as_str()).collect();
    assert_eq!(ids, ["dm.1", "dm.2"]);
    let next = next.expect("a page cut short by the walk bound has a cursor");
    let (rest, end) = store
        .list_traces_filtered(ListOrder::OldestFirst, Some(next), 10, &dm)
        .unwrap();
    let ids: Vec<_> = rest.iter().map(|summary| summary.trace_id.as_str()).collect();
    assert_eq!((ids, end), (vec!["dm.3"], None));
}

#[test]
fn list_traces_newest_first_pages_backwards_across_order_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // Two commits, so two first-seen order records of several traces each.
    store.append(vec![job("t1", 1), job("t2", 2), job("t3", 3)]).unwrap();
    store.append(vec![job("t4", 4), job("t5", 5), job("x6", 6)]).unwrap();
    assert!(store.delete("t2").unwrap());
    let ids = |page: &[tracekeep_store::TraceSummary]| -> Vec<String> {
        page.iter().map(|summary| summary.trace_id.clone()).collect()
    };
    let (all, end) = store.list_traces_in(ListOrder::NewestFirst, None, 10, "").unwrap();
    assert_eq!(
        (ids(&all), end),
        (
            vec!["x6", "t5", "t4", "t3", "t1"]
                .into_iter()
                .map(String::from)
                .collect(),
            None
        )
    );
    let mut pages = Vec::new();
    let mut from = None;
    loop {
        let (page, next) = store.list_traces_in(ListOrder::NewestFirst, from, 2, "t").unwrap();
        pages.push(ids(&page));
        match next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, [vec!["t5", "t4"], vec!["t3", "t1"]]);
    // A cursor from an oldest-first page continues backwards from there.
    let (oldest, _) = store.list_traces_in(ListOrder::OldestFirst, None, 3, "").unwrap();
    let (before, _) = store
        .list_traces_in(ListOrder::NewestFirst, Some(oldest[2].cursor), 10, "")
        .unwrap();
    assert_eq!(ids(&before), ["t3", "t1"]);
    assert_eq!(ids(&oldest), ["t1", "t3", "t4"]);
}

#[test]
fn export_streams_every_event_in_first_seen_then_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("b", 1), job("a", 2), binlog("b", 3)]).unwrap();
    let mut seen = Vec::new();
    let count = store
        .export(|trace_id, stored| {
            seen.push((trace_id.to_owned(), stored.event.tso()));
            Ok(())
        })
        .unwrap();
    assert_eq!(count, 3);
    assert_eq!(seen, [("b".to_owned(), 1), ("b".to_owned(), 3), ("a".to_owned(), 2)]);
    assert_eq!(open_empty_range(), None);
}

fn open_empty_range() -> Option<(i64, i64)> {
    let dir = tempfile::tempdir().unwrap();
    open(&dir).tso_range().unwrap()
}

#[test]
fn delete_and_truncate_remove_events_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    fifteen_traces(&store);
    assert!(store.delete("trace.4").unwrap());
    assert!(!store.delete("trace.4").unwrap());
    assert!(!store.delete("never").unwrap());
    assert_eq!(store.stats().unwrap().traces, 14);
    assert_consistent(&store);
    store.truncate().unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.traces, stats.events()), (0, 0));
    assert!(matches!(store.scan(0, 10), Ok(traces) if traces.is_empty()));
    assert!(matches!(store.scan(1, 10), Err(StoreError::OffsetPastEnd { .. })));
    store.append(vec![job("after", 1)]).unwrap();
    assert_eq!(scanned_ids(&store, 0, 10).unwrap(), ["after"]);
    assert_consistent(&store);
}

#[test]
fn stats_count_traces_and_events_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("a", 1), job("a", 2), binlog("b", 3)]).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!(stats.traces, 2);
    assert_eq!(
        stats.events_by_kind,
        [(EventKind::Binlog, 1), (EventKind::Job, 2), (EventKind::Span, 0)]
    );
    assert_eq!(stats.format_version, tracekeep_store::FORMAT_VERSION);
    // The data directory's files: on a bucket, only what is cached locally.
    assert!(on_bucket() || stats.bytes_on_disk > 0);
    // Kinds that alternate within one request are each counted (the writer
    // counts a request's kinds run by run).
    store
        .append(vec![binlog("c", 4), job("c", 5), binlog("c", 6), binlog("a", 7)])
        .unwrap();
    let stats = store.stats().unwrap();
    assert_eq!(stats.traces, 3);
    assert_eq!(
        stats.events_by_kind,
        [(EventKind::Binlog, 4), (EventKind::Job, 3), (EventKind::Span, 0)]
    );
    assert_consistent(&store);
}

#[test]
fn reopening_keeps_everything_and_the_tso_keeps_rising() {
    let dir = tempfile::tempdir().unwrap();
    let (last_tso, before) = {
        let store = open(&dir);
        fifteen_traces(&store);
        store.delete("trace.3").unwrap();
        let issued: Vec<i64> = (0..100).map(|_| store.next_tso().unwrap()).collect();
        assert!(issued.windows(2).all(|pair| pair[0] < pair[1]));
        (issued[99], store.stats().unwrap())
    };
    let store = open(&dir);
    let after = store.stats().unwrap();
    assert_eq!(
        (after.traces, after.events(), after.next_seq),
        (before.traces, before.events(), before.next_seq)
    );
    assert_eq!(scanned_ids(&store, 2, 2).unwrap(), ["trace.2", "trace.4"]);
    assert_eq!(tsos(&store, "trace.14"), [14]);
    let next = store.next_tso().unwrap();
    assert!(next > last_tso, "{next} after {last_tso}");
    assert!(
        next > before.tso_mark - 1,
        "restart must start above the persisted mark"
    );
    assert_consistent(&store);
}

struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now_nanos(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn a_clock_stepping_back_never_moves_the_tso_back_even_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(1_000_000_000_000)));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let mut issued = Vec::new();
    {
        let store = open_with(dir.path(), options.clone());
        issued.push(store.next_tso().unwrap());
        clock.0.store(5, Ordering::SeqCst); // a step back during the run
        issued.push(store.next_tso().unwrap());
        clock.0.store(1_000_000_000_000 + 1_000, Ordering::SeqCst);
        issued.push(store.next_tso().unwrap());
    }
    clock.0.store(1, Ordering::SeqCst); // and back again while it was down
    let store = open_with(dir.path(), options);
    issued.push(store.next_tso().unwrap());
    assert!(issued.windows(2).all(|pair| pair[0] < pair[1]), "{issued:?}");
    assert!(
        issued[3] >= issued[0] + TSO_WINDOW_NANOS,
        "restart resumes above the persisted mark"
    );
}

/// The arrival numbers of `trace_id`'s events.
fn seqs(store: &Store, trace_id: &str) -> Vec<u64> {
    store.query(trace_id).unwrap().iter().map(|stored| stored.seq).collect()
}

#[test]
fn arrival_numbers_follow_the_clock_and_never_go_back_even_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let at = 1_800_000_000_000_000_000; // nanoseconds: January 2027
    let clock = Arc::new(SteppingClock(AtomicI64::new(at)));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let mut numbers = Vec::new();
    {
        let store = open_with(dir.path(), options.clone());
        store.append(vec![job("t", 1), job("t", 2)]).unwrap();
        numbers.extend(seqs(&store, "t"));
        // Microseconds of the clock (the trace's first-seen number takes
        // the first): events at different nodes compare.
        assert_eq!(numbers, [1_800_000_000_000_001, 1_800_000_000_000_002]);
        clock.0.store(5, Ordering::SeqCst); // a step back during the run
        store.append(vec![job("t", 3)]).unwrap();
        clock.0.store(at + 1_000_000, Ordering::SeqCst); // a millisecond on
        store.append(vec![job("t", 4)]).unwrap();
        numbers = seqs(&store, "t");
        assert_eq!(
            numbers[2], 1_800_000_000_000_003,
            "a clock stepped back cannot lower them"
        );
        assert_eq!(
            numbers[3], 1_800_000_000_001_000,
            "back on the clock once it passes the last number"
        );
    }
    clock.0.store(1, Ordering::SeqCst); // and back again while it was down
    let store = open_with(dir.path(), options);
    store.append(vec![job("t", 5)]).unwrap();
    let after_restart = seqs(&store, "t");
    assert_eq!(after_restart[..4], numbers[..]);
    assert!(
        after_restart.windows(2).all(|pair| pair[0] < pair[1]),
        "{after_restart:?}"
    );
    assert_consistent(&store);
}

#[test]
fn the_tso_is_strictly_increasing_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || (0..500).map(|_| store.next_tso().unwrap()).collect::<Vec<_>>())
        })
        .collect();
    let mut all = HashSet::new();
    for handle in handles {
        let values = handle.join().unwrap();
        assert!(values.windows(2).all(|pair| pair[0] < pair[1]));
        all.extend(values);
    }
    assert_eq!(all.len(), 2_000, "no value issued twice");
}

#[test]
fn a_corrupted_byte_is_a_typed_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .append(vec![job("damaged", 1), job("damaged", 2), job("fine", 3)])
        .unwrap();
    store.inject_flipped_byte("damaged", 1, 20).unwrap();
    match store.query("damaged") {
        Err(StoreError::Corrupted { key, reason }) => {
            assert!(key.starts_with(r#"event trace="damaged" seq="#), "{key}");
            assert!(reason.contains("CRC mismatch"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tsos(&store, "fine"), [3]);
    let mut problems = Vec::new();
    let report = store.verify(|problem| problems.push(problem.clone()), |_| {}).unwrap();
    assert_eq!(report.problems, 1, "{problems:?}");
    assert!(problems[0].key.starts_with(r#"event trace="damaged""#));
}

/// Verify's problems, as `key: description` lines.
fn problem_lines(store: &Store) -> Vec<String> {
    let mut problems = Vec::new();
    store.verify(|problem| problems.push(problem.clone()), |_| {}).unwrap();
    problems
        .iter()
        .map(|p| format!("{}: {}", p.key, p.description))
        .collect()
}

#[test]
fn verify_reports_dangling_indexes_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("a", 1), job("lost", 2)]).unwrap();
    store.inject_lost_first_seen("lost").unwrap();
    store.inject_dangling_first_seen("ghost").unwrap();
    let text = problem_lines(&store);
    assert!(
        text.iter()
            .any(|line| line.contains("orphans") && line.contains(r#"trace="lost""#)),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|line| line.contains("dangling") && line.contains(r#""ghost""#)),
        "{text:?}"
    );
    assert!(text.iter().any(|line| line.starts_with("meta counters")), "{text:?}");
}

#[test]
fn verify_names_start_entries_that_point_nowhere_or_disagree_with_first_seen_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("a", 1), job("b", 2)]).unwrap();
    assert_consistent(&store);
    store.inject_start_entry("stray", 3).unwrap();
    store.inject_start_entry("b", 1_000).unwrap();
    let text = problem_lines(&store);
    assert!(
        text.iter()
            .any(|line| line.starts_with(r#"trace-start "stray""#) && line.contains("no events")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|line| line.starts_with(r#"trace-start "b""#) && line.contains("first-seen order says")),
        "{text:?}"
    );
    // Queries follow the start entry: "b" is not found where it points.
    assert!(matches!(store.query("b"), Err(StoreError::TraceNotFound { .. })));
}

#[test]
fn a_newer_format_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    open(&dir)
        .inject_format_version(tracekeep_store::FORMAT_VERSION + 1)
        .unwrap();
    let error = Store::open(dir.path(), on_engine(dir.path(), StoreOptions::default())).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NewerFormat { found, supported, .. }
                if found == tracekeep_store::FORMAT_VERSION + 1 && supported == tracekeep_store::FORMAT_VERSION
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade tracekeep"));
    if !on_bucket() {
        assert!(matches!(
            Store::open_read_only(dir.path()),
            Err(StoreError::NewerFormat { .. })
        ));
    }
}

#[test]
fn a_directory_in_use_or_not_a_store_is_refused() {
    rocksdb_only!("a data directory's lock and CURRENT file");
    let dir = tempfile::tempdir().unwrap();
    let _first = open(&dir);
    let error = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(matches!(error, StoreError::DirectoryInUse { .. }), "{error:?}");
    assert!(error.to_string().contains("in use"));

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "not a database").unwrap();
    assert!(matches!(
        Store::open(other.path(), StoreOptions::default()),
        Err(StoreError::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open_read_only(other.path().join("missing")),
        Err(StoreError::NotAStore { .. })
    ));
}

#[test]
fn a_read_only_store_sees_the_data_and_refuses_writes() {
    rocksdb_only!("read-only opens of a data directory");
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.append(vec![job("a", 1)]).unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(tsos(&reader, "a"), [1]);
    assert!(matches!(reader.append(vec![job("b", 1)]), Err(StoreError::ReadOnly)));
    assert!(matches!(reader.truncate(), Err(StoreError::ReadOnly)));
    assert!(matches!(reader.next_tso(), Err(StoreError::ReadOnly)));
    assert_consistent(&reader);
}

#[test]
fn concurrent_appenders_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for batch in 0..50 {
                    let events = (0..5).map(|n| job(&format!("w{thread}.{}", batch % 7), n)).collect();
                    store.append(events).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let stats = store.stats().unwrap();
    assert_eq!((stats.traces, stats.events()), (8 * 7, 8 * 50 * 5));
    assert_consistent(&store);
}

#[test]
fn deletes_racing_appends_leave_consistent_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir));
    let barrier = Arc::new(Barrier::new(6));
    let mut handles = Vec::new();
    for thread in 0..4 {
        let (store, barrier) = (store.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            for round in 0..200 {
                let trace = format!("race.{}", (round + thread) % 5);
                store.append(vec![job(&trace, round), binlog(&trace, round)]).unwrap();
            }
        }));
    }
    for _ in 0..2 {
        let (store, barrier) = (store.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            for round in 0..200 {
                store.delete(&format!("race.{}", round % 5)).unwrap();
                if round % 50 == 49 {
                    store.truncate().unwrap();
                }
            }
        }));
    }
    for handle in handles {
        handle.join().unwrap();
    }
    assert_consistent(&store);
    // Whatever survived is whole: events come in job/binlog pairs.
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for trace in store.scan(0, 100).unwrap() {
        let entry = per_kind.entry(trace.trace_id).or_default();
        for stored in trace.events {
            match stored.event.kind() {
                EventKind::Job => entry.0 += 1,
                _ => entry.1 += 1,
            }
        }
    }
    assert!(per_kind.values().all(|(jobs, binlogs)| jobs == binlogs), "{per_kind:?}");
    drop(store);
    let reopened = open(&dir);
    assert_consistent(&reopened);
}

#[test]
fn encoded_events_are_stored_as_sent_and_read_back_decoded() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let sent = [job("enc", 1), job("enc", 2)];
    let bytes: Vec<Vec<u8>> = sent.iter().map(TraceEvent::encode_to_vec).collect();
    store.append_encoded(EventKind::Job, &bytes).unwrap();
    let stored: Vec<TraceEvent> = store.query("enc").unwrap().into_iter().map(|s| s.event).collect();
    assert_eq!(stored, sent);

    // One malformed event refuses the batch, named by its index; nothing is stored.
    let mut bad = job("enc.bad", 3).encode_to_vec();
    bad.truncate(bad.len() - 1);
    let no_base = pb::SyncerJobEvent::default().encode_to_vec();
    for (index, broken) in [(1, bad), (0, no_base)] {
        let mut batch = vec![job("enc.bad", 4).encode_to_vec(), job("enc.bad", 5).encode_to_vec()];
        batch.insert(index, broken);
        match store.append_encoded(EventKind::Job, &batch) {
            Err(StoreError::InvalidEvent { index: found, .. }) => assert_eq!(found, index),
            other => panic!("expected InvalidEvent at {index}, got {other:?}"),
        }
    }
    assert!(matches!(store.query("enc.bad"), Err(StoreError::TraceNotFound { .. })));
    assert_eq!(store.stats().unwrap().traces, 1);
    assert_consistent(&store);
}

#[test]
fn a_trace_deleted_or_truncated_then_written_again_starts_afresh() {
    // Each append is its own commit, so the writer's cached summaries are what
    // tell it whether the trace exists: after a delete, a truncate and a reopen.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store.append(vec![job("again", 1), job("again", 2)]).unwrap();
        store.append(vec![job("again", 3)]).unwrap();
        assert!(store.delete("again").unwrap());
        store.append(vec![job("again", 4)]).unwrap();
        assert_eq!(tsos(&store, "again"), [4]);
        let (listed, _) = store.list_traces(None, 10, "").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].events, 1);
        assert_consistent(&store);

        store.append(vec![job("other", 9)]).unwrap();
        store.truncate().unwrap();
        store.append(vec![job("again", 5)]).unwrap();
        assert_eq!(tsos(&store, "again"), [5]);
        assert_eq!(scanned_ids(&store, 0, 10).unwrap(), ["again"]);
        assert_eq!(store.stats().unwrap().traces, 1);
        assert_consistent(&store);
    }
    // A reopened store has an empty cache and must read the summary from disk.
    let store = open(&dir);
    store.append(vec![job("again", 6)]).unwrap();
    assert_eq!(tsos(&store, "again"), [5, 6]);
    assert_eq!(scanned_ids(&store, 0, 10).unwrap(), ["again"]);
    let stats = store.stats().unwrap();
    assert_eq!((stats.traces, stats.events()), (1, 2));
    assert_consistent(&store);
}

fn all_ids(store: &Store) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan_after(after, 3).unwrap();
        ids.extend(page.traces.into_iter().map(|trace| trace.trace_id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

#[test]
fn traces_first_seen_in_one_commit_page_and_delete_one_by_one() {
    // One append starts seven traces: their first-seen entries share a record.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let names: Vec<String> = (0..7).map(|n| format!("t{n}")).collect();
    store
        .append(names.iter().flat_map(|name| [job(name, 1), job(name, 2)]).collect())
        .unwrap();
    assert_eq!(all_ids(&store), names);
    assert_eq!(scanned_ids(&store, 2, 3).unwrap(), ["t2", "t3", "t4"]);
    // The record's first trace (its key changes), a middle one, the last one.
    for gone in ["t0", "t3", "t6"] {
        assert!(store.delete(gone).unwrap());
        assert_consistent(&store);
    }
    assert_eq!(all_ids(&store), ["t1", "t2", "t4", "t5"]);
    let first = store.scan_after(None, 1).unwrap();
    assert_eq!(store.scan_after(first.next, 10).unwrap().traces.len(), 3);
    // Back after a delete: first seen again, at the end.
    store.append(vec![job("t0", 3), job("t1", 3)]).unwrap();
    assert_eq!(all_ids(&store), ["t1", "t2", "t4", "t5", "t0"]);
    assert_eq!(store.stats().unwrap().traces, 5);
    assert_eq!(tsos(&store, "t1"), [1, 2, 3]);
    assert_consistent(&store);
}

#[test]
fn a_trace_that_went_cold_is_still_one_trace() {
    // More traces than the writer keeps as recently touched (2 x 16 384)
    // come between two appends to the same trace: the second must find it
    // through the filter and a read, not start it again.
    let dir = tempfile::tempdir().unwrap();
    let cold_after = 40_000;
    {
        let store = open(&dir);
        store.append(vec![job("cold", 1)]).unwrap();
        for chunk in 0..cold_after / 1_000 {
            let batch = (0..1_000).map(|n| job(&format!("filler.{chunk}.{n}"), 2)).collect();
            store.append(batch).unwrap();
        }
        store.append(vec![job("cold", 3)]).unwrap();
        assert_eq!(store.stats().unwrap().traces, cold_after + 1);
        assert_eq!(tsos(&store, "cold"), [1, 3]);
    }
    // Reopened: whether or not the filter has loaded yet, the same answer.
    let store = open(&dir);
    store.append(vec![job("cold", 4), job("new", 5)]).unwrap();
    assert_eq!(store.stats().unwrap().traces, cold_after + 2);
    assert_eq!(scanned_ids(&store, 0, 1).unwrap(), ["cold"]);
    assert_eq!(tsos(&store, "cold"), [1, 3, 4]);
    assert_consistent(&store);
}

#[test]
fn a_format_1_store_is_upgraded_in_place() {
    rocksdb_only!("older formats only ever existed in RocksDB directories");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store.append(vec![job("a", 5), binlog("b", 2)]).unwrap();
        store.append(vec![job("a", 9), job("c", 0)]).unwrap();
        store.rewrite_as_format_1().unwrap();
    }
    {
        // Read-only, a format-1 store is read as it is.
        let store = Store::open_read_only(dir.path()).unwrap();
        assert_eq!(all_ids(&store), ["a", "b", "c"]);
        assert_eq!(store.tso_range().unwrap(), Some((2, 9)));
        assert_consistent(&store);
    }
    let store = open(&dir);
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.format_version, stats.traces, stats.events()),
        (tracekeep_store::FORMAT_VERSION, 3, 4)
    );
    assert_eq!(store.tso_range().unwrap(), Some((2, 9)));
    assert_consistent(&store);
    store.append(vec![job("a", 10), job("d", 1)]).unwrap();
    assert_eq!(all_ids(&store), ["a", "b", "c", "d"]);
    assert_eq!(tsos(&store, "a"), [5, 9, 10]);
    assert!(store.delete("b").unwrap());
    assert_eq!(all_ids(&store), ["a", "c", "d"]);
    assert_eq!(store.stats().unwrap().traces, 3);
    assert_consistent(&store);
}

/// A span of `service` (local endpoint) starting at `second`, with tags and an annotation.
fn span(trace_id: &str, id: &str, service: &str, name: &str, second: i64, tags: &[(&str, &str)]) -> TraceEvent {
    TraceEvent::Span(pb::Span {
        base: Some(pb::BaseEvent {
            trace_id: trace_id.to_owned(),
            tso: second * 1_000_000_000 + 5,
            r#type: pb::TraceType::SpanEvent as i32,
            ..Default::default()
        }),
        span_id: id.to_owned(),
        operation: name.to_owned(),
        local_endpoint: Some(pb::Endpoint {
            service_name: service.to_owned(),
            ..Default::default()
        }),
        remote_endpoint: Some(pb::Endpoint {
            service_name: "MySQL".into(),
            ..Default::default()
        }),
        tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        annotations: vec![pb::SpanAnnotation {
            time: second * 1_000_000_000,
            value: "retried".into(),
            zipkin_time: 0,
        }],
        ..Default::default()
    })
}

fn candidates(store: &Store, search: &SpanSearch) -> Vec<String> {
    let mut found = Vec::new();
    store
        .span_search_candidates(search, |trace_id| {
            found.push(trace_id.to_owned());
            Ok(true)
        })
        .unwrap();
    found
}

fn window(start: i64, end: i64) -> SpanSearch {
    SpanSearch {
        start_nanos: start * 1_000_000_000,
        end_nanos: end * 1_000_000_000,
        ..SpanSearch::default()
    }
}

fn span_fixture(store: &Store) {
    store
        .append(vec![
            span("t1", "a1", "Front", "GET /", 100, &[("http.method", "GET")]),
            span("t1", "a2", "db", "query", 100, &[("error", "timeout"), ("sql\0x", "1")]),
            job("t1", 7),
        ])
        .unwrap();
    store
        .append(vec![span(
            "t2",
            "b1",
            "front",
            "POST /",
            200,
            &[("http.method", "POST")],
        )])
        .unwrap();
    store
        .append(vec![span("t3", "c1", "cache", "get", 300, &[("http.method", "GET")])])
        .unwrap();
}

fn open_with_autocomplete(dir: &tempfile::TempDir) -> Store {
    let options = StoreOptions {
        autocomplete_keys: vec!["http.method".into(), "sql\0x".into()],
        ..StoreOptions::default()
    };
    open_with(dir.path(), options)
}

#[test]
fn spans_are_listed_by_service_name_and_remote_service() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with_autocomplete(&dir);
    span_fixture(&store);
    assert_eq!(store.span_services().unwrap(), ["cache", "db", "front"]);
    assert_eq!(store.span_names("FRONT").unwrap(), ["get /", "post /"]);
    assert_eq!(store.span_remote_services("db").unwrap(), ["mysql"]);
    assert!(store.span_names("nobody").unwrap().is_empty());
    assert_eq!(store.span_tag_values("http.method").unwrap(), ["GET", "POST"]);
    assert_eq!(store.span_tag_values("sql\0x").unwrap(), ["1"]);
    assert!(
        store.span_tag_values("http").unwrap().is_empty(),
        "a key is not a prefix of longer keys"
    );
    assert!(
        store.span_tag_values("error").unwrap().is_empty(),
        "only the autocomplete keys' values are kept"
    );
    assert_consistent(&store);
}

#[test]
fn search_candidates_come_newest_first_from_the_most_selective_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    span_fixture(&store);
    assert_eq!(candidates(&store, &window(0, 1000)), ["t3", "t2", "t1"]);
    assert_eq!(candidates(&store, &window(150, 250)), ["t2"]);
    assert_eq!(
        candidates(&store, &window(100, 100)),
        ["t1"],
        "the window's ends are inside it"
    );
    let search = |change: &dyn Fn(&mut SpanSearch)| {
        let mut search = window(0, 1000);
        change(&mut search);
        candidates(&store, &search)
    };
    assert_eq!(search(&|s| s.service = Some("Front".into())), ["t2", "t1"]);
    assert_eq!(
        search(&|s| {
            s.service = Some("front".into());
            s.span_name = Some("get /".into());
        }),
        ["t1"]
    );
    assert_eq!(search(&|s| s.terms = vec!["http.method=GET".into()]), ["t3", "t1"]);
    assert_eq!(search(&|s| s.terms = vec!["error".into()]), ["t1"]);
    assert_eq!(search(&|s| s.terms = vec!["retried".into()]), ["t3", "t2", "t1"]);
    assert_eq!(
        search(&|s| {
            s.service = Some("db".into());
            s.remote_service = Some("mysql".into());
        }),
        ["t1"]
    );
    assert!(search(&|s| s.terms = vec!["nothing".into()]).is_empty());
    // Every indexed condition is checked at the driving entry's second.
    assert_eq!(
        search(&|s| {
            s.service = Some("db".into());
            s.terms = vec!["error".into(), "sql\0x=1".into()];
        }),
        ["t1"]
    );
    assert!(
        search(&|s| {
            s.service = Some("cache".into());
            s.terms = vec!["error".into()];
        })
        .is_empty()
    );
    assert!(
        search(&|s| {
            s.service = Some("front".into());
            s.span_name = Some("get /".into());
            s.remote_service = Some("redis".into());
        })
        .is_empty()
    );
    assert!(
        search(&|s| {
            s.service = Some("cache".into());
            s.terms = vec!["x".repeat(1000)];
        })
        .is_empty()
    );
    let mut stopped = Vec::new();
    store
        .span_search_candidates(&window(0, 1000), |trace_id| {
            stopped.push(trace_id.to_owned());
            Ok(false)
        })
        .unwrap();
    assert_eq!(stopped, ["t3"], "visit stops the walk");
}

#[test]
fn terms_of_one_service_and_second_sent_in_two_commits_are_both_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .append(vec![span("t5", "x1", "svc", "a", 400, &[("k1", "v1")])])
        .unwrap();
    store
        .append(vec![span("t5", "x2", "svc", "b", 400, &[("k2", "v2")])])
        .unwrap();
    let search = |terms: &[&str], service: Option<&str>| SpanSearch {
        service: service.map(str::to_owned),
        terms: terms.iter().map(|term| (*term).to_owned()).collect(),
        ..window(0, 1000)
    };
    let both = search(&["k1=v1", "k2"], Some("svc"));
    assert_eq!(
        candidates(&store, &both),
        ["t5"],
        "the term sets are merged, not overwritten"
    );
    assert_eq!(candidates(&store, &search(&["k2=v2", "k1"], None)), ["t5"]);
    assert!(candidates(&store, &search(&["k1=v2"], None)).is_empty());
    assert_consistent(&store);
    drop(store);
    // The merged sets read the same after a restart, and from table files.
    let store = open(&dir);
    store.flush().unwrap();
    assert_eq!(candidates(&store, &both), ["t5"]);
    assert_consistent(&store);
}

#[test]
fn a_deleted_or_truncated_trace_leaves_no_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    span_fixture(&store);
    assert!(store.delete("t3").unwrap());
    assert_eq!(store.span_services().unwrap(), ["db", "front"], "only t3 had cache");
    assert_eq!(candidates(&store, &window(0, 1000)), ["t2", "t1"]);
    assert_consistent(&store);
    store.truncate().unwrap();
    assert!(store.span_services().unwrap().is_empty());
    assert!(candidates(&store, &window(0, 1000)).is_empty());
    assert_consistent(&store);
}

#[test]
fn spans_appended_encoded_are_indexed_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let TraceEvent::Span(one) = span("t9", "s1", "", "op", 50, &[("service.name", "Tracer")]) else {
        unreachable!()
    };
    let bytes = prost::Message::encode_to_vec(&one);
    store.append_encoded(EventKind::Span, &[bytes]).unwrap();
    assert_eq!(
        store.span_services().unwrap(),
        ["tracer"],
        "the service.name tag names it"
    );
    assert_eq!(candidates(&store, &window(0, 100)), ["t9"]);
    assert_consistent(&store);
}

#[test]
fn verify_names_a_span_whose_otlp_form_does_not_restore() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    span_fixture(&store);
    let TraceEvent::Span(mut broken) = span("t4", "d1", "front", "GET /", 400, &[("k", "v")]) else {
        unreachable!("span() makes spans")
    };
    // Attribute 0 from tag 5: there is one tag.
    broken.otlp_from_tags = vec![0, 5];
    store.append(vec![TraceEvent::Span(broken)]).unwrap();
    let mut problems = Vec::new();
    store.verify(|problem| problems.push(problem.clone()), |_| {}).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].description.contains("does not restore"), "{problems:?}");
    assert!(problems[0].key.contains(r#"trace="t4""#), "{problems:?}");
}

#[test]
fn verify_names_missing_span_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    span_fixture(&store);
    store.inject_lost_span_index("t2").unwrap();
    let mut problems = Vec::new();
    store.verify(|problem| problems.push(problem.clone()), |_| {}).unwrap();
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .all(|p| p.description.contains("index entry is missing") && p.key.contains(r#"trace="t2""#)),
        "{problems:?}"
    );
}

#[test]
fn opening_a_format_3_store_upgrades_it_so_older_builds_refuse_it() {
    rocksdb_only!("older formats only ever existed in RocksDB directories");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        span_fixture(&store);
        store.rewrite_as_format_4().unwrap();
        store.inject_format_version(3).unwrap();
    }
    assert_eq!(
        Store::open_read_only(dir.path()).unwrap().format(),
        3,
        "read-only changes nothing"
    );
    drop(open(&dir));
    let store = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(store.format(), tracekeep_store::FORMAT_VERSION);
    assert_eq!(store.span_services().unwrap(), ["cache", "db", "front"]);
    drop(store);
    assert_consistent(&open(&dir));
}

#[test]
fn a_format_4_store_is_read_as_it_is_and_its_events_move_under_their_first_seen_numbers_on_open() {
    rocksdb_only!("older formats only ever existed in RocksDB directories");
    let dir = tempfile::tempdir().unwrap();
    let (ids, events) = {
        let store = open(&dir);
        span_fixture(&store);
        store.append(vec![job("a", 5), binlog("b", 2), job("a", 9)]).unwrap();
        let ids = all_ids(&store);
        let events: Vec<_> = ids.iter().map(|id| store.query(id).unwrap()).collect();
        store.rewrite_as_format_4().unwrap();
        (ids, events)
    };
    let read = |store: &Store| -> Vec<_> { ids.iter().map(|id| store.query(id).unwrap()).collect() };
    {
        let store = Store::open_read_only(dir.path()).unwrap();
        assert_eq!(store.format(), 4);
        assert_eq!((all_ids(&store), read(&store)), (ids.clone(), events.clone()));
        assert_consistent(&store);
    }
    let store = open(&dir);
    assert_eq!(store.format(), tracekeep_store::FORMAT_VERSION);
    assert_eq!((all_ids(&store), read(&store)), (ids.clone(), events.clone()));
    assert_consistent(&store);
    // The moved traces take appends and deletes as they did.
    store.append(vec![job("a", 10), job("new", 1)]).unwrap();
    assert_eq!(tsos(&store, "a"), [5, 9, 10]);
    assert!(store.delete("b").unwrap());
    assert!(matches!(store.query("b"), Err(StoreError::TraceNotFound { .. })));
    assert_consistent(&store);
    drop(store);
    // Nothing is left under the old keys: a second open moves nothing.
    let store = open(&dir);
    assert_eq!(tsos(&store, "a"), [5, 9, 10]);
    assert_consistent(&store);
}

#[test]
fn a_read_only_open_of_a_format_2_store_keeps_its_time_range() {
    rocksdb_only!("older formats only ever existed in RocksDB directories");
    let dir = tempfile::tempdir().unwrap();
    let range = {
        let store = open(&dir);
        span_fixture(&store);
        let range = store.tso_range().unwrap();
        store.rewrite_as_format_2().unwrap();
        range
    };
    assert!(range.is_some());
    // Format 2 keeps the range in its counters, not in format 1's summaries.
    let store = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(store.format(), 2);
    assert_eq!(store.tso_range().unwrap(), range);
}

#[test]
fn opening_a_format_2_store_indexes_its_spans() {
    rocksdb_only!("older formats only ever existed in RocksDB directories");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        span_fixture(&store);
        store.rewrite_as_format_2().unwrap();
        assert!(store.span_services().unwrap().is_empty());
    }
    let store = open(&dir);
    assert_eq!(store.span_services().unwrap(), ["cache", "db", "front"]);
    assert_eq!(candidates(&store, &window(0, 1000)), ["t3", "t2", "t1"]);
    assert_eq!(store.stats().unwrap().format_version, tracekeep_store::FORMAT_VERSION);
    assert_consistent(&store);
}

const MINUTE: i64 = 60_000_000_000;

fn clocked(dir: &tempfile::TempDir, clock: &Arc<SteppingClock>) -> Store {
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    open_with(dir.path(), options)
}

fn advance(clock: &SteppingClock, minutes: i64) {
    clock.0.fetch_add(minutes * MINUTE, Ordering::SeqCst);
}

#[test]
fn expire_deletes_traces_whose_newest_event_arrived_before_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(1_000 * MINUTE)));
    let store = clocked(&dir, &clock);
    store
        .append(vec![
            job("old", 1),
            span("old-spans", "0000000000000001", "web", "get", 1, &[("k", "v")]),
        ])
        .unwrap();
    store.append(vec![job("revived", 2)]).unwrap();
    advance(&clock, 10);
    store.append(vec![job("revived", 3)]).unwrap();
    advance(&clock, 10);
    store.append(vec![job("new", 4)]).unwrap();
    // Nothing arrived more than an hour ago.
    assert_eq!(
        store.expire(std::time::Duration::from_secs(3600), 100).unwrap(),
        Expiry::default()
    );
    assert_eq!(store.arrival_range().unwrap(), Some((1_000 * MINUTE, 1_020 * MINUTE)));

    // Fifteen minutes: "old" and "old-spans" arrived twenty minutes ago;
    // "revived" began then too, but its newest event is ten minutes old.
    let expiry = store.expire(std::time::Duration::from_secs(15 * 60), 100).unwrap();
    assert_eq!(
        expiry,
        Expiry {
            deleted: 2,
            more: false
        }
    );
    assert_eq!(all_ids(&store), ["revived", "new"]);
    assert_eq!(tsos(&store, "revived"), [2, 3], "a kept trace keeps every event");
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.traces, stats.events_by_kind.iter().map(|(_, n)| n).sum::<u64>()),
        (2, 3)
    );
    assert_eq!(
        store.span_services().unwrap(),
        Vec::<String>::new(),
        "span index entries went too"
    );
    assert_consistent(&store);
    assert_eq!(
        store
            .expire(std::time::Duration::from_secs(15 * 60), 100)
            .unwrap()
            .deleted,
        0
    );
    // "revived" was first seen in the first minute: the horizon starts there.
    assert_eq!(store.arrival_range().unwrap(), Some((1_000 * MINUTE, 1_020 * MINUTE)));
}

/// Polls until `done`, failing with `state()` after `within`: what the engine
/// does in the background (compaction, cache eviction) shows in the end.
fn wait_until(within: std::time::Duration, mut done: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{}", state());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_sweep_that_deletes_a_quarter_of_the_store_frees_its_tables_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(3_000 * MINUTE)));
    let store = clocked(&dir, &clock);
    // 2 MB of noise; on a bucket in a table written before the sweep, as a
    // node's old data is.
    append_noisy_traces(&store, 0, 500);
    drop(store);
    let store = clocked(&dir, &clock);
    advance(&clock, 10);
    store.append(vec![job("kept", 1)]).unwrap();
    while store.expire(std::time::Duration::from_secs(5 * 60), 100).unwrap().more {}
    assert_eq!(all_ids(&store), ["kept"]);
    // The sweep compacted everything (on a bucket: submitted it), with no
    // write after it that would have compacted the deletes.
    wait_until(
        std::time::Duration::from_secs(60),
        || store.engine_figures().table_bytes <= 500_000,
        || format!("the tables still hold {} bytes", store.engine_figures().table_bytes),
    );
    assert_eq!(store.query("kept").unwrap().len(), 1);
    assert_consistent(&store);
}

#[test]
fn expire_works_in_bounded_passes_and_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(5_000 * MINUTE)));
    {
        let store = clocked(&dir, &clock);
        for trace in ["a", "b", "c", "d", "e"] {
            store.append(vec![job(trace, 1)]).unwrap();
        }
    }
    // The clock marks are on disk: a later process knows when they arrived.
    advance(&clock, 90);
    let store = clocked(&dir, &clock);
    store.append(vec![job("fresh", 2)]).unwrap();
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(store.expire(hour, 2).unwrap(), Expiry { deleted: 2, more: true });
    assert_eq!(store.expire(hour, 2).unwrap(), Expiry { deleted: 2, more: true });
    assert_eq!(
        store.expire(hour, 2).unwrap(),
        Expiry {
            deleted: 1,
            more: false
        }
    );
    assert_eq!(all_ids(&store), ["fresh"]);
    assert_consistent(&store);
}

#[test]
fn traces_still_in_use_neither_fill_a_pass_nor_lose_events_to_their_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(9_000 * MINUTE)));
    let store = clocked(&dir, &clock);
    // First seen in this order; the "live" ones get an event again later.
    store.append(vec![job("old-1", 1)]).unwrap();
    store
        .append((0..100).map(|tso| job("live-long", tso)).collect())
        .unwrap();
    store
        .append(vec![span("old-2", "0000000000000002", "web", "get", 1, &[])])
        .unwrap();
    for trace in ["live-1", "live-2", "live-3"] {
        store.append(vec![job(trace, 1)]).unwrap();
    }
    store.append(vec![job("old-3", 1)]).unwrap();
    store.append(vec![job("old-4", 1)]).unwrap();
    advance(&clock, 90);
    for trace in ["live-long", "live-1", "live-2", "live-3"] {
        store.append(vec![job(trace, 1_000)]).unwrap();
    }
    let hour = std::time::Duration::from_secs(3600);
    // Four traces in use come first; a pass of two still deletes two.
    assert_eq!(store.expire(hour, 2).unwrap(), Expiry { deleted: 2, more: true });
    assert_eq!(
        all_ids(&store),
        ["live-long", "live-1", "live-2", "live-3", "old-3", "old-4"]
    );
    assert_eq!(
        store.expire(hour, 2).unwrap(),
        Expiry {
            deleted: 2,
            more: false
        }
    );
    assert_eq!(store.expire(hour, 2).unwrap(), Expiry::default());
    assert_eq!(all_ids(&store), ["live-long", "live-1", "live-2", "live-3"]);
    assert_eq!(
        tsos(&store, "live-long").len(),
        101,
        "a kept trace between doomed ones keeps every event"
    );
    assert_eq!(tsos(&store, "live-1"), [1, 1_000]);
    assert_eq!(store.span_services().unwrap(), Vec::<String>::new());
    assert_consistent(&store);
}

/// The child side of the test below: sweeps `TK_SWEEP_DIR` with a clock two
/// hours after it was filled, printing a line after each pass, until killed.
#[test]
fn sweep_child_process() {
    let Ok(dir) = std::env::var("TK_SWEEP_DIR") else {
        return; // run only as the test below's child
    };
    let start: i64 = std::env::var("TK_SWEEP_NOW").unwrap().parse().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(start)));
    let options = StoreOptions {
        clock,
        ..StoreOptions::default()
    };
    let store = open_with(dir.as_ref(), options);
    loop {
        let expiry = store.expire(std::time::Duration::from_secs(3600), 25).unwrap();
        println!("pass deleted {}", expiry.deleted);
        if !expiry.more {
            println!("done");
            // Wait to be killed: the parent decides when the process ends.
            loop {
                std::thread::park();
            }
        }
    }
}

#[test]
fn a_kill_during_a_sweep_leaves_every_trace_whole_or_gone() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let filled_at = 7_000 * MINUTE;
    let clock = Arc::new(SteppingClock(AtomicI64::new(filled_at)));
    let traces: Vec<String> = (0..400).map(|n| format!("t{n:04}")).collect();
    {
        let store = clocked(&dir, &clock);
        for chunk in traces.chunks(40) {
            let events = chunk
                .iter()
                .flat_map(|trace| {
                    (0..5).map(move |i| {
                        if i == 4 {
                            span(trace, "0000000000000001", "svc", "op", 10 + i, &[("k", "v")])
                        } else {
                            job(trace, 10 + i)
                        }
                    })
                })
                .collect();
            store.append(events).unwrap();
        }
    }
    // Kill the sweeping child after 1, 2, 3... passes, reopen, check.
    for kill_after in 1..=4 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sweep_child_process", "--nocapture", "--test-threads=1"])
            .env("TK_SWEEP_DIR", dir.path())
            .env("TK_SWEEP_NOW", (filled_at + 120 * MINUTE).to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut passes = 0;
        while passes < kill_after {
            let Some(Ok(line)) = lines.next() else { break };
            if line.starts_with("pass") || line == "done" {
                passes += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();

        let store = open_with(dir.path(), StoreOptions::default());
        assert_consistent(&store);
        let left = all_ids(&store);
        assert!(
            left.len() <= traces.len() - 25 * kill_after,
            "passes printed before the kill were not kept"
        );
        for trace in &left {
            let events = store.query(trace).unwrap();
            assert_eq!(events.len(), 5, "{trace} was cut: {events:?}");
        }
        let stats = store.stats().unwrap();
        assert_eq!(stats.traces, left.len() as u64);
        assert_eq!(
            stats.events_by_kind.iter().map(|(_, n)| n).sum::<u64>(),
            5 * left.len() as u64
        );
        // The survivors are the newest first-seen: a sweep goes oldest first.
        assert_eq!(
            left,
            traces[traces.len() - left.len()..].to_vec(),
            "after {kill_after} passes"
        );
    }
}

/// A job event whose SQL is `len` bytes of noise: LZ4 cannot shrink it, so
/// bytes appended are about bytes on disk.
fn noisy_job(trace_id: &str, tso: i64, len: usize) -> TraceEvent {
    let mut state = (tso as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let sql = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    TraceEvent::Job(pb::SyncerJobEvent {
        base: base(trace_id, tso),
        sql,
        ..Default::default()
    })
}

const MIB: u64 = 1 << 20;

fn bounded(dir: &std::path::Path, max_disk_bytes: u64) -> Store {
    let options = StoreOptions {
        max_disk_bytes,
        ..StoreOptions::default()
    };
    open_with(dir, options)
}

/// The ID of the `n`th noisy trace: a hash first, as real trace IDs are
/// random, so that the oldest traces are spread over the key space.
fn noisy_trace_id(n: usize) -> String {
    let hash = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    format!("{hash:016x}.{n:06}")
}

/// The number a [`noisy_trace_id`] was made from.
fn noisy_trace_number(trace_id: &str) -> usize {
    trace_id.split('.').nth(1).unwrap().parse().unwrap()
}

/// Appends traces `from..to` of 10 noisy events each (about 4 KB a trace).
fn append_noisy_traces(store: &Store, from: usize, to: usize) {
    for first in (from..to).step_by(50) {
        let events = (first..(first + 50).min(to))
            .flat_map(|n| (0..10).map(move |i| noisy_job(&noisy_trace_id(n), (n * 10 + i) as i64 + 1, 400)))
            .collect();
        store.append(events).unwrap();
    }
}

/// Every stored trace has all its 10 events, and they are the newest traces.
fn assert_newest_traces_whole(store: &Store, appended: usize) -> usize {
    let left = all_ids(store);
    let expected: Vec<String> = (appended - left.len()..appended).map(noisy_trace_id).collect();
    assert_eq!(left, expected, "the survivors are the newest traces, in order");
    for trace in &left {
        assert_eq!(store.query(trace).unwrap().len(), 10, "{trace} was cut");
    }
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.traces, stats.events()),
        (left.len() as u64, 10 * left.len() as u64)
    );
    assert_consistent(store);
    left.len()
}

#[test]
fn past_its_disk_bound_a_store_deletes_its_oldest_traces_to_under_ninety_percent() {
    rocksdb_only!("the disk bound deletes traces only when the directory holds them");
    let dir = tempfile::tempdir().unwrap();
    let bound = 12 * MIB;
    let store = bounded(dir.path(), bound);
    // Under the bound: nothing to do.
    append_noisy_traces(&store, 0, 500);
    let trim = store.trim_to_disk_bound(0).unwrap();
    assert_eq!((trim.deleted, trim.rounds), (0, 0), "{trim:?}");
    // About 2.5 times the bound, trimmed every 2 MB as a server would.
    let mut appended = 500;
    let mut trimmed = 0;
    while appended < 7_500 {
        append_noisy_traces(&store, appended, appended + 500);
        appended += 500;
        let trim = store.trim_to_disk_bound(0).unwrap();
        if trim.rounds > 0 {
            assert!(trim.bytes_before > bound, "{trim:?}");
            assert!(trim.deleted > 0, "{trim:?}");
            assert!(
                trim.bytes_after <= bound / 10 * 9,
                "still over 90% of the bound: {trim:?}"
            );
            trimmed += trim.deleted;
        }
    }
    assert!(trimmed > 0, "the store never passed its bound");
    // Just under the bound: a pass starts only with a lead that reaches it.
    let mut size = store.stats().unwrap().bytes_on_disk;
    while size <= bound / 100 * 93 {
        append_noisy_traces(&store, appended, appended + 20);
        appended += 20;
        size = store.stats().unwrap().bytes_on_disk;
    }
    if size <= bound {
        assert_eq!(store.trim_to_disk_bound(0).unwrap().rounds, 0);
    }
    let trim = store.trim_to_disk_bound(bound / 10).unwrap();
    assert!(trim.rounds > 0 && trim.bytes_after <= bound / 10 * 9, "{trim:?}");
    trimmed += trim.deleted;
    let left = assert_newest_traces_whole(&store, appended);
    assert_eq!(left as u64 + trimmed, appended as u64);
    // What is left fills most of the bound: deleting far more than needed
    // would be a bound that loses data for nothing.
    assert!(store.stats().unwrap().bytes_on_disk > bound / 2);
}

/// Bytes of the files under `dir`, however deep (0 if it does not exist).
fn bytes_under(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| entry.unwrap())
        .map(|entry| match entry.file_type().unwrap().is_dir() {
            true => bytes_under(&entry.path()),
            false => entry.metadata().map_or(0, |metadata| metadata.len()),
        })
        .sum()
}

#[test]
fn on_a_bucket_the_data_directory_caches_tables_within_max_disk_bytes() {
    if !on_bucket() {
        eprintln!("bucket only: the disk cache of a bucket's tables");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("bucket-cache");
    let bound = 2 * MIB;
    // Each close writes the memtable out as a table, which the cache keeps:
    // eight of about 400 KB of noise, twice what 90% of the bound holds.
    for round in 0..8 {
        let store = bounded(dir.path(), bound);
        append_noisy_traces(&store, round * 100, (round + 1) * 100);
        // The bound bounds the cache; it deletes no trace on a bucket.
        assert_eq!(store.trim_to_disk_bound(0).unwrap().deleted, 0);
        drop(store);
        if round == 0 {
            assert!(bytes_under(&cache) > 100_000, "the node's first table is not cached");
        }
    }
    // Opening evicts what is over the bound, beside anything else.
    let store = bounded(dir.path(), bound);
    wait_until(
        std::time::Duration::from_secs(30),
        || bytes_under(&cache) <= bound / 10 * 9,
        || format!("the cache holds {} bytes, past 90% of {bound}", bytes_under(&cache)),
    );
    // Tables evicted from the cache are read from the bucket.
    assert_eq!(assert_newest_traces_whole(&store, 800), 800);
    assert!(bytes_under(&cache) > 0);
}

#[test]
fn a_store_written_without_a_bound_opens_with_one_and_back() {
    rocksdb_only!("the disk bound deletes traces only when the directory holds them");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        append_noisy_traces(&store, 0, 4_000);
        store.flush().unwrap();
        assert!(store.stats().unwrap().bytes_on_disk > 12 * MIB);
    }
    // Universal compaction's sorted runs, now under leveled compaction.
    {
        let store = bounded(dir.path(), 10 * MIB);
        let trim = store.trim_to_disk_bound(0).unwrap();
        assert!(trim.deleted > 0 && trim.bytes_after <= 9 * MIB, "{trim:?}");
        assert_newest_traces_whole(&store, 4_000);
        append_noisy_traces(&store, 4_000, 4_100);
    }
    let store = open(&dir);
    assert_newest_traces_whole(&store, 4_100);
}

/// The child side of the test below: appends to `TK_TRIM_DIR` and trims it
/// to a bound, printing a line after each trim, until killed.
#[test]
fn trim_child_process() {
    let Ok(dir) = std::env::var("TK_TRIM_DIR") else {
        return; // run only as the test below's child
    };
    let store = bounded(std::path::Path::new(&dir), 8 * MIB);
    let mut appended = all_ids(&store).last().map_or(0, |last| noisy_trace_number(last) + 1);
    loop {
        append_noisy_traces(&store, appended, appended + 300);
        appended += 300;
        let trim = store.trim_to_disk_bound(0).unwrap();
        println!("trimmed {}", trim.deleted);
    }
}

#[test]
fn a_kill_while_trimming_to_the_disk_bound_leaves_every_trace_whole_or_gone() {
    rocksdb_only!("the disk bound deletes traces only when the directory holds them");
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let mut trimmed_before_kills = false;
    // Kill the child after 3, 4, 5... trims: the kill lands wherever it is
    // then, appending or deleting or compacting.
    for kill_after in 3..=6 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "trim_child_process", "--nocapture", "--test-threads=1"])
            .env("TK_TRIM_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut trims = 0;
        while trims < kill_after {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(deleted) = line.strip_prefix("trimmed ") {
                trims += 1;
                trimmed_before_kills |= deleted != "0";
            }
        }
        assert_eq!(trims, kill_after, "the child stopped by itself");
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();

        let store = open(&dir);
        let appended = all_ids(&store).last().map_or(0, |last| noisy_trace_number(last) + 1);
        assert_newest_traces_whole(&store, appended);
    }
    assert!(trimmed_before_kills, "the store never reached its bound");
}

/// Single-event appends from a few threads (a quiet store commits some of
/// them on the caller's thread, the writer thread the rest), larger batches
/// and deletes, all at once: every append is stored once, in order, and the
/// store verifies clean.
#[test]
fn inline_and_writer_thread_commits_mix_without_losing_or_reordering_anything() {
    let dir = tempfile::tempdir().unwrap();
    // Every small append that finds nobody committing commits inline.
    let options = StoreOptions {
        inline_commit_after_idle: std::time::Duration::ZERO,
        ..StoreOptions::default()
    };
    let store = Arc::new(open_with(dir.path(), options));
    let start = Arc::new(Barrier::new(6));
    let mut threads = Vec::new();
    for writer in 0..4 {
        let (store, start) = (store.clone(), start.clone());
        threads.push(std::thread::spawn(move || {
            start.wait();
            for n in 0..300 {
                store.append(vec![job(&format!("single.{writer}"), n + 1)]).unwrap();
            }
        }));
    }
    {
        let (store, start) = (store.clone(), start.clone());
        threads.push(std::thread::spawn(move || {
            start.wait();
            for n in 0..30 {
                let batch = (0..50).map(|i| job(&format!("batch.{n}"), i + 1)).collect();
                store.append(batch).unwrap();
            }
        }));
    }
    {
        let (store, start) = (store.clone(), start.clone());
        threads.push(std::thread::spawn(move || {
            start.wait();
            for n in 0..30 {
                store.append(vec![job(&format!("doomed.{n}"), 1)]).unwrap();
                assert!(store.delete(&format!("doomed.{n}")).unwrap());
            }
        }));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    for writer in 0..4 {
        assert_eq!(
            tsos(&store, &format!("single.{writer}")),
            (1..=300).collect::<Vec<i64>>()
        );
    }
    for n in 0..30 {
        assert_eq!(tsos(&store, &format!("batch.{n}")).len(), 50);
        assert!(matches!(
            store.query(&format!("doomed.{n}")),
            Err(StoreError::TraceNotFound { .. })
        ));
    }
    assert_eq!(store.stats().unwrap().traces, 34);
    assert_consistent(&store);
}
