//! Zipkin ingest (v1 Thrift and JSON, v2 JSON and proto3, gzip) and the v2
//! trace queries, against the real server.

use prost::Message as _;
use serde_json::{Value, json};
use tracekeep_e2e::harness::*;
use tracekeep_e2e::zipkin::*;
use tracekeep_proto::pb;
use tracekeep_proto::zipkin_proto3 as z;

const TRACE: &str = "463ac35c9f6413ad48485a3953bb6124";

fn post(server: &Server, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
    http(server.addr, "POST", path, &[("Content-Type", content_type)], body)
}

fn trace(server: &Server, trace_id: &str) -> Vec<Value> {
    let response = server.get(&format!("/api/v2/trace/{trace_id}"));
    assert_eq!(response.status, 200, "{}", response.body);
    response.json().as_array().unwrap().clone()
}

#[test]
fn v2_json_proto3_and_gzip_spans_are_stored_and_merged_as_zipkin_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);

    // The client half of an RPC, as JSON.
    let client = json!([{
        "traceId": TRACE.to_uppercase(), "parentId": "0000000000000001", "id": "a2fb4a1d1a96d312",
        "kind": "CLIENT", "name": "GET /api", "timestamp": 1_700_000_000_000_000u64, "duration": 2000,
        "localEndpoint": {"serviceName": "Frontend", "ipv4": "10.0.0.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "backend"},
        "annotations": [{"timestamp": 1_700_000_000_000_100u64, "value": "ws"}],
        "tags": {"http.method": "GET", "http.path": "/api"}
    }]);
    let response = post(
        &server,
        "/api/v2/spans",
        "application/json",
        client.to_string().as_bytes(),
    );
    assert_eq!(response.status, 202, "{}", response.body);

    // The server half, same span ID, as proto3.
    let server_half = z::ListOfSpans {
        spans: vec![z::Span {
            trace_id: (0..16)
                .map(|i| u8::from_str_radix(&TRACE[i * 2..i * 2 + 2], 16).unwrap())
                .collect(),
            id: 0xa2fb_4a1d_1a96_d312u64.to_be_bytes().to_vec(),
            kind: z::span::Kind::Server as i32,
            name: "get /api".into(),
            timestamp: 1_700_000_000_000_500,
            duration: 1000,
            local_endpoint: Some(z::Endpoint {
                service_name: "backend".into(),
                ipv4: vec![10, 0, 0, 2],
                ..Default::default()
            }),
            tags: [("error".to_owned(), "timeout".to_owned())].into(),
            ..Default::default()
        }],
    };
    let response = post(
        &server,
        "/api/v2/spans",
        "application/x-protobuf",
        &server_half.encode_to_vec(),
    );
    assert_eq!(response.status, 202, "{}", response.body);

    // A late annotation for the client half, gzipped.
    let late = json!([{
        "traceId": TRACE, "id": "a2fb4a1d1a96d312", "kind": "CLIENT",
        "localEndpoint": {"serviceName": "frontend"},
        "annotations": [{"timestamp": 1_700_000_000_001_900u64, "value": "wr"}]
    }]);
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        &gzip(late.to_string().as_bytes()),
    );
    assert_eq!(response.status, 202, "{}", response.body);

    let spans = trace(&server, TRACE);
    assert_eq!(spans.len(), 2, "{spans:?}");
    let client = &spans[0];
    assert_eq!(client["traceId"], TRACE);
    assert_eq!(client["kind"], "CLIENT");
    assert_eq!(client["name"], "get /api");
    assert_eq!(client["parentId"], "0000000000000001");
    assert_eq!(client["timestamp"], 1_700_000_000_000_000u64);
    assert_eq!(client["duration"], 2000);
    assert_eq!(
        client["localEndpoint"],
        json!({"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080})
    );
    assert_eq!(client["remoteEndpoint"]["serviceName"], "backend");
    let annotations: Vec<&str> = client["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert_eq!(annotations, ["ws", "wr"]);
    assert_eq!(client["tags"]["http.path"], "/api");
    let server_span = &spans[1];
    assert_eq!(server_span["kind"], "SERVER");
    assert_eq!(server_span["shared"], true);
    // Filled from the client half, as Zipkin does for a shared server span.
    assert_eq!(server_span["parentId"], "0000000000000001");
    assert_eq!(server_span["localEndpoint"]["ipv4"], "10.0.0.2");
    assert_eq!(server_span["tags"]["error"], "timeout");

    // The same spans through DM's API: span events under the hex trace ID.
    let events = server.get(&format!("/events/query?trace_id={TRACE}")).json();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|event| event["type"] == 3));
    assert_eq!(events[0]["event"]["localEndpoint"]["serviceName"], "Frontend");

    let many = server
        .get(&format!("/api/v2/traceMany?traceIds={TRACE},00000000000000ff"))
        .json();
    assert_eq!(many.as_array().unwrap().len(), 1);
    assert_eq!(many[0].as_array().unwrap().len(), 2);
    assert_eq!(server.get("/api/v2/trace/00000000000000ff").status, 404);
    assert_eq!(server.get("/api/v2/trace/not-hex").status, 400);
    assert_eq!(server.get("/api/v2/traceMany?traceIds=").status, 400);
    let health = server.get("/health");
    assert_eq!((health.status, health.json()["status"].clone()), (200, json!("UP")));
}

