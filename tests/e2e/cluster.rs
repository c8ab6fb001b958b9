//! Several servers on one bucket, each with its own `--node-id` and data
//! directory: a trace whose events were uploaded to different nodes reads
//! back whole through every node. On SeaweedFS when the suite runs on a
//! bucket (`TRACEKEEP_TEST_BUCKET`); otherwise on a local-file bucket.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
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
    node_in(&dir.join(node_id), bucket, node_id)
}

/// Node `node_id` of the cluster on `bucket`, with data directory `data`.
fn node_in(data: &Path, bucket: &str, node_id: &str) -> Server {
    Server::start_node(data, bucket, node_id, &["--bucket-flush-interval-ms", "2"])
}

/// The answer to `GET path` from `server` once `done` holds of it, or the
/// last one at a deadline: another node's uploads reach a node at its next
/// poll of the bucket (every quarter of a second), so tests wait for a
/// state, paced by the server's log.
fn response_once(server: &Server, path: &str, done: impl Fn(&HttpResponse) -> bool) -> HttpResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.get(path);
        if done(&response) || Instant::now() > deadline {
            return response;
        }
        server.pace();
    }
}

/// The TSOs `/events/query` answers for `trace_id` through `server` once it
/// reads `expected` events, or at the deadline.
fn tsos_once_complete(server: &Server, trace_id: &str, expected: usize) -> Vec<i64> {
    let stored = |response: &HttpResponse| {
        if response.status == 200 {
            tsos(&response.json())
        } else {
            Vec::new()
        }
    };
    let path = format!("/events/query?trace_id={trace_id}");
    stored(&response_once(server, &path, |response| {
        stored(response).len() >= expected
    }))
}

/// `path` of `server` as JSON once it answers 200 and `done` holds of it
/// (not found yet is what a read before the poll answers); fails at the
/// deadline.
fn json_once(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let ready = |response: &HttpResponse| response.status == 200 && done(&response.json());
    let response = response_once(server, path, ready);
    assert!(ready(&response), "{path}: {} {}", response.status, response.body);
    response.json()
}

/// Waits (up to the deadline) for `path` of `server` to answer `status`.
fn status_once(server: &Server, path: &str, status: u16) {
    let response = response_once(server, path, |response| response.status == status);
    assert_eq!(response.status, status, "{path}: {}", response.body);
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
    // DM's scan, one trace a page, through a node: the cluster's traces in
    // first-seen order, each once and whole.
    let mut scanned = Vec::new();
    let mut page = nodes[1].get("/events/scan?limit=1");
    loop {
        assert_eq!(page.status, 200, "{}", page.body);
        scanned.extend(page.json().as_array().unwrap().iter().map(tsos));
        match page.header("x-tracekeep-next") {
            Some(next) => page = nodes[1].get(&format!("/events/scan?after={next}&limit=1")),
            None => break,
        }
    }
    assert_eq!(scanned, [vec![1, 2, 3, 4, 5, 6], vec![7]]);
    // Every node lists the three, itself marked, each with a last write.
    for (at, server) in nodes.iter().enumerate() {
        let stats = json_once(server, "/api/tracekeep/stats", |stats| {
            stats["cluster"]["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.len() == 3)
        });
        let cluster = &stats["cluster"];
        assert_eq!(cluster["node_id"], format!("node-{}", at + 1), "{cluster}");
        for (other, node) in cluster["nodes"].as_array().unwrap().iter().enumerate() {
            assert_eq!(node["node_id"], format!("node-{}", other + 1));
            assert_eq!(node["this_node"], other == at);
            assert!(node["last_write_age_ms"].as_u64().is_some(), "{node}");
        }
    }
    let metrics = nodes[0].get("/metrics").body;
    assert!(metrics.contains("tracekeep_cluster_nodes 3"), "{metrics}");
    assert!(
        metrics.contains("tracekeep_cluster_node_last_write_seconds{node=\"node-3\"}"),
        "{metrics}"
    );
    // Each node stored what it took, in its own folder of the bucket.
    for server in &nodes {
        assert_eq!(
            server.get("/api/tracekeep/stats").json()["events"]["job"],
            2 + u64::from(server.addr == nodes[2].addr)
        );
    }
}

/// `body` POSTed to `path` of `server` as JSON.
fn post_json(server: &Server, path: &str, body: &Value) -> HttpResponse {
    http(
        server.addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn zipkin_reads_through_a_node_that_took_none_of_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = cluster_bucket(dir.path());
    let nodes: Vec<Server> = ["zipkin-1", "zipkin-2", "zipkin-3"]
        .iter()
        .map(|id| node(dir.path(), &bucket, id))
        .collect();
    let trace = "5af7183fb1d4cf5f";
    let now_micros = 1_765_000_000_000_000u64;
    // The client half to one node, the server half to another.
    let client = json!([{
        "traceId": trace, "id": "0000000000000001", "kind": "CLIENT", "name": "get /api",
        "timestamp": now_micros, "duration": 2000,
        "localEndpoint": {"serviceName": "frontend"}, "remoteEndpoint": {"serviceName": "backend"}
    }]);
    let server_half = json!([{
        "traceId": trace, "parentId": "0000000000000001", "id": "0000000000000002", "kind": "SERVER",
        "name": "get /api", "timestamp": now_micros + 100, "duration": 1000,
        "localEndpoint": {"serviceName": "backend"}, "tags": {"error": "timeout"}
    }]);
    assert_eq!(post_json(&nodes[0], "/api/v2/spans", &client).status, 202);
    assert_eq!(post_json(&nodes[1], "/api/v2/spans", &server_half).status, 202);

    let reader = &nodes[2];
    let spans = json_once(reader, &format!("/api/v2/trace/{trace}"), |spans| {
        spans.as_array().is_some_and(|spans| spans.len() == 2)
    });
    assert_eq!(spans.as_array().map(Vec::len), Some(2), "{spans}");
    let services = json_once(reader, "/api/v2/services", |services| {
        services.as_array().is_some_and(|s| s.len() == 2)
    });
    assert_eq!(services, json!(["backend", "frontend"]));
    let end_ts = now_micros / 1000 + 60_000;
    let found = json_once(
        reader,
        &format!("/api/v2/traces?serviceName=backend&annotationQuery=error&endTs={end_ts}&lookback=3600000"),
        |traces| traces.as_array().is_some_and(|traces| !traces.is_empty()),
    );
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].as_array().map(Vec::len),
        Some(2),
        "the whole trace, both nodes' spans"
    );
    let links = json_once(
        reader,
        &format!("/api/v2/dependencies?endTs={end_ts}&lookback=3600000"),
        |links| links.as_array().is_some_and(|links| !links.is_empty()),
    );
    assert_eq!(links[0]["parent"], "frontend", "{links}");
    assert_eq!(links[0]["child"], "backend", "{links}");
}

