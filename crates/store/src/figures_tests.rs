#![allow(clippy::unwrap_used)]

use super::*;

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
    let store = Store::open(dir.path(), crate::StoreOptions::default()).unwrap();
    store
        .append(vec![tracekeep_proto::TraceEvent::Job(
            tracekeep_proto::pb::SyncerJobEvent {
                base: Some(tracekeep_proto::pb::BaseEvent {
                    trace_id: "t".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])
        .unwrap();
    let figures = store.engine_figures();
    assert!(figures.memtable_bytes > 0, "{figures:?}");
    assert!(!figures.write_stopped);
    // The names stall_count looks for are the ones RocksDB prints.
    let text = store
        .db()
        .property_value("rocksdb.cf-write-stall-stats")
        .unwrap()
        .unwrap();
    assert!(
        text.contains("total-delays: 0") && text.contains("total-stops: 0"),
        "{text}"
    );
    // And the line compaction_millis reads is the one RocksDB prints.
    let stats = store.db().property_value("rocksdb.cfstats").unwrap().unwrap();
    assert!(compaction_millis(&stats).is_some(), "{stats}");
}
