#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::StoreOptions;
use crate::engine::Engine;
use crate::engine::rocks::RocksEngine;
use crate::engine::slate::{SlateConfig, SlateEngine};

/// Both engines, each in its own directory under `dir`.
fn engines(dir: &Path) -> Vec<(&'static str, Box<dyn Engine>)> {
    let rocks = dir.join("rocks");
    std::fs::create_dir(&rocks).unwrap();
    let slate = dir.join("slate");
    std::fs::create_dir(&slate).unwrap();
    let url = format!("file://{}/bucket", slate.display());
    vec![
        (
            "rocksdb",
            Box::new(RocksEngine::open(&rocks, &StoreOptions::default()).unwrap()),
        ),
        (
            "bucket",
            Box::new(
                SlateEngine::open(SlateConfig::for_bucket(&url, &StoreOptions::default(), None).unwrap()).unwrap(),
            ),
        ),
    ]
}

/// Stores events of `trace_id`, first seen at `first_seq`, numbered `seqs`,
/// with values that are no records (no kind: counted by number only).
fn put_events(db: &dyn Engine, trace_id: &str, first_seq: u64, seqs: impl IntoIterator<Item = u64>) {
    let mut batch = db.batch(0).unwrap();
    for seq in seqs {
        batch.put(&keys::event_key(first_seq, trace_id, seq), b"-");
    }
    batch.write(false).unwrap();
}

/// Traces in first-seen order: `a` and `a2` old and adjacent; `b` old but
/// with an event far later (400); `c` old; `d` old and not asked
/// for; `e` old; `long` with 100 old events and one new; `long-old` with 100
/// old events.
fn fill(db: &dyn Engine) {
    put_events(db, "a", 1, [1, 2]);
    put_events(db, "a2", 3, [3]);
    put_events(db, "b", 4, [4, 400]);
    put_events(db, "c", 5, [5]);
    put_events(db, "d", 6, [6]);
    put_events(db, "e", 7, [7]);
    put_events(db, "long", 8, (8..9).chain(100..199).chain([300]));
    put_events(db, "long-old", 9, (9..10).chain(200..299));
}

fn ids(traces: &[(String, Doomed)]) -> Vec<&str> {
    traces.iter().map(|(trace_id, _)| trace_id.as_str()).collect()
}

#[test]
fn expired_traces_passes_over_traces_still_in_use_long_ones_included() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, db) in engines(dir.path()) {
        fill(&*db);
        let (expired, more) = expired_traces(&*db, 0, 250, 100).unwrap();
        let names: Vec<(&str, u64)> = expired
            .iter()
            .map(|(id, first_seq)| (id.as_str(), *first_seq))
            .collect();
        assert_eq!(
            names,
            [("a", 1), ("a2", 3), ("c", 5), ("d", 6), ("e", 7)],
            "{engine}: b has event 400 and long event 300; long-old's newest is 298"
        );
        assert!(!more, "{engine}");
        // Everything numbered below 300 is old but long's newest: long-old
        // counts, found past its first 64 events.
        let (expired, _) = expired_traces(&*db, 0, 300, 100).unwrap();
        assert_eq!(expired.last().map(|(id, _)| id.as_str()), Some("long-old"), "{engine}");
        assert!(!expired.iter().any(|(id, _)| id == "long"), "{engine}");
        // A limit: the traces in use before them do not count towards it.
        let (expired, more) = expired_traces(&*db, 0, 250, 2).unwrap();
        assert_eq!(expired, [("a".to_owned(), 1), ("a2".to_owned(), 3)], "{engine}");
        assert!(more, "{engine}");
        let (expired, _) = expired_traces(&*db, 0, 5, 100).unwrap();
        assert_eq!(
            expired,
            [("a".to_owned(), 1), ("a2".to_owned(), 3)],
            "{engine}: b has event 400"
        );
    }
}

#[test]
fn doomed_in_order_reads_the_asked_traces_and_ranges_only_their_events() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, db) in engines(dir.path()) {
        fill(&*db);
        let wanted: Vec<(String, u64)> = [("a", 1), ("a2", 3), ("b", 4), ("c", 5), ("e", 7), ("gone", 2)]
            .into_iter()
            .map(|(id, first_seq)| (id.to_owned(), first_seq))
            .collect();
        let found = doomed_in_order(&*db, &wanted, 10).unwrap();
        assert_eq!(ids(&found.traces), ["a", "a2", "c", "e"], "{engine}");
        assert_eq!(found.traces[0].1.last_event_seq, 2, "{engine}");
        let prefix = |trace_id: &str, first_seq: u64| keys::event_prefix(first_seq, trace_id);
        let end = |trace_id: &str, first_seq: u64| keys::prefix_end(&prefix(trace_id, first_seq));
        assert_eq!(
            found.event_ranges,
            [
                // a and a2 are adjacent; b (in use) and d (not asked) end a range.
                (prefix("a", 1), end("a2", 3)),
                (prefix("c", 5), end("c", 5)),
                (prefix("e", 7), end("e", 7)),
            ],
            "{engine}"
        );
        // With no horizon every asked trace goes, b too.
        let found = doomed_in_order(&*db, &wanted, u64::MAX).unwrap();
        assert_eq!(ids(&found.traces), ["a", "a2", "b", "c", "e"], "{engine}");
        assert_eq!(found.event_ranges[0], (prefix("a", 1), end("c", 5)), "{engine}");
        // A trace asked under another first-seen number is not there.
        let found = doomed_in_order(&*db, &[("a".to_owned(), 3)], u64::MAX).unwrap();
        assert!(found.traces.is_empty() && found.event_ranges.is_empty(), "{engine}");
    }
}
