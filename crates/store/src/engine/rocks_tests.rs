#![allow(clippy::unwrap_used)]

use super::*;
use crate::{Store, StoreOptions, TraceEvent};

#[test]
fn stall_counts_are_read_from_rocksdbs_text() {
    let text = "Write Stall (count): l0-file-count-limit-delays: 3, total-delays: 12, total-stops: 4, ";
    assert_eq!(stall_count(text, "total-delays"), 12);
    assert_eq!(stall_count(text, "total-stops"), 4);
    assert_eq!(stall_count(text, "memtable-limit-stops"), 0);
}

#[test]
fn compaction_time_is_read_from_rocksdbs_text() {
    let text = "** Compaction Stats [default] **\nCumulative compaction: 0.02 GB write, 3.10 MB/s write, 0.01 GB read, 1.20 MB/s read, 12.5 seconds\nInterval compaction: 0.00 GB write, 0.00 MB/s write, 0.00 GB read, 0.00 MB/s read, 0.1 seconds\n";
    assert_eq!(compaction_millis(text), Some(12_500));
    assert_eq!(compaction_millis("nothing here"), None);
}

#[test]
fn a_fresh_store_reports_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.append(vec![job("t", 1)]).unwrap();
    let figures = store.engine_figures();
    let engine = RocksEngine::open_read_only(dir.path(), &StoreOptions::default()).unwrap();
    assert!(figures.memtable_bytes > 0, "{figures:?}");
    assert!(!figures.write_stopped);
    // The names stall_count looks for are the ones RocksDB prints.
    let text = engine
        .db
        .property_value("rocksdb.cf-write-stall-stats")
        .unwrap()
        .unwrap();
    assert!(
        text.contains("total-delays: 0") && text.contains("total-stops: 0"),
        "{text}"
    );
    // And the line compaction_millis reads is the one RocksDB prints.
    let stats = engine.db.property_value("rocksdb.cfstats").unwrap().unwrap();
    assert!(compaction_millis(&stats).is_some(), "{stats}");
}

fn job(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Job(tracekeep_proto::pb::SyncerJobEvent {
        base: Some(tracekeep_proto::pb::BaseEvent {
            trace_id: trace_id.into(),
            tso,
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[test]
fn a_store_compacted_by_leveled_compaction_opens_under_universal() {
    // Stores written before universal compaction have files in levels 1 to 6;
    // universal reads each level as a sorted run and carries on from there.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store
            .append((0..1_000).map(|n| job(&format!("t{}", n % 37), n)).collect())
            .unwrap();
    }
    {
        // RocksDB's defaults: leveled compaction.
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), ["default", EVENTS]).unwrap();
        let mut compact = rocksdb::CompactOptions::default();
        compact.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        for name in ["default", EVENTS] {
            let family = db.cf_handle(name).unwrap();
            db.compact_range_cf_opt(family, None::<&[u8]>, None::<&[u8]>, &compact);
        }
        let deepest = (1..7)
            .filter(|level| {
                db.property_int_value(&format!("rocksdb.num-files-at-level{level}"))
                    .unwrap()
                    .unwrap_or(0)
                    > 0
            })
            .max();
        assert!(deepest.is_some(), "the leveled compaction left files below level 0");
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.query("t3").unwrap().len(), 27);
    store.append(vec![job("t3", 5_000)]).unwrap();
    assert_eq!(store.query("t3").unwrap().len(), 28);
    assert_eq!(store.stats().unwrap().traces, 37);
    let mut problems = Vec::new();
    store.verify(|problem| problems.push(problem.clone()), |_| {}).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}