fn kwbase() -> Option<ThriftEndpoint<'static>> {
    Some(ThriftEndpoint {
        ipv4: 0,
        port: 0,
        service_name: "kwbase",
    })
}

#[test]
fn kaiwudb_thrift_and_v1_json_spans_convert_as_zipkin_converts_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);

    // What KaiwuDB's zipkin-go-opentracing v0.3.5 sends: local spans with an
    // "lc" binary annotation, tags as strings and logs as annotations.
    let body = thrift_spans(&[
        ThriftSpan {
            trace_id: 0x1234,
            trace_id_high: 0,
            name: "exec stmt",
            id: 0x11,
            parent_id: None,
            annotations: vec![
                ThriftAnnotation::Tag {
                    key: "lc",
                    value: "",
                    host: kwbase(),
                },
                ThriftAnnotation::Tag {
                    key: "statement",
                    value: "SELECT 1",
                    host: kwbase(),
                },
                ThriftAnnotation::Annotation {
                    timestamp: 1_700_000_000_000_050,
                    value: "event:planning done",
                    host: kwbase(),
                },
            ],
            timestamp: Some(1_700_000_000_000_000),
            duration: Some(300),
        },
        ThriftSpan {
            trace_id: 0x1234,
            trace_id_high: 0,
            name: "kv batch",
            id: 0x12,
            parent_id: Some(0x11),
            annotations: vec![ThriftAnnotation::Tag {
                key: "lc",
                value: "",
                host: kwbase(),
            }],
            timestamp: Some(1_700_000_000_000_100),
            duration: Some(50),
        },
    ]);
    let response = post(&server, "/api/v1/spans", "application/x-thrift", &body);
    assert_eq!(response.status, 202, "{}", response.body);
    // The empty list KaiwuDB sends on shutdown.
    let response = post(&server, "/api/v1/spans", "application/x-thrift", &[12, 0, 0, 0, 0]);
    assert_eq!(response.status, 202, "{}", response.body);

    let spans = trace(&server, "0000000000001234");
    assert_eq!(spans.len(), 2);
    let root = &spans[0];
    assert_eq!(root["id"], "0000000000000011");
    assert_eq!(root["name"], "exec stmt");
    assert_eq!(root["localEndpoint"], json!({"serviceName": "kwbase"}));
    assert_eq!(
        (root["timestamp"].as_u64(), root["duration"].as_u64()),
        (Some(1_700_000_000_000_000), Some(300))
    );
    assert_eq!(root["tags"], json!({"statement": "SELECT 1"}));
    assert_eq!(root["annotations"][0]["value"], "event:planning done");
    assert_eq!(spans[1]["parentId"], "0000000000000011");

    // v1 JSON: a client span with cs/cr and a server address.
    let v1 = json!([{
        "traceId": "00000000000000aa", "id": "00000000000000bb", "name": "query",
        "annotations": [
            {"timestamp": 100, "value": "cs", "endpoint": {"serviceName": "app", "ipv4": "10.0.0.9"}},
            {"timestamp": 180, "value": "cr", "endpoint": {"serviceName": "app", "ipv4": "10.0.0.9"}}
        ],
        "binaryAnnotations": [
            {"key": "sa", "value": true, "endpoint": {"serviceName": "mysql", "port": 3306}},
            {"key": "sql.rows", "value": 3, "endpoint": {"serviceName": "app"}}
        ]
    }]);
    let response = post(&server, "/api/v1/spans", "application/json", v1.to_string().as_bytes());
    assert_eq!(response.status, 202, "{}", response.body);
    let spans = trace(&server, "00000000000000aa");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["kind"], "CLIENT");
    assert_eq!(
        (spans[0]["timestamp"].as_u64(), spans[0]["duration"].as_u64()),
        (Some(100), Some(80))
    );
    assert_eq!(
        spans[0]["remoteEndpoint"],
        json!({"serviceName": "mysql", "port": 3306})
    );
    assert_eq!(spans[0]["tags"]["sql.rows"], "3");
}

