//! Several nodes on one bucket (a local-file bucket shared by stores in
//! separate data directories): each writes its own database, and reads
//! cover every node's. The end-to-end suite does the same with servers on a
//! real S3 server (`tests/e2e/cluster.rs`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tracekeep_store::{Clock, SpanSearch, Store, StoreError, StoreOptions, TraceEvent, pb};

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

/// A local-file bucket in a temporary directory, the nodes' data
/// directories beside it, and one clock for every node.
struct TestBucket {
    dir: tempfile::TempDir,
    bucket: String,
    clock: Arc<SettableClock>,
}

impl TestBucket {
    fn new() -> TestBucket {
        let dir = tempfile::tempdir().unwrap();
        let bucket = format!("file://{}/bucket", dir.path().display());
        let clock = Arc::new(SettableClock(AtomicI64::new(1_800_000_000_000_000_000)));
        TestBucket { dir, bucket, clock }
    }

    /// The options of node `node_id` of the cluster.
    fn options(&self, node_id: &str) -> StoreOptions {
        StoreOptions {
            bucket: Some(self.bucket.clone()),
            bucket_flush_interval: Duration::from_millis(2),
            node_id: node_id.to_owned(),
            clock: self.clock.clone(),
            ..StoreOptions::default()
        }
    }

    /// Node `node_id` of the cluster opened with `options`, its data
    /// directory named after it.
    fn open(&self, node_id: &str, options: StoreOptions) -> Store {
        Store::open(self.dir.path().join(node_id), options).unwrap()
    }

    /// Node `node_id` of the cluster.
    fn node(&self, node_id: &str) -> Store {
        self.open(node_id, self.options(node_id))
    }

    /// Moves the clock a millisecond on: what any node takes next arrives
    /// after what every node took before.
    fn step(&self) {
        self.clock.0.fetch_add(1_000_000, Ordering::SeqCst);
    }
}

