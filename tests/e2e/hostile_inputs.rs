//! A bounded, seeded storm of bad input: mutated bodies of every ingest
//! format, bad parameters for every query, stalled and oversized requests.
//! Every answer must be a success or a 4xx that says why (never a 5xx: the
//! disk is not full here), nothing may hang past the configured timeouts,
//! the server must keep serving, the data seeded before the storm must read
//! back byte for byte, and `tracekeep-dump verify` must find nothing wrong.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::json;
use tracekeep_e2e::harness::*;
use tracekeep_e2e::zipkin::*;
use tracekeep_proto::zipkin_proto3 as z;

/// Fixed: a failure names its round, and the same seed replays it.
const SEED: u64 = 0x7261_636b_6b65_6570;
const ROUNDS: usize = 300;
/// The server's body deadline in this test, in seconds.
const BODY_TIMEOUT: u64 = 2;

/// xorshift64*: small, seeded, and enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// One random change to `body`: flipped bits, bytes replaced, inserted or
/// removed, a cut, a slice repeated, or an interesting number spliced in.
fn mutate(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let at = at.min(out.len() - 1);
                out[at] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let at = at.min(out.len() - 1);
                out[at] = rng.byte();
            }
            2 => {
                let byte = rng.byte();
                out.insert(at, byte);
            }
            3 if !out.is_empty() => {
                out.remove(at.min(out.len() - 1));
            }
            4 => out.truncate(at),
            5 => {
                let end = (at + rng.below(16)).min(out.len());
                let slice = out[at..end].to_vec();
                out.splice(at..at, slice);
            }
            _ => {
                const NUMBERS: [&[u8]; 8] = [
                    b"-1",
                    b"9223372036854775807",
                    b"18446744073709551616",
                    b"1e400",
                    b"0.5",
                    b"\xff\xff\xff\xff\x0f",
                    b"null",
                    b"\"\\ud800\"",
                ];
                out.splice(at..at, NUMBERS[rng.below(NUMBERS.len())].iter().copied());
            }
        }
    }
    out
}

/// One HTTP/1.1 request, answered within the body deadline plus slack. A
/// content type ending in `+gzip` is sent as that type, gzip-encoded.
fn exchange(server: &Server, method: &str, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
    let started = Instant::now();
    let headers: &[(&str, &str)] = match content_type.strip_suffix("+gzip") {
        Some(plain) => &[("Content-Type", plain), ("Content-Encoding", "gzip")],
        None => &[("Content-Type", content_type)],
    };
    let response =
        try_http(server.addr, method, path, headers, body).unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    assert!(
        started.elapsed() < Duration::from_secs(BODY_TIMEOUT + 20),
        "{method} {path} took {:?}",
        started.elapsed()
    );
    response
}

/// A success, or a 4xx with a reason: never a 5xx.
fn assert_refused_well(what: &str, response: &HttpResponse) {
    assert!(
        (200..300).contains(&response.status) || (400..500).contains(&response.status),
        "{what}: {} {}",
        response.status,
        response.body
    );
    if response.status >= 400 {
        assert!(
            !response.bytes.is_empty(),
            "{what}: {} without a reason",
            response.status
        );
    }
}