#[test]
fn bad_zipkin_bodies_are_refused_whole_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracekeep.toml");
    std::fs::write(&config, "max-request-size = 4096\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    let good = r#"{"traceId":"00000000000000c1","id":"0000000000000001","name":"ok"}"#;
    let thrift = thrift_spans(&[ThriftSpan {
        trace_id: 0xc1,
        trace_id_high: 0,
        name: "x",
        id: 2,
        parent_id: None,
        annotations: vec![],
        timestamp: None,
        duration: None,
    }]);
    let proto = z::ListOfSpans {
        spans: vec![z::Span {
            trace_id: vec![0, 0, 0, 0, 0, 0, 0, 0xc1],
            id: vec![0, 0, 0, 0, 0, 0, 0, 3],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "/api/v2/spans",
            "application/json",
            format!("[{good},").into_bytes(),
            "bad JSON",
        ),
        (
            "/api/v2/spans",
            "application/json",
            format!(r#"[{good},{{"traceId":"zz","id":"1"}}]"#).into_bytes(),
            "span 1: traceId \"zz\" is not hex",
        ),
        (
            "/api/v2/spans",
            "application/json",
            format!(r#"[{good},{{"traceId":"c1"}}]"#).into_bytes(),
            "span 1: id is missing",
        ),
        (
            "/api/v2/spans",
            "application/x-protobuf",
            proto[..proto.len() - 2].to_vec(),
            "bad protobuf",
        ),
        (
            "/api/v1/spans",
            "application/x-thrift",
            thrift[..thrift.len() - 3].to_vec(),
            "span 0: bad Thrift: truncated",
        ),
        (
            "/api/v2/spans",
            "text/plain",
            good.as_bytes().to_vec(),
            "unsupported content type",
        ),
        (
            "/api/v1/spans",
            "application/x-protobuf",
            proto.clone(),
            "unsupported content type",
        ),
    ];
    for (path, content_type, body, reason) in cases {
        let response = post(&server, path, content_type, &body);
        assert_eq!(response.status, 400, "{path} {content_type}: {}", response.body);
        assert!(response.body.contains(reason), "{:?} lacks {reason:?}", response.body);
        assert!(
            !response.body.trim_end().contains('\n'),
            "one line: {:?}",
            response.body
        );
    }
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        b"not gzip",
    );
    assert_eq!(response.status, 400, "{}", response.body);
    // Nothing of the refused requests was stored.
    assert_eq!(server.get("/api/v2/trace/00000000000000c1").status, 404);

    // Over max-request-size, plainly or once gunzipped.
    let big = format!("[{}]", vec![good; 100].join(","));
    assert_eq!(
        post(&server, "/api/v2/spans", "application/json", big.as_bytes()).status,
        413
    );
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        &gzip(big.as_bytes()),
    );
    assert_eq!(response.status, 413, "{}", response.body);

    let response = post(
        &server,
        "/api/v2/spans",
        "application/json",
        format!("[{good}]").as_bytes(),
    );
    assert_eq!(response.status, 202, "{}", response.body);
    assert_eq!(trace(&server, "00000000000000c1").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_from_upload_spans_show_in_the_zipkin_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let span = |id: &str, parent: &str, tags: &[(&str, &str)]| pb::Span {
        base: Some(pb::BaseEvent {
            trace_id: "00000000000000d1".into(),
            tso: 1_700_000_000_000_000_000,
            r#type: pb::TraceType::SpanEvent as i32,
            ..Default::default()
        }),
        span_id: id.into(),
        parent_span_id: parent.into(),
        operation: "Txn".into(),
        duration: 1_500,
        tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        logs: vec![pb::SpanLog {
            time: 1_700_000_000_000_001_000,
            fields: vec![pb::SpanLogField {
                key: "event".into(),
                value: "commit".into(),
            }],
        }],
        ..Default::default()
    };
    let reply = server
        .grpc()
        .await
        .upload_spans(pb::UploadSpansRequest {
            spans: vec![
                span("00000000000000e1", "", &[("service.name", "kwbase")]),
                span("00000000000000e2", "00000000000000e1", &[]),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.result, "{}", reply.msg);
    let spans = tokio::task::spawn_blocking(move || trace(&server, "00000000000000d1"))
        .await
        .unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["localEndpoint"]["serviceName"], "kwbase");
    assert_eq!(spans[1]["localEndpoint"]["serviceName"], "unknown");
    assert_eq!(spans[1]["parentId"], "00000000000000e1");
    assert_eq!(spans[0]["name"], "txn");
    assert_eq!(
        (spans[0]["timestamp"].as_u64(), spans[0]["duration"].as_u64()),
        (Some(1_700_000_000_000_000), Some(2))
    );
    assert_eq!(
        spans[0]["annotations"][0],
        json!({"timestamp": 1_700_000_000_000_001u64, "value": "event=commit"})
    );
}

#[test]
fn the_zipkin_listener_serves_zipkins_api_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--zipkin-addr", "127.0.0.1:0"]);
    let addr = loop {
        let found = server.log_lines().iter().find_map(|line| {
            let rest = &line[line.find("Zipkin API alone on ")? + "Zipkin API alone on ".len()..];
            rest.split([' ', '"']).next()?.parse::<std::net::SocketAddr>().ok()
        });
        if let Some(addr) = found {
            break addr;
        }
        server.pace();
    };
    let body = r#"[{"traceId":"00000000000000f1","id":"0000000000000001","name":"on 9411"}]"#;
    let response = http(
        addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 202, "{}", response.body);
    assert_eq!(
        http(addr, "GET", "/api/v2/trace/00000000000000f1", &[], b"").status,
        200
    );
    // DM's API stays on the main port only.
    assert_eq!(
        http(addr, "GET", "/events/query?trace_id=00000000000000f1", &[], b"").status,
        404
    );
    assert_eq!(trace(&server, "00000000000000f1")[0]["name"], "on 9411");
}