#[tokio::test]
async fn a_second_server_with_the_same_node_id_fences_off_the_first_which_stops() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = cluster_bucket(dir.path());
    let first = node_in(&dir.path().join("first"), &bucket, "twin");
    let mut client = first.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("before", 1)]).await.result);

    // A second process, its own data directory, the same node ID.
    let second = node_in(&dir.path().join("second"), &bucket, "twin");
    let mut second_client = second.grpc().await;
    assert!(upload_jobs(&mut second_client, vec![job("after", 2)]).await.result);

    // The first finds out at its next write: not acknowledged, and it stops
    // with the reason.
    let late = client
        .upload_syncer_job_event(tracekeep_proto::pb::UploadSyncerJobEventRequest {
            events: vec![job("late", 3)],
        })
        .await;
    assert!(
        late.is_err() || !late.unwrap().into_inner().result,
        "a fenced server acknowledged"
    );
    // Its graceful stop waits for open connections: ours closes when its
    // task runs, so the wait is off this thread.
    drop(client);
    let (status, lines) = tokio::task::spawn_blocking(move || first.wait_exit()).await.unwrap();
    assert!(!status.success(), "{status}");
    assert!(lines.iter().any(|line| line.contains("fenced")), "{lines:?}");

    // The second serves what either acknowledged, and nothing else.
    assert_eq!(tsos(&second.get("/events/query?trace_id=before").json()), [1]);
    assert_eq!(tsos(&second.get("/events/query?trace_id=after").json()), [2]);
    assert_eq!(second.get("/events/query?trace_id=late").status, 404);
}