/// What `read` reads once `done` holds of it, polled every 50 ms, or its
/// last reading after `within`: another node's writes reach a reader at its
/// next poll of the bucket (every 250 ms), so tests wait for a state, up to
/// a deadline.
fn eventually<T>(within: Duration, mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + within;
    loop {
        let value = read();
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long a test waits for the nodes to read each other.
const WITHIN: Duration = Duration::from_secs(30);

/// The TSOs of `trace_id`'s events as `store` reads them, once it reads
/// `expected` events (or at the deadline).
fn tsos_once_complete(store: &Store, trace_id: &str, expected: usize) -> Vec<i64> {
    let read = || match store.query(trace_id) {
        Ok(events) => events
            .iter()
            .map(|stored| stored.event.base().map_or(-1, |base| base.tso))
            .collect(),
        Err(StoreError::TraceNotFound { .. }) => Vec::new(),
        Err(error) => panic!("query {trace_id}: {error}"),
    };
    eventually(WITHIN, read, |tsos: &Vec<i64>| tsos.len() >= expected)
}

/// Whether `store` no longer finds `trace_id`, waiting up to the deadline.
fn gone_once_marked(store: &Store, trace_id: &str) -> bool {
    eventually(WITHIN, || store.query(trace_id).is_err(), |gone| *gone)
}

#[test]
fn every_node_reads_a_trace_whose_events_arrived_at_several_nodes_whole_and_in_arrival_order() {
    let cluster = TestBucket::new();
    // One clock for both nodes, stepped between uploads: arrival order is
    // the order of the steps, whichever node took the upload.
    let a = cluster.node("node-a");
    let b = cluster.node("node-b");
    a.append(vec![job("shared", 1)]).unwrap();
    cluster.step();
    b.append(vec![job("shared", 2), job("only-b", 10)]).unwrap();
    cluster.step();
    a.append(vec![job("shared", 3)]).unwrap();
    cluster.step();
    b.append(vec![job("shared", 4)]).unwrap();

    assert_eq!(tsos_once_complete(&a, "shared", 4), [1, 2, 3, 4]);
    assert_eq!(tsos_once_complete(&b, "shared", 4), [1, 2, 3, 4]);
    assert_eq!(
        tsos_once_complete(&a, "only-b", 1),
        [10],
        "a trace only another node stored"
    );
    // A write after the reader opened reaches it at a later poll.
    cluster.step();
    b.append(vec![job("shared", 5)]).unwrap();
    assert_eq!(tsos_once_complete(&a, "shared", 5), [1, 2, 3, 4, 5]);
    // Each node stored only what it took.
    assert_eq!(a.stats().unwrap().events(), 2);
    assert_eq!(b.stats().unwrap().events(), 4);
}

#[test]
fn a_prefix_of_several_nodes_is_read_as_one_offline() {
    let shared = TestBucket::new();
    {
        let a = shared.node("node-a");
        a.append(vec![job("t", 1)]).unwrap();
    }
    // One node: the prefix opens as that node.
    let single = Store::open_bucket_read_only(&shared.bucket).unwrap();
    assert_eq!(single.query("t").unwrap().len(), 1);
    assert!(single.each_node(|_, _| Ok::<_, StoreError>(())).unwrap().is_empty());
    drop(single);
    {
        let b = shared.node("node-b");
        b.append(vec![job("u", 2)]).unwrap();
        shared.step();
        b.append(vec![job("t", 3)]).unwrap();
    }
    // Several: read as one, as a node of the cluster reads it.
    let cluster = Store::open_bucket_read_only(&shared.bucket).unwrap();
    let tsos: Vec<i64> = cluster
        .query("t")
        .unwrap()
        .iter()
        .map(|stored| stored.event.base().map_or(-1, |base| base.tso))
        .collect();
    assert_eq!(tsos, [1, 3], "a trace stored at both nodes comes back whole");
    let mut exported = Vec::new();
    let count = cluster
        .export(|trace_id, stored| {
            exported.push((trace_id.to_owned(), stored.event.base().map_or(-1, |base| base.tso)));
            Ok(())
        })
        .unwrap();
    assert_eq!(count, 3);
    assert_eq!(
        exported,
        [("t".to_owned(), 1), ("t".to_owned(), 3), ("u".to_owned(), 2)],
        "each trace once, whole, in first-seen order"
    );
    let page = cluster.scan_after(None, 10).unwrap();
    let ids: Vec<&str> = page.traces.iter().map(|trace| trace.trace_id.as_str()).collect();
    assert_eq!(ids, ["t", "u"]);
    let events = cluster
        .each_node(|_, node| node.stats().map(|stats| stats.events()))
        .unwrap();
    assert_eq!(events, [("node-a".to_owned(), 1), ("node-b".to_owned(), 2)]);
    // One node's database alone.
    let b = Store::open_bucket_read_only(&format!("{}/nodes/node-b", shared.bucket)).unwrap();
    assert_eq!(b.query("u").unwrap().len(), 1);
    assert_eq!(b.query("t").unwrap().len(), 1);
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

/// Every trace of `store`'s cluster by cursor pages of `limit`, with the
/// TSOs of its events, waiting (up to a deadline) until it sees `traces`.
fn scan_all(store: &Store, limit: u64, traces: usize) -> Vec<(String, Vec<i64>)> {
    let read = || {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store.scan_after(after, limit).unwrap();
            assert!(
                page.traces.len() as u64 <= limit || page.traces.windows(2).all(|w| w[0].cursor == w[1].cursor),
                "only traces of one first-seen number may overfill a page"
            );
            all.extend(page.traces.into_iter().map(|trace| {
                let tsos = trace
                    .events
                    .iter()
                    .map(|stored| stored.event.base().map_or(-1, |base| base.tso))
                    .collect();
                (trace.trace_id, tsos)
            }));
            match page.next {
                Some(next) => after = Some(next),
                None => return all,
            }
        }
    };
    eventually(WITHIN, read, |all: &Vec<(String, Vec<i64>)>| all.len() >= traces)
}

#[test]
fn a_scan_walks_the_cluster_in_first_seen_order_each_trace_once_with_every_nodes_events() {
    let cluster = TestBucket::new();
    let a = cluster.node("node-a");
    let b = cluster.node("node-b");
    a.append(vec![job("t1", 1)]).unwrap();
    cluster.step();
    b.append(vec![job("t2", 2), job("t1", 3)]).unwrap();
    cluster.step();
    a.append(vec![job("t3", 4), job("t2", 5)]).unwrap();
    cluster.step();
    b.append(vec![job("t4", 6)]).unwrap();
    // Without a step: node-a first sees t5 at the number node-b saw t4 at,
    // and the lower node ID goes first.
    a.append(vec![job("t5", 7)]).unwrap();
    b.append(vec![job("t6", 8)]).unwrap();

    let expected: Vec<(String, Vec<i64>)> = [
        ("t1", vec![1, 3]),
        ("t2", vec![2, 5]),
        ("t3", vec![4]),
        ("t5", vec![7]),
        ("t4", vec![6]),
        ("t6", vec![8]),
    ]
    .into_iter()
    .map(|(id, tsos)| (id.to_owned(), tsos))
    .collect();
    for store in [&a, &b] {
        for limit in [1, 2, 3, 100] {
            assert_eq!(scan_all(store, limit, 6), expected, "pages of {limit}");
        }
    }
    // The UI's lists, newest first, each trace summarised over both nodes.
    for store in [&a, &b] {
        for limit in [1, 2, 100] {
            let mut listed = Vec::new();
            let mut from = None;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (page, next) = store
                    .list_traces_in(tracekeep_store::ListOrder::NewestFirst, from, limit, "")
                    .unwrap();
                listed.extend(page.into_iter().map(|summary| (summary.trace_id, summary.events)));
                match next {
                    Some(next) => from = Some(next),
                    None => break,
                }
                assert!(Instant::now() < deadline);
            }
            let expected: Vec<(String, u64)> = [("t6", 1), ("t5", 1), ("t4", 1), ("t3", 1), ("t2", 2), ("t1", 2)]
                .into_iter()
                .map(|(id, events)| (id.to_owned(), events))
                .collect();
            assert_eq!(listed, expected, "newest first, pages of {limit}");
        }
    }
    // dm-tracer's offset form over the cluster.
    let page: Vec<String> = b.scan(1, 2).unwrap().into_iter().map(|trace| trace.trace_id).collect();
    assert_eq!(page, ["t2", "t3"]);
    assert!(matches!(
        b.scan(7, 1),
        Err(StoreError::OffsetPastEnd { offset: 7, traces: 6 })
    ));
}

/// A span of `service` in `trace_id` that started at `second`.
fn span(trace_id: &str, id: &str, service: &str, second: i64) -> TraceEvent {
    TraceEvent::Span(pb::Span {
        base: Some(pb::BaseEvent {
            trace_id: trace_id.to_owned(),
            tso: second * 1_000_000_000,
            r#type: pb::TraceType::SpanEvent as i32,
            ..Default::default()
        }),
        span_id: id.to_owned(),
        operation: format!("{service} op"),
        local_endpoint: Some(pb::Endpoint {
            service_name: service.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The candidates of `search` through `store`, once it offers `expected`
/// of them (or at a deadline).
fn candidates_once(store: &Store, search: &SpanSearch, expected: usize) -> Vec<String> {
    let read = || {
        let mut found = Vec::new();
        store
            .span_search_candidates(search, |trace_id| {
                found.push(trace_id.to_owned());
                Ok(true)
            })
            .unwrap();
        found
    };
    eventually(WITHIN, read, |found: &Vec<String>| found.len() >= expected)
}

#[test]
fn a_search_and_the_service_lists_cover_every_node_newest_first() {
    let cluster = TestBucket::new();
    let a = cluster.node("node-a");
    let b = cluster.node("node-b");
    a.append(vec![span("old", "1", "web", 100), span("newest", "2", "web", 400)])
        .unwrap();
    b.append(vec![span("middle", "3", "db", 300), span("older", "4", "web", 200)])
        .unwrap();
    // A trace with spans at both nodes is offered once.
    b.append(vec![span("newest", "5", "db", 400)]).unwrap();
    let window = SpanSearch {
        start_nanos: 0,
        end_nanos: 1_000 * 1_000_000_000,
        ..SpanSearch::default()
    };
    for store in [&a, &b] {
        assert_eq!(candidates_once(store, &window, 4), ["newest", "middle", "older", "old"]);
        let web = SpanSearch {
            service: Some("web".into()),
            ..window.clone()
        };
        assert_eq!(candidates_once(store, &web, 3), ["newest", "older", "old"]);
        assert_eq!(store.span_services().unwrap(), ["db", "web"]);
        assert_eq!(store.span_names("db").unwrap(), ["db op"]);
    }
    // Stopping the walk stops it on every node.
    let mut first = Vec::new();
    a.span_search_candidates(&window, |trace_id| {
        first.push(trace_id.to_owned());
        Ok(false)
    })
    .unwrap();
    assert_eq!(first, ["newest"]);
}

#[test]
fn nodes_issue_tsos_no_other_node_issues_and_keep_their_slot_across_restarts() {
    let cluster = TestBucket::new();
    // One clock that does not move: every value comes from the same instant.
    let slot_of = |tso: i64| tso.rem_euclid(i64::from(tracekeep_store::TSO_SLOTS));
    let mut issued = std::collections::HashSet::new();
    let (slot_a, slot_b);
    {
        let a = cluster.node("node-a");
        let b = cluster.node("node-b");
        let first = (a.next_tso().unwrap(), b.next_tso().unwrap());
        (slot_a, slot_b) = (slot_of(first.0), slot_of(first.1));
        assert_ne!(slot_a, slot_b);
        issued.extend([first.0, first.1]);
        for _ in 0..200 {
            for (store, slot) in [(&a, slot_a), (&b, slot_b)] {
                let tso = store.next_tso().unwrap();
                assert_eq!(slot_of(tso), slot);
                assert!(issued.insert(tso), "{tso} issued twice");
            }
        }
    }
    // Restarted, in the other order: each keeps its slot.
    let b = cluster.node("node-b");
    let a = cluster.node("node-a");
    assert_eq!(slot_of(b.next_tso().unwrap()), slot_b);
    assert_eq!(slot_of(a.next_tso().unwrap()), slot_a);
}

#[test]
fn a_delete_through_any_node_removes_every_nodes_events_of_the_trace_for_good() {
    let cluster = TestBucket::new();
    {
        let a = cluster.node("node-a");
        let b = cluster.node("node-b");
        a.append(vec![job("doomed", 1), job("kept", 2)]).unwrap();
        cluster.step();
        b.append(vec![job("doomed", 3)]).unwrap();
        cluster.step();
        assert_eq!(tsos_once_complete(&b, "doomed", 2), [1, 3]);
        // Through the node that holds fewer of its events; it says the trace existed.
        assert!(b.delete("doomed").unwrap());
        assert_eq!(tsos_once_complete(&b, "doomed", 0), Vec::<i64>::new());
        // The other node reads the mark at its next poll.
        assert!(gone_once_marked(&a, "doomed"), "node-a still serves the deleted trace");
        assert_eq!(tsos_once_complete(&a, "kept", 1), [2]);
        // node-a deletes its own copy when it follows node-b's mark, once.
        assert_eq!(a.follow_cluster_deletes().unwrap(), 1);
        assert_eq!(a.follow_cluster_deletes().unwrap(), 0);
        assert_eq!(a.stats().unwrap().events(), 1, "only kept's event is left");
        // What arrives after the delete is a new start of the trace: last
        // in first-seen order.
        cluster.step();
        a.append(vec![job("doomed", 4)]).unwrap();
        assert_eq!(tsos_once_complete(&b, "doomed", 1), [4]);
        let order: Vec<String> = scan_all(&b, 10, 2).into_iter().map(|(id, _)| id).collect();
        assert_eq!(order, ["kept", "doomed"]);
    }
    // The marks are stored: after a restart of both, the same.
    let a = cluster.node("node-a");
    let b = cluster.node("node-b");
    assert_eq!(tsos_once_complete(&a, "doomed", 1), [4]);
    assert_eq!(tsos_once_complete(&b, "doomed", 1), [4]);
    assert!(!a.delete("never-stored").unwrap());
    // A second delete of the trace is followed too, after the restart.
    cluster.step();
    assert!(b.delete("doomed").unwrap());
    assert!(gone_once_marked(&a, "doomed"), "node-a still serves the deleted trace");
    assert_eq!(a.follow_cluster_deletes().unwrap(), 1);
    assert_eq!(a.stats().unwrap().events(), 1, "only kept's event is left");
}

#[test]
fn a_truncate_through_one_node_empties_the_cluster_and_the_others_free_their_copies() {
    let cluster = TestBucket::new();
    let a = cluster.node("node-a");
    let b = cluster.node("node-b");
    a.append(vec![job("t1", 1)]).unwrap();
    b.append(vec![job("t2", 2), job("t3", 3)]).unwrap();
    cluster.step();
    assert_eq!(scan_all(&a, 10, 3).len(), 3);
    a.truncate().unwrap();
    cluster.step();
    // node-a reads node-b's copies as gone as soon as it reads node-b at all.
    assert!(matches!(a.query("t2"), Err(StoreError::TraceNotFound { .. })));
    // node-b once it reads node-a's mark; then it frees its own copies.
    assert!(gone_once_marked(&b, "t2"), "node-b still serves what node-a truncated");
    assert_eq!(b.follow_cluster_truncates().unwrap(), 2);
    assert_eq!(b.stats().unwrap().traces, 0);
    assert_eq!(b.follow_cluster_truncates().unwrap(), 0, "applied once");
    // What arrives after it stays.
    b.append(vec![job("t4", 4)]).unwrap();
    assert_eq!(
        scan_all(&a, 10, 1)
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["t4"]
    );
}

#[test]
fn a_departed_nodes_database_is_adopted_by_the_live_node_of_lowest_id_and_keeps_expiring() {
    let cluster = TestBucket::new();
    let minute = 60_000_000_000;
    let adopting = |node_id: &str| {
        let options = StoreOptions {
            adopt_after: Some(Duration::from_secs(2)),
            ..cluster.options(node_id)
        };
        cluster.open(node_id, options)
    };
    {
        let gone = adopting("node-z");
        gone.append(vec![job("old", 1)]).unwrap();
    }
    // node-z stopped renewing its lease; of the live nodes node-a has the lowest ID.
    let a = adopting("node-a");
    let b = adopting("node-b");
    let adopted_by = |store: &Store| -> bool {
        store
            .cluster_nodes()
            .unwrap()
            .iter()
            .any(|node| node.node_id == "node-z" && node.adopted_here)
    };
    assert!(
        eventually(Duration::from_secs(60), || adopted_by(&a), |adopted| *adopted),
        "node-a never adopted node-z: {:?}",
        a.cluster_nodes()
    );
    assert!(!adopted_by(&b), "one adopter only");
    assert_eq!(tsos_once_complete(&b, "old", 1), [1], "still readable everywhere");
    // node-a's retention expires node-z's data too.
    cluster.clock.0.fetch_add(10 * minute, Ordering::SeqCst);
    a.append(vec![job("new", 2)]).unwrap();
    let expiry = a.expire(Duration::from_secs(120), 1_000).unwrap();
    assert_eq!(expiry.deleted, 1, "node-z's old trace");
    assert!(gone_once_marked(&b, "old"), "node-z's expired trace is still read");
}
