//! What a hostile or careless client meets: stalled and over-long bodies are
//! answered within their bounds and free their connections, a unary gRPC call
//! carrying two messages stores nothing, checkpoints taken at once do not
//! fail each other, and internal span fields are not taken from the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tracekeep_e2e::harness::*;

use crate::store_options;
use tracekeep_proto::pb;

/// A server whose bodies must arrive within one second, with few connections.
fn strict_server(dir: &tempfile::TempDir, extra: &str) -> Server {
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, format!("body-read-timeout-secs = 1\n{extra}")).unwrap();
    Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()])
}

/// Sends a request head declaring `length` body bytes and `sent` of them,
/// then stalls; returns the stream. The content type is the path's own.
fn stall(server: &Server, path: &str, length: u64, sent: &[u8]) -> TcpStream {
    let content_type = match path {
        "/api/v2/spans" | "/api/v1/spans" | "/v1/traces" => "application/json",
        _ => "application/x-www-form-urlencoded",
    };
    let mut stream = TcpStream::connect(server.addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n\
         Content-Length: {length}\r\n\r\n"
    )
    .unwrap();
    stream.write_all(sent).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn answer(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

// Fails without the body guard's deadline (no 408: the connection hangs
// until the read timeout, and `/status` waits behind the two stalled ones).
#[test]
fn a_stalled_body_is_answered_408_and_frees_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = strict_server(&dir, "max-connections = 2\n");
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = ["/events/query", "/api/v2/spans"]
        .iter()
        .map(|path| stall(&server, path, 1000, b"trace_id=ab"))
        .collect();
    for stream in &mut stalled {
        let reply = answer(stream);
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        assert!(reply.contains("body-read-timeout-secs"), "{reply}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    drop(stalled);
    // Both places are free again.
    assert_eq!(server.get("/status").status, 200);
}

// Fails without the guard's deadline: the call waits for ever (here, until
// the test's own 30 s bound).
#[tokio::test]
async fn a_unary_grpc_call_with_a_stalled_body_gets_deadline_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let server = strict_server(&dir, "");
    let stream = tonic::codegen::tokio_stream::pending::<pb::UploadSyncerJobEventRequest>();
    let call = client_streaming(&server, "/pb.Tracer/UploadSyncerJobEvent", stream);
    let status = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the stalled call was never answered")
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    let mut client = server.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("after-stall", 1)]).await.result);
}

/// Calls `path` as a client-streaming method with `messages`: how a client
/// puts more than one message (or none) into a unary call's body.
async fn client_streaming<S>(
    server: &Server,
    path: &'static str,
    messages: S,
) -> Result<pb::CommonUploadResponse, tonic::Status>
where
    S: tonic::codegen::tokio_stream::Stream<Item = pb::UploadSyncerJobEventRequest> + Send + 'static,
{
    let mut grpc = server.grpc_raw().await;
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<pb::UploadSyncerJobEventRequest, pb::CommonUploadResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.client_streaming(tonic::Request::new(messages), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

// Fails without the guard's message count: `result = true`, the first trace
// stored and the second dropped.
#[tokio::test]
async fn a_unary_grpc_call_carrying_two_messages_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let two = vec![
        pb::UploadSyncerJobEventRequest {
            events: vec![job("first-message", 1)],
        },
        pb::UploadSyncerJobEventRequest {
            events: vec![job("second-message", 2)],
        },
    ];
    let status = client_streaming(
        &server,
        "/pb.Tracer/UploadSyncerJobEvent",
        tonic::codegen::tokio_stream::iter(two),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("exactly one message"), "{status:?}");
    for trace in ["first-message", "second-message"] {
        assert_eq!(server.get(&format!("/events/query?trace_id={trace}")).status, 404);
    }
    // One message is still a unary call.
    let one = vec![pb::UploadSyncerJobEventRequest {
        events: vec![job("one-message", 1)],
    }];
    let reply = client_streaming(
        &server,
        "/pb.Tracer/UploadSyncerJobEvent",
        tonic::codegen::tokio_stream::iter(one),
    )
    .await
    .unwrap();
    assert!(reply.result, "{}", reply.msg);
    assert_eq!(server.get("/events/query?trace_id=one-message").status, 200);
}

// Fails without the declared-length check: the form routes wait for a
// terabyte that never comes.
#[test]
fn a_huge_declared_length_is_refused_413_before_reading_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    for path in [
        "/events/query",
        "/events/scan",
        "/events/delete",
        "/events/truncate",
        "/api/tracekeep/checkpoint",
        "/api/v2/spans",
        "/api/v1/spans",
        "/v1/traces",
        "/api/v2/traceMany",
    ] {
        let mut stream = stall(&server, path, 1_000_000_000_000, b"trace_id=x");
        let reply = answer(&mut stream);
        assert!(reply.starts_with("HTTP/1.1 413"), "{path}: {reply}");
        assert!(reply.contains("larger than"), "{path}: {reply}");
    }
    assert_eq!(server.get("/status").status, 200);
}

