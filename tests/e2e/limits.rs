//! Oversized and stalled input: each gets a clear error or a documented bound,
//! and the server keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tracekeep_proto::pb;

use tracekeep_e2e::harness::*;

#[tokio::test]
async fn a_100_mb_grpc_request_is_refused_with_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut client = server.grpc().await;
    let mut huge = job("huge", 1);
    huge.sql = "x".repeat(100 << 20);
    let status = client
        .upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events: vec![huge] })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert_eq!(server.get("/events/query?trace_id=huge").status, 404);
    let mut client = server.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("after", 1)]).await.result);
}

#[test]
fn a_100_mb_http_body_is_refused_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let size = 100usize << 20;
    write!(
        stream,
        "POST /events/delete HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {size}\r\n\r\ntrace_id="
    )
    .unwrap();
    // The server may answer and close before the body is through; that is fine.
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(server.get("/status").status, 200);
}

#[tokio::test]
async fn a_batch_of_100_000_events_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut client = server.grpc().await;
    let events: Vec<_> = (0..100_000)
        .map(|n| pb::SyncerBinlogEvent {
            base: Some(pb::BaseEvent {
                trace_id: "big-batch".into(),
                tso: n + 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let reply = upload_binlogs(&mut client, events).await;
    assert!(reply.result, "{}", reply.msg);
    let stored = tsos(&server.get("/events/query?trace_id=big-batch").json());
    assert_eq!(stored.len(), 100_000);
    assert!(stored.windows(2).all(|pair| pair[0] < pair[1]), "arrival order");
}

#[tokio::test]
async fn a_1_mb_trace_id_is_refused_clearly_on_both_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut client = server.grpc().await;
    let long = "t".repeat(1 << 20);
    let reply = upload_jobs(&mut client, vec![job(&long, 1)]).await;
    assert!(!reply.result);
    assert!(reply.msg.contains("over the 65536-byte limit"), "{}", reply.msg);
    // A 1 MB URL is over hyper's request-head limit: refused, not a crash.
    let result = try_http(server.addr, "GET", &format!("/events/query?trace_id={long}"), &[], b"");
    // Either a 4xx, or the connection closed on the oversized head: both are refusals.
    if let Ok(response) = result {
        assert!((400..500).contains(&response.status), "{}", response.status);
    }
    // The limit itself is served: 64 KiB IDs work end to end.
    let max = "m".repeat(64 * 1024);
    assert!(upload_jobs(&mut client, vec![job(&max, 1)]).await.result);
    let response = server.post_form("/events/delete", format!("trace_id={max}").as_bytes());
    assert_eq!(response.json()["result"], true);
    assert_eq!(server.get("/status").status, 200);
}

#[tokio::test]
async fn half_an_http2_preface_is_closed_after_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "handshake-timeout-secs = 1\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.write_all(b"PRI * HTTP/2.0\r\n").unwrap();

    // Everyone else is served meanwhile, on both protocols.
    assert_eq!(server.get("/status").status, 200);
    let mut client = server.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("while-stalled", 1)]).await.result);

    // The stalled connection is closed by the server (EOF), within the bound.
    let started = Instant::now();
    stalled.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 64];
    let read = stalled.read(&mut buf);
    assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(server.get("/status").status, 200);
}

/// Sends `events` as raw event bytes in an `UploadSyncerJobEvent` call.
async fn upload_raw_jobs(server: &Server, events: Vec<Vec<u8>>) -> pb::CommonUploadResponse {
    let mut grpc = server.grpc_raw().await;
    tracekeep_e2e::harness::upload_raw_jobs(&mut grpc, events)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_malformed_event_refuses_its_whole_batch_with_a_reason() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let good = job("kept-out", 1).encode_to_vec();
    let truncated = job("kept-out", 2).encode_to_vec()[..20].to_vec();
    // sql (field 5) holding bytes that are not UTF-8.
    let mut bad_utf8 = job("kept-out", 3).encode_to_vec();
    bad_utf8.extend([0x2A, 0x02, 0xC3, 0x28]);
    for (index, bad) in [(1, truncated), (2, bad_utf8)] {
        let mut batch = vec![good.clone(), good.clone()];
        batch.insert(index, bad);
        let reply = upload_raw_jobs(&server, batch).await;
        assert!(!reply.result);
        assert!(reply.msg.contains(&format!("event {index}")), "{}", reply.msg);
        assert!(reply.msg.contains("does not decode"), "{}", reply.msg);
    }
    // Nothing of those batches was stored, and well-formed raw bytes still are.
    assert_eq!(server.get("/events/query?trace_id=kept-out").status, 404);
    assert!(
        upload_raw_jobs(&server, vec![job("raw", 7).encode_to_vec()])
            .await
            .result
    );
    let events = server.get("/events/query?trace_id=raw").json();
    assert_eq!(tsos(&events), [7]);
}

#[tokio::test]
async fn with_one_upload_place_concurrent_uploads_all_get_through() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "max-concurrent-uploads = 1\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let mut tasks = Vec::new();
    for client in 0..8i64 {
        let mut grpc = server.grpc().await;
        tasks.push(tokio::spawn(async move {
            for batch in 0..5 {
                let events = (0..50)
                    .map(|i| job(&format!("held.{client}"), batch * 50 + i))
                    .collect();
                let reply = upload_jobs(&mut grpc, events).await;
                assert!(reply.result, "{}", reply.msg);
            }
        }));
    }
    // A place that is never given back would leave every later upload waiting.
    let everything = async {
        let mut client = server.grpc().await;
        assert!(tso(&mut client).await > 0, "GetTSO is not held behind uploads");
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), everything)
        .await
        .expect("uploads with one place finished within a minute");
    for client in 0..8 {
        let events = server.get(&format!("/events/query?trace_id=held.{client}")).json();
        assert_eq!(tsos(&events).len(), 250);
    }
}
