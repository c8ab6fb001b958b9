//! The DM tracing client against the real server.

use std::time::{Duration, Instant};

use tracekeep_client::dm::{DmTracer, DmTracerConfig, args_checksum};
use tracekeep_proto::pb;

use tracekeep_e2e::harness::*;

fn config(server: &Server) -> DmTracerConfig {
    DmTracerConfig {
        flush_interval: Duration::from_secs(3600),
        ..DmTracerConfig::new(format!("http://{}", server.addr), "src")
    }
}

/// Polls `done` against the server's pace, with a deadline. The wait blocks
/// its thread, so it first hands this worker's queued tasks to the runtime
/// (`block_in_place`): a client task parked in this worker's slot would
/// otherwise never run, and the wait would time out (it did, once in a
/// loaded full run).
fn wait_until(server: &Server, what: &str, mut done: impl FnMut() -> bool) {
    tokio::task::block_in_place(|| {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            server.pace();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_the_callers_location_the_tso_and_source_ids() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let tracer = DmTracer::start(config(&server)).unwrap();
    tracer.sync_tso().await.unwrap();
    let mut grpc = server.grpc().await;
    let before = tso(&mut grpc).await;

    let trace_id = tracer.next_trace_id();
    assert_eq!(trace_id, "src.1");
    assert_eq!(tracer.next_trace_id(), "src.2");
    let line = line!() + 1;
    assert!(tracer.collect_binlog(
        &trace_id,
        "g1",
        pb::SyncerBinlogEvent {
            event_type: 4,
            ..Default::default()
        }
    ));
    let job = pb::SyncerJobEvent {
        sql: "INSERT INTO t VALUES (1)".into(),
        ..Default::default()
    };
    assert!(tracer.collect_job(&trace_id, "g1", job, None));
    tracer.flush().await.unwrap();

    let events = server.get("/events/query?trace_id=src.1").json();
    assert_eq!(events.as_array().unwrap().len(), 2);
    let base = &events[0]["event"]["base"];
    assert!(base["filename"].as_str().unwrap().ends_with("client.rs"), "{base}");
    assert_eq!(base["line"], line);
    assert_eq!(base["groupID"], "g1");
    assert_eq!(base["type"], 1);
    assert_eq!(events[1]["event"]["base"]["type"], 2);
    let tso0 = base["tso"].as_i64().unwrap();
    let tso1 = events[1]["event"]["base"]["tso"].as_i64().unwrap();
    assert!(tso0 < tso1, "the client's TSO rises");
    // Synced: within a second of the server's own timeline.
    assert!((tso0 - before).abs() < 1_000_000_000, "{tso0} vs server {before}");
    assert_eq!(tracer.stats().sent, 2);
    tracer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_goes_out_without_a_flush_and_so_does_an_interval() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let tracer = DmTracer::start(DmTracerConfig {
        batch_size: 5,
        ..config(&server)
    })
    .unwrap();
    for _ in 0..5 {
        tracer.collect_job("full", "", pb::SyncerJobEvent::default(), None);
    }
    wait_until(&server, "the full batch", || tracer.stats().sent == 5);
    assert_eq!(tsos(&server.get("/events/query?trace_id=full").json()).len(), 5);

    let ticking = DmTracer::start(DmTracerConfig {
        batch_size: 1000,
        flush_interval: Duration::from_millis(100),
        ..config(&server)
    })
    .unwrap();
    ticking.collect_binlog("tick", "", pb::SyncerBinlogEvent::default());
    wait_until(&server, "the interval upload", || ticking.stats().sent == 1);
    assert_eq!(server.get("/events/query?trace_id=tick").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_filled_when_asked_and_shutdown_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let tracer = DmTracer::start(DmTracerConfig {
        checksum: true,
        ..config(&server)
    })
    .unwrap();
    let args: [&[u8]; 2] = [b"1", b"alice"];
    tracer.collect_job("sum", "", pb::SyncerJobEvent::default(), Some(&args));
    tracer.shutdown().await;
    let events = server.get("/events/query?trace_id=sum").json();
    assert_eq!(events[0]["event"]["argsChecksum"], args_checksum(&args));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_server_never_blocks_the_caller_and_delivery_resumes_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let addr = server.addr;
    server.kill9();

    let tracer = DmTracer::start(DmTracerConfig {
        queue_capacity: 20,
        batch_size: 5,
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        flush_interval: Duration::from_millis(50),
        ..DmTracerConfig::new(format!("http://{addr}"), "src")
    })
    .unwrap();
    let started = Instant::now();
    let mut queued = 0;
    for n in 0..1000 {
        if tracer.collect_job(
            "absent",
            "",
            pb::SyncerJobEvent {
                op_type: n,
                ..Default::default()
            },
            None,
        ) {
            queued += 1;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "collecting blocked: {:?}",
        started.elapsed()
    );
    let stats = tracer.stats();
    assert!(stats.dropped >= 1000 - 20 - 5, "{stats:?}");
    assert_eq!(stats.queued, queued);

    // The server comes back on the same address: everything queued arrives.
    let address = addr.to_string();
    let server = Server::start_with(
        &["--tracer-addr", &address, "--data-dir", data.to_str().unwrap()],
        LogTo::Stderr,
    );
    wait_until(&server, "delivery after the server returned", || {
        tracer.stats().sent == queued
    });
    assert!(tracer.stats().upload_failures > 0, "uploads were retried");
    assert_eq!(
        tsos(&server.get("/events/query?trace_id=absent").json()).len() as u64,
        queued
    );
}