fn otlp_request(fill: u8) -> ExportTraceServiceRequest {
    let text = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "storm")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![fill; 16],
                    span_id: vec![fill; 8],
                    name: "otlp".into(),
                    start_time_unix_nano: 1_764_000_000_000_000_000,
                    end_time_unix_nano: 1_764_000_000_000_100_000,
                    attributes: vec![text("http.method", "GET")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A 64-bit trace ID of `fill` bytes, the last one `last`: the seeded
/// traces and the storm's use fills far apart, so that no mutation of the
/// storm's bodies lands on a seeded trace.
fn trace_id(fill: u8, last: u8) -> u64 {
    u64::from_be_bytes([fill, fill, fill, fill, fill, fill, fill, last])
}

/// A valid body of each HTTP ingest format, its trace IDs made of `fill`:
/// (path, content type, body).
fn valid_bodies(fill: u8) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let v2 = json!([{
        "traceId": format!("{:016x}", trace_id(fill, 1)), "id": "0000000000000001", "name": "v2", "kind": "SERVER",
        "timestamp": 1_764_000_000_000_000u64, "duration": 10,
        "localEndpoint": {"serviceName": "storm", "ipv4": "10.0.0.1", "port": 80},
        "annotations": [{"timestamp": 1_764_000_000_000_001u64, "value": "wr"}],
        "tags": {"k": "v"}
    }]);
    let v1 = json!([{
        "traceId": format!("{:016x}", trace_id(fill, 2)), "id": "0000000000000002", "name": "v1",
        "annotations": [{"timestamp": 1_764_000_000_000_000u64, "value": "sr",
                         "endpoint": {"serviceName": "storm", "ipv4": "10.0.0.1"}}],
        "binaryAnnotations": [{"key": "k", "value": "v"}]
    }]);
    let proto3 = z::ListOfSpans {
        spans: vec![z::Span {
            trace_id: trace_id(fill, 3).to_be_bytes().to_vec(),
            id: 3u64.to_be_bytes().to_vec(),
            name: "proto3".into(),
            timestamp: 1_764_000_000_000_000,
            duration: 10,
            local_endpoint: Some(z::Endpoint {
                service_name: "storm".into(),
                port: 80,
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let thrift = thrift_spans(&[ThriftSpan {
        trace_id: i64::from_be_bytes(trace_id(fill, 4).to_be_bytes()),
        trace_id_high: 0,
        name: "thrift",
        id: 4,
        parent_id: None,
        annotations: Vec::new(),
        timestamp: Some(1_764_000_000_000_000),
        duration: Some(10),
    }]);
    let otlp = otlp_request(fill);
    vec![
        ("/api/v2/spans", "application/json", v2.to_string().into_bytes()),
        ("/api/v1/spans", "application/json", v1.to_string().into_bytes()),
        ("/api/v2/spans", "application/x-protobuf", proto3.encode_to_vec()),
        ("/api/v1/spans", "application/x-thrift", thrift.clone()),
        ("/api/v1/spans", "application/x-thrift+gzip", gzip(&thrift)),
        ("/v1/traces", "application/x-protobuf", otlp.encode_to_vec()),
        ("/v1/traces", "application/json", serde_json::to_vec(&otlp).unwrap()),
    ]
}

/// Query paths with parameters drawn from bad and good values.
fn bad_query(rng: &mut Rng) -> (&'static str, String) {
    const VALUES: [&str; 14] = [
        "",
        "0",
        "-1",
        "abc",
        "%zz",
        "%ff%fe",
        "18446744073709551616",
        "1e3",
        "10",
        "0000000000005e01",
        "x%00y",
        "%E2%82%AC",
        "99999999999999999999999",
        "a,b,,c",
    ];
    const ROUTES: [(&str, &str, &[&str]); 13] = [
        ("GET", "/events/query", &["trace_id"]),
        ("POST", "/events/query", &["trace_id"]),
        ("GET", "/events/scan", &["offset", "limit", "after"]),
        (
            "GET",
            "/api/tracekeep/traces",
            &["order", "limit", "cursor", "prefix", "kind"],
        ),
        ("GET", "/api/v2/trace/", &[]),
        ("GET", "/api/v2/traceMany", &["traceIds"]),
        (
            "GET",
            "/api/v2/traces",
            &[
                "serviceName",
                "spanName",
                "annotationQuery",
                "minDuration",
                "maxDuration",
                "endTs",
                "lookback",
                "limit",
            ],
        ),
        ("GET", "/api/v2/spans", &["serviceName"]),
        ("GET", "/api/v2/remoteServices", &["serviceName"]),
        ("GET", "/api/v2/dependencies", &["endTs", "lookback"]),
        ("GET", "/api/v2/autocompleteValues", &["key"]),
        ("POST", "/events/delete", &["trace_id"]),
        ("GET", "/api/tracekeep/checkpoint", &["name"]),
    ];
    let (method, path, names) = ROUTES[rng.below(ROUTES.len())];
    let mut target = path.to_owned();
    if names.is_empty() {
        target.push_str(VALUES[rng.below(VALUES.len())]);
    }
    for (index, name) in names.iter().enumerate() {
        if rng.below(3) == 0 {
            continue;
        }
        target.push(if index == 0 || !target.contains('?') { '?' } else { '&' });
        target.push_str(name);
        target.push('=');
        target.push_str(VALUES[rng.below(VALUES.len())]);
    }
    (method, target)
}

#[tokio::test]
async fn a_seeded_storm_of_bad_input_is_refused_with_reasons_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, format!("body-read-timeout-secs = {BODY_TIMEOUT}\n")).unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);

    // Seeded data, and how it reads before the storm.
    let mut client = server.grpc().await;
    assert!(
        upload_jobs(&mut client, vec![job("seeded-dm", 1), job("seeded-dm", 2)])
            .await
            .result
    );
    const SEEDED: u8 = 0xaa;
    const STORM: u8 = 0x5e;
    for (path, content_type, body) in valid_bodies(SEEDED) {
        let response = exchange(&server, "POST", path, content_type, &body);
        assert!(
            matches!(response.status, 200 | 202),
            "{path}: {} {}",
            response.status,
            response.body
        );
    }
    let mut reads = vec!["/events/query?trace_id=seeded-dm".to_owned()];
    reads.extend((1..=4).map(|last| format!("/api/v2/trace/{:016x}", trace_id(SEEDED, last))));
    reads.push(format!("/api/v2/trace/{}", "aa".repeat(16)));
    let before: Vec<String> = reads.iter().map(|path| server.get(path).body).collect();

    let mut rng = Rng(SEED);
    let bodies = valid_bodies(STORM);
    let mut grpc = server.grpc_raw().await;
    for round in 0..ROUNDS {
        match rng.below(4) {
            // A mutated body of an HTTP ingest format.
            0 | 1 => {
                let (path, content_type, body) = &bodies[rng.below(bodies.len())];
                let mutated = mutate(&mut rng, body);
                let response = exchange(&server, "POST", path, content_type, &mutated);
                assert_refused_well(&format!("round {round}: {path} {content_type}"), &response);
            }
            // A DM upload whose event is mutated protobuf bytes.
            2 => {
                let event = job(&format!("storm-{round}"), 1).encode_to_vec();
                let mutated = mutate(&mut rng, &event);
                // Sent as they are: a decode and re-encode would mend them.
                match upload_raw_jobs(&mut grpc, vec![mutated]).await {
                    Ok(reply) => {
                        assert!(
                            reply.result || !reply.msg.is_empty(),
                            "round {round}: refused without a reason"
                        );
                    }
                    Err(status) => assert!(
                        !matches!(status.code(), tonic::Code::Internal | tonic::Code::Unknown),
                        "round {round}: {status:?}"
                    ),
                }
            }
            // Bad parameters for a query.
            _ => {
                // No value names a seeded trace, so deletes here miss them.
                let (method, target) = bad_query(&mut rng);
                let response = exchange(&server, method, &target, "application/x-www-form-urlencoded", b"");
                assert_refused_well(&format!("round {round}: {method} {target}"), &response);
            }
        }
    }

    // Stalled and oversized requests, on both protocols' ports.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled
        .write_all(
            b"POST /api/v2/spans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
        )
        .unwrap();
    let started = Instant::now();
    stalled
        .set_read_timeout(Some(Duration::from_secs(BODY_TIMEOUT + 20)))
        .unwrap();
    let mut reply = Vec::new();
    let _ = stalled.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(BODY_TIMEOUT + 20));
    let oversized = try_http(
        server.addr,
        "POST",
        "/events/scan",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &vec![b'a'; 2 << 20],
    );
    if let Ok(response) = oversized {
        assert_eq!(response.status, 413, "{}", response.body);
    }

    // Still serving, the seeded data unchanged.
    assert_eq!(server.get("/status").status, 200);
    let after: Vec<String> = reads.iter().map(|path| server.get(path).body).collect();
    for ((path, before), after) in reads.iter().zip(&before).zip(&after) {
        assert_eq!(before, after, "{path} changed");
    }
    // Off this thread, so the gRPC clients' connection tasks still run and
    // answer the stop; else it waits its whole timeout for them.
    let (status, lines) = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success(), "{status:?}\n{}", lines.join("\n"));
    let verify = dump(&["verify", data.to_str().unwrap()]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}
