//! Several nodes on one bucket (a local-file bucket shared by stores in
//! separate data directories): each writes its own database, and reads
//! cover every node's. The end-to-end suite does the same with servers on a
//! real S3 server (`tests/e2e/cluster.rs`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tracekeep_store::{Clock, Store, StoreError, StoreOptions, TraceEvent, pb};

fn job(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Job(pb::SyncerJobEvent {
        base: Some(pb::BaseEvent {
            trace_id: trace_id.to_owned(),
            tso,
            ..Default::default()
        }),
        sql: format!("INSERT INTO t VALUES ({tso})"),
        ..Default::default()
    })
}

struct SettableClock(AtomicI64);

impl Clock for SettableClock {
    fn now_nanos(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A node `node_id` of the cluster in `bucket`, with its data directory in
/// `dir` and its clock `clock`.
fn node(bucket: &str, dir: &std::path::Path, node_id: &str, clock: &Arc<SettableClock>) -> Store {
    let options = StoreOptions {
        bucket: Some(bucket.to_owned()),
        bucket_flush_interval: Duration::from_millis(2),
        node_id: node_id.to_owned(),
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    Store::open(dir, options).unwrap()
}

/// The TSOs of `trace_id`'s events as `store` reads them, waiting (up to a
/// deadline) until it reads `expected` events: another node's writes reach
/// a reader at its next poll of the bucket.
fn tsos_once_complete(store: &Store, trace_id: &str, expected: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = match store.query(trace_id) {
            Ok(events) => events,
            Err(StoreError::TraceNotFound { .. }) => Vec::new(),
            Err(error) => panic!("query {trace_id}: {error}"),
        };
        if events.len() >= expected || Instant::now() > deadline {
            return events
                .iter()
                .map(|stored| stored.event.base().map_or(-1, |base| base.tso))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_node_reads_a_trace_whose_events_arrived_at_several_nodes_whole_and_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("file://{}/bucket", dir.path().display());
    // One clock for both nodes, stepped between uploads: arrival order is
    // the order of the steps, whichever node took the upload.
    let clock = Arc::new(SettableClock(AtomicI64::new(1_800_000_000_000_000_000)));
    let a = node(&bucket, &dir.path().join("a"), "node-a", &clock);
    let b = node(&bucket, &dir.path().join("b"), "node-b", &clock);
    let step = || {
        clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    };
    a.append(vec![job("shared", 1)]).unwrap();
    step();
    b.append(vec![job("shared", 2), job("only-b", 10)]).unwrap();
    step();
    a.append(vec![job("shared", 3)]).unwrap();
    step();
    b.append(vec![job("shared", 4)]).unwrap();

    assert_eq!(tsos_once_complete(&a, "shared", 4), [1, 2, 3, 4]);
    assert_eq!(tsos_once_complete(&b, "shared", 4), [1, 2, 3, 4]);
    assert_eq!(
        tsos_once_complete(&a, "only-b", 1),
        [10],
        "a trace only another node stored"
    );
    // A write after the reader opened reaches it at a later poll.
    step();
    b.append(vec![job("shared", 5)]).unwrap();
    assert_eq!(tsos_once_complete(&a, "shared", 5), [1, 2, 3, 4, 5]);
    // Each node stored only what it took.
    assert_eq!(a.stats().unwrap().events(), 2);
    assert_eq!(b.stats().unwrap().events(), 4);
}

#[test]
fn a_prefix_of_several_nodes_is_read_one_node_at_a_time_offline() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("file://{}/bucket", dir.path().display());
    let clock = Arc::new(SettableClock(AtomicI64::new(1_800_000_000_000_000_000)));
    {
        let a = node(&bucket, &dir.path().join("a"), "node-a", &clock);
        a.append(vec![job("t", 1)]).unwrap();
    }
    // One node: the prefix opens as that node.
    let single = Store::open_bucket_read_only(&bucket).unwrap();
    assert_eq!(single.query("t").unwrap().len(), 1);
    drop(single);
    {
        let b = node(&bucket, &dir.path().join("b"), "node-b", &clock);
        b.append(vec![job("u", 2)]).unwrap();
    }
    match Store::open_bucket_read_only(&bucket) {
        Err(StoreError::InvalidBucket { reason, .. }) => {
            assert!(reason.contains("node-a, node-b"), "{reason}");
        }
        Err(other) => panic!("expected the node IDs, got {other}"),
        Ok(_) => panic!("a prefix of two nodes opened as one"),
    }
    let b = Store::open_bucket_read_only(&format!("{bucket}/nodes/node-b")).unwrap();
    assert_eq!(b.query("u").unwrap().len(), 1);
}

#[test]
fn a_node_id_that_cannot_name_a_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        bucket: Some(format!("file://{}/bucket", dir.path().display())),
        node_id: "../elsewhere".into(),
        ..StoreOptions::default()
    };
    match Store::open(dir.path().join("data"), options) {
        Err(StoreError::InvalidNodeId { node_id, .. }) => assert_eq!(node_id, "../elsewhere"),
        Err(other) => panic!("expected InvalidNodeId, got {other}"),
        Ok(_) => panic!("opened with node ID ../elsewhere"),
    }
}
