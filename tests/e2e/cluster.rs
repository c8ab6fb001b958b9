//! Several servers on one bucket, each with its own `--node-id` and data
//! directory: a trace whose events were uploaded to different nodes reads
//! back whole through every node. On SeaweedFS when the suite runs on a
//! bucket (`TRACEKEEP_TEST_BUCKET`); otherwise on a local-file bucket.

use std::path::Path;
use std::time::{Duration, Instant};

use tracekeep_e2e::harness::*;

/// A bucket prefix of its own for the cluster in `dir`.
fn cluster_bucket(dir: &Path) -> String {
    match bucket_for(dir) {
        Some(bucket) => bucket,
        None => format!("file://{}/bucket", dir.display()),
    }
}

/// Node `node_id` of the cluster on `bucket`, its data directory in `dir`.
fn node(dir: &Path, bucket: &str, node_id: &str) -> Server {
    let data = dir.join(node_id);
    Server::start_with(
        &[
            "--tracer-addr",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            // After the harness's own `--bucket` for the data directory: this one wins.
            "--bucket",
            bucket,
            "--bucket-flush-interval-ms",
            "2",
            "--node-id",
            node_id,
        ],
        LogTo::Stderr,
    )
}

/// The TSOs `/events/query` answers for `trace_id` through `server` once it
/// reads `expected` events (another node's uploads reach it at its next
/// poll of the bucket, a quarter of a second), or at a deadline.
fn tsos_once_complete(server: &Server, trace_id: &str, expected: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.get(&format!("/events/query?trace_id={trace_id}"));
        let found = if response.status == 200 {
            tsos(&response.json())
        } else {
            Vec::new()
        };
        if found.len() >= expected || Instant::now() > deadline {
            return found;
        }
        server.pace();
    }
}

#[tokio::test]
async fn a_trace_uploaded_to_three_nodes_reads_back_whole_through_each() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = cluster_bucket(dir.path());
    let nodes: Vec<Server> = ["node-1", "node-2", "node-3"]
        .iter()
        .map(|id| node(dir.path(), &bucket, id))
        .collect();
    // One event at a time, each to the next node, each acknowledged before
    // the next is sent: arrival order is upload order.
    for (tso, server) in (1..=6).zip(nodes.iter().cycle()) {
        let mut client = server.grpc().await;
        let reply = upload_jobs(&mut client, vec![job("dm.task.1", tso)]).await;
        assert!(reply.result, "{}", reply.msg);
    }
    let mut client = nodes[2].grpc().await;
    assert!(upload_jobs(&mut client, vec![job("only.node-3", 7)]).await.result);

    for server in &nodes {
        assert_eq!(tsos_once_complete(server, "dm.task.1", 6), [1, 2, 3, 4, 5, 6]);
        assert_eq!(tsos_once_complete(server, "only.node-3", 1), [7]);
    }
    // Each node stored what it took, in its own folder of the bucket.
    for server in &nodes {
        assert_eq!(
            server.get("/api/tracekeep/stats").json()["events"]["job"],
            2 + u64::from(server.addr == nodes[2].addr)
        );
    }
}