// Fails without the checkpoint lock: every request but one answers 500
// (`...checkpoint-<ts>.tmp: File exists`), or all of them do.
#[test]
fn checkpoints_asked_for_at_once_are_written_one_at_a_time() {
    if tracekeep_e2e::harness::rocksdb_only("checkpoints are RocksDB directories") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    server.post_form("/events/query", b"trace_id=warm-up");
    let addr = server.addr;
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(move || http(addr, "POST", "/api/tracekeep/checkpoint?name=same", &[], b"").status))
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    assert_eq!(
        answers.iter().filter(|status| **status == 200).count(),
        1,
        "{answers:?}"
    );
    assert!(answers.iter().all(|status| matches!(status, 200 | 409)), "{answers:?}");
    // Default names: each is written or refused with a reason, never a 500.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(move || http(addr, "POST", "/api/tracekeep/checkpoint", &[], b"").status))
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    assert!(answers.contains(&200), "{answers:?}");
    assert!(answers.iter().all(|status| matches!(status, 200 | 409)), "{answers:?}");
}

// Fails without the refusal in `UploadSpans`: the span is acknowledged, and
// verify then exits 1 and export stops at it.
#[tokio::test]
async fn upload_spans_refuses_the_internal_otlp_fields_and_export_skips_damage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let mut client = server.grpc().await;
    let span = |trace: &str| pb::Span {
        base: base(trace, 1_700_000_000_000_000_000),
        span_id: "00000000000000a1".into(),
        operation: "op".into(),
        ..Default::default()
    };
    let forged = pb::Span {
        otlp: b"\x0a\x02\x08\x01".to_vec(),
        otlp_from_tags: vec![1, 0],
        ..span("0000000000000f01")
    };
    let reply = client
        .upload_spans(pb::UploadSpansRequest {
            spans: vec![span("0000000000000f02"), forged],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.result);
    assert!(reply.msg.contains("span 1: otlp and otlpFromTags"), "{}", reply.msg);
    for trace in ["0000000000000f01", "0000000000000f02"] {
        assert_eq!(server.get(&format!("/events/query?trace_id={trace}")).status, 404);
    }
    let reply = client
        .upload_spans(pb::UploadSpansRequest {
            spans: vec![span("0000000000000f03")],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.result, "{}", reply.msg);
    drop(server);
    let verify = dump(&["verify", data.to_str().unwrap()]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

/// An encoded `pb.Span` whose `otlp` field holds bytes that are no OTLP
/// `ResourceSpans`: what a forged upload stored before `UploadSpans` refused them.
fn damaged_otlp_span(trace: &str) -> tracekeep_proto::TraceEvent {
    tracekeep_proto::TraceEvent::Span(pb::Span {
        base: base(trace, 1_700_000_000_000_000_000),
        span_id: "00000000000000b1".into(),
        operation: "damaged".into(),
        otlp: vec![0xff, 0xff, 0xff],
        ..Default::default()
    })
}

#[test]
fn export_as_otlp_leaves_out_a_damaged_span_reports_it_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = tracekeep_store::Store::open(&data, store_options(&data, tracekeep_store::StoreOptions::default()))
            .unwrap();
        let good = |trace: &str| {
            tracekeep_proto::TraceEvent::Span(pb::Span {
                base: base(trace, 1_700_000_000_000_000_000),
                span_id: "00000000000000c1".into(),
                operation: "good".into(),
                ..Default::default()
            })
        };
        store
            .append(vec![
                good("0000000000000e01"),
                damaged_otlp_span("0000000000000e02"),
                good("0000000000000e03"),
            ])
            .unwrap();
    }
    let output = dump(&["export", "--format", "otlp", data.to_str().unwrap()]);
    let (stdout, stderr) = (&output.stdout, &output.stderr);
    assert_eq!(output.code, 1, "{stderr}");
    assert!(stderr.contains("trace 0000000000000e02"), "{stderr}");
    // The traces on both sides of the damaged one are exported.
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let line =
        |index: usize| -> serde_json::Value { serde_json::from_str(stdout.lines().nth(index).unwrap()).unwrap() };
    for (index, suffix) in [(0, "e01"), (1, "e03")] {
        let trace_id = line(index)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(trace_id.ends_with(suffix), "{trace_id}");
    }
}