#[tokio::test]
async fn delete_and_truncate_through_any_node_apply_to_the_whole_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = cluster_bucket(dir.path());
    let nodes: Vec<Server> = ["cut-1", "cut-2", "cut-3"]
        .iter()
        .map(|id| node(dir.path(), &bucket, id))
        .collect();
    // A trace at two nodes, others at each.
    for (at, server) in nodes.iter().enumerate() {
        let mut client = server.grpc().await;
        let tso = i64::try_from(at).unwrap();
        let mut events = vec![job(&format!("own.{at}"), 10 + tso)];
        if at < 2 {
            events.push(job("shared", tso));
        }
        assert!(upload_jobs(&mut client, events).await.result);
    }
    for server in &nodes {
        assert_eq!(tsos_once_complete(server, "shared", 2), [0, 1]);
        assert_eq!(tsos_once_complete(server, "own.2", 1), [12]);
    }

    // Deleted through the node that took none of it.
    let response = nodes[2].post("/events/delete?trace_id=shared");
    assert_eq!(response.json(), json!({"trace_id": "shared", "result": true}));
    for server in &nodes {
        status_once(server, "/events/query?trace_id=shared", 404);
        assert_eq!(server.get("/events/query?trace_id=own.0").status, 200);
    }

    // Truncated through one node: every node answers empty, and each frees
    // its own copies.
    assert_eq!(nodes[0].post("/events/truncate").json(), json!({"result": true}));
    for server in &nodes {
        for at in 0..3 {
            status_once(server, &format!("/events/query?trace_id=own.{at}"), 404);
        }
        assert_eq!(server.get("/events/scan").json(), json!([]));
        json_once(server, "/api/tracekeep/stats", |stats| stats["traces"] == 0);
    }
    // The marks hold across a restart of a node with an emptied directory.
    let restarted = dir.path().join("cut-2");
    drop(nodes);
    std::fs::remove_dir_all(&restarted).unwrap();
    let node_2 = node_in(&restarted, &bucket, "cut-2");
    status_once(&node_2, "/events/query?trace_id=own.0", 404);
    assert_eq!(node_2.get("/events/scan").json(), json!([]));
}

#[tokio::test]
async fn a_node_killed_for_good_is_adopted_by_another_and_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = cluster_bucket(dir.path());
    let start = |node_id: &str| {
        let args = ["--adopt-after-seconds", "2", "--retention", "7d"];
        Server::start_node(&dir.path().join(node_id), &bucket, node_id, &args)
    };
    let gone = start("adopt-z");
    let mut client = gone.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("from-z", 1)]).await.result);
    drop(client);
    gone.kill9();
    let survivor = start("adopt-a");
    let stats = json_once(&survivor, "/api/tracekeep/stats", |stats| {
        stats["cluster"]["nodes"].as_array().is_some_and(|nodes| {
            nodes
                .iter()
                .any(|node| node["node_id"] == "adopt-z" && node["adopted_here"] == true)
        })
    });
    assert_eq!(stats["cluster"]["node_id"], "adopt-a");
    assert_eq!(tsos(&survivor.get("/events/query?trace_id=from-z").json()), [1]);
    assert!(dir.path().join("adopt-a/adopted/adopt-z").is_dir());
}

#[tokio::test]
async fn dump_reads_a_bucket_of_several_nodes_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = cluster_bucket(dir.path());
    let first = node(dir.path(), &bucket, "dump-1");
    let second = node(dir.path(), &bucket, "dump-2");
    // Acknowledged means in the bucket: a reader opened now sees it all.
    for (server, events) in [
        (&first, vec![job("shared", 1)]),
        (&second, vec![job("shared", 2), job("only.2", 3)]),
    ] {
        let mut client = server.grpc().await;
        let reply = upload_jobs(&mut client, events).await;
        assert!(reply.result, "{}", reply.msg);
    }
    let dump_ok = |args: &[&str]| {
        let output = dump(args);
        assert_eq!(output.code, 0, "{args:?}: {}", output.stderr);
        output.stdout
    };
    let shown: Value = serde_json::from_str(&dump_ok(&["show", &bucket, "shared", "--json"])).unwrap();
    assert_eq!(tsos(&shown), [1, 2], "a trace stored at both nodes, whole");
    let stats: Value = serde_json::from_str(&dump_ok(&["stats", &bucket, "--json"])).unwrap();
    assert_eq!(stats["events"], 3, "{stats}");
    let nodes: Vec<&str> = stats["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["dump-1", "dump-2"]);
    let exported = dump_ok(&["export", &bucket]);
    let traces: Vec<&str> = exported
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            if event["trace_id"] == "shared" {
                "shared"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(traces, ["shared", "shared", "other"], "{exported}");
    let verified = dump_ok(&["verify", &bucket]);
    // Each node's database is checked: `shared` is a trace at both.
    assert!(verified.contains("(3 events, 3 traces): 0 problems"), "{verified}");
    // One node's database alone.
    let alone = format!("{}/nodes/dump-1", bucket.trim_end_matches('/'));
    let shown: Value = serde_json::from_str(&dump_ok(&["show", &alone, "shared", "--json"])).unwrap();
    assert_eq!(tsos(&shown), [1]);
}
