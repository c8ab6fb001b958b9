#![allow(clippy::unwrap_used)]

use super::*;

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
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), ["default", families::EVENTS]).unwrap();
        let mut compact = rocksdb::CompactOptions::default();
        compact.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        for family in families::all(&db) {
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
