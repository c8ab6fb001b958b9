//! Zipkin's own contract for numbers, ports and endpoints, as Zipkin's
//! readers and `Span.Builder` have it: a span Zipkin would keep is kept, and
//! reads back as sent.

use prost::Message as _;
use serde_json::{Value, json};
use tracekeep_e2e::harness::*;
use tracekeep_proto::zipkin_proto3 as z;

fn post_json(server: &Server, path: &str, body: &str) -> HttpResponse {
    http(
        server.addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn span_of(server: &Server, trace_id: &str) -> Value {
    let response = server.get(&format!("/api/v2/trace/{trace_id}"));
    assert_eq!(response.status, 200, "{}", response.body);
    let spans = response.json();
    assert_eq!(spans.as_array().unwrap().len(), 1, "{spans}");
    spans[0].clone()
}

// Fails with the old u64 fields (400 "invalid value: integer -1, expected
// u64", the whole batch lost) and the old range check (400 "timestamp
// 9223372036854775807 is out of range").
#[test]
fn v2_json_times_anywhere_in_int64_and_fractions_are_kept_as_zipkin_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let local = json!({"serviceName": "svc"});
    // Raw text, not json!: serde_json would print the fraction differently.
    let body = format!(
        r#"[
        {{"traceId": "0000000000000a01", "id": "0000000000000001", "name": "negative",
          "timestamp": -5, "duration": -7, "localEndpoint": {local},
          "annotations": [{{"timestamp": -1, "value": "before the epoch"}}]}},
        {{"traceId": "0000000000000a02", "id": "0000000000000002", "name": "max",
          "timestamp": 9223372036854775807, "duration": 9223372036854775807, "localEndpoint": {local},
          "annotations": [{{"timestamp": 9223372036854775807, "value": "at the end"}},
                          {{"timestamp": -9223372036854775808, "value": "at the start"}}]}},
        {{"traceId": "0000000000000a03", "id": "0000000000000003", "name": "fraction",
          "timestamp": 1733500000123456.789, "duration": 12.5, "localEndpoint": {local},
          "annotations": [{{"timestamp": 1733500000123457.789, "value": "sub-microsecond"}}]}},
        {{"traceId": "0000000000000a04", "id": "0000000000000004", "name": "ordinary",
          "timestamp": 1733500000000000, "duration": 10, "localEndpoint": {local}}}
    ]"#
    );
    let response = post_json(&server, "/api/v2/spans", &body);
    assert_eq!(response.status, 202, "{}", response.body);

    let negative = span_of(&server, "0000000000000a01");
    assert_eq!(negative.get("timestamp"), None, "{negative}");
    assert_eq!(negative.get("duration"), None, "{negative}");
    assert_eq!(negative["annotations"][0]["timestamp"], -1, "{negative}");

    let max = span_of(&server, "0000000000000a02");
    assert_eq!(max["timestamp"], i64::MAX, "{max}");
    assert_eq!(max["duration"], i64::MAX, "{max}");
    assert_eq!(max["annotations"][0]["timestamp"], i64::MIN, "{max}");
    assert_eq!(max["annotations"][1]["timestamp"], i64::MAX, "{max}");

    let fraction = span_of(&server, "0000000000000a03");
    assert_eq!(fraction["timestamp"], 1_733_500_000_123_456i64, "{fraction}");
    assert_eq!(fraction["duration"], 12, "{fraction}");
    assert_eq!(
        fraction["annotations"][0]["timestamp"], 1_733_500_000_123_457i64,
        "{fraction}"
    );

    assert_eq!(
        span_of(&server, "0000000000000a04")["timestamp"],
        1_733_500_000_000_000i64
    );

    // Past int64 Zipkin refuses too: a 400 that says why, nothing stored.
    let past = r#"[{"traceId": "0000000000000a05", "id": "0000000000000005", "timestamp": 9223372036854775808}]"#;
    let response = post_json(&server, "/api/v2/spans", past);
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.body.contains("past int64"), "{}", response.body);
    assert_eq!(server.get("/api/v2/trace/0000000000000a05").status, 404);

    // v1 JSON reads its numbers the same way.
    let v1 = r#"[{"traceId": "0000000000000a06", "id": "0000000000000006", "name": "v1",
        "timestamp": 1733500000000000.5, "duration": -3,
        "annotations": [{"timestamp": -2, "value": "early", "endpoint": {"serviceName": "svc"}}]}]"#;
    let response = post_json(&server, "/api/v1/spans", v1);
    assert_eq!(response.status, 202, "{}", response.body);
    let span = span_of(&server, "0000000000000a06");
    assert_eq!(span["timestamp"], 1_733_500_000_000_000i64, "{span}");
    assert_eq!(span.get("duration"), None, "{span}");
    assert_eq!(span["annotations"][0]["timestamp"], -2, "{span}");
}

// Fails with the old proto3 mapping (u64::MAX is past the store's range: 400).
#[test]
fn proto3_times_are_read_as_zipkin_reads_64_bits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let list = z::ListOfSpans {
        spans: vec![z::Span {
            trace_id: 0x0b01u64.to_be_bytes().to_vec(),
            id: 1u64.to_be_bytes().to_vec(),
            name: "bits".into(),
            timestamp: u64::MAX,
            duration: u64::MAX,
            local_endpoint: Some(z::Endpoint {
                service_name: "svc".into(),
                port: -80,
                ..Default::default()
            }),
            annotations: vec![z::Annotation {
                timestamp: u64::MAX,
                value: "minus one".into(),
            }],
            ..Default::default()
        }],
    };
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/x-protobuf")],
        &list.encode_to_vec(),
    );
    assert_eq!(response.status, 202, "{}", response.body);
    let span = span_of(&server, "0000000000000b01");
    assert_eq!(span.get("timestamp"), None, "{span}");
    assert_eq!(span.get("duration"), None, "{span}");
    assert_eq!(span["annotations"][0]["timestamp"], -1, "{span}");
    assert_eq!(span["localEndpoint"], json!({"serviceName": "svc"}), "{span}");
}

// Fails with the old endpoint mapping: port 70000 accepted, -1 echoed back.
#[test]
fn ports_past_65535_are_refused_and_negative_ones_mean_absent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let span = |trace: &str, port: i64| {
        json!([{"traceId": trace, "id": "0000000000000001",
                "localEndpoint": {"serviceName": "svc", "port": port}}])
        .to_string()
    };
    let response = post_json(&server, "/api/v2/spans", &span("0000000000000c01", 70_000));
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.body.contains("localEndpoint.port 70000"), "{}", response.body);
    assert_eq!(server.get("/api/v2/trace/0000000000000c01").status, 404);

    let response = post_json(&server, "/api/v2/spans", &span("0000000000000c02", -1));
    assert_eq!(response.status, 202, "{}", response.body);
    assert_eq!(
        span_of(&server, "0000000000000c02")["localEndpoint"],
        json!({"serviceName": "svc"})
    );

    let response = post_json(&server, "/api/v2/spans", &span("0000000000000c03", 65_535));
    assert_eq!(response.status, 202, "{}", response.body);
    assert_eq!(span_of(&server, "0000000000000c03")["localEndpoint"]["port"], 65_535);
}

// Fails with the old read path (`"localEndpoint": {"serviceName": "unknown"}`
// added, and "unknown" listed and searchable as a service) and the old
// `serviceName` check (400 for an empty one).
#[test]
fn a_span_sent_without_a_local_endpoint_reads_back_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let body = json!([
        {"traceId": "0000000000000d01", "id": "0000000000000001", "name": "orphan",
         "timestamp": 1_733_500_000_000_000u64, "duration": 5, "tags": {"k": "v"}},
        {"traceId": "0000000000000d02", "id": "0000000000000002", "name": "owned",
         "timestamp": 1_733_500_000_000_000u64, "duration": 5, "localEndpoint": {"serviceName": "svc"}}
    ]);
    let response = post_json(&server, "/api/v2/spans", &body.to_string());
    assert_eq!(response.status, 202, "{}", response.body);
    let orphan = span_of(&server, "0000000000000d01");
    assert_eq!(orphan.get("localEndpoint"), None, "{orphan}");
    assert_eq!(orphan["name"], "orphan");

    assert_eq!(server.get("/api/v2/services").json(), json!(["svc"]));
    for path in ["/api/v2/spans?serviceName=", "/api/v2/remoteServices?serviceName="] {
        let response = server.get(path);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        assert_eq!(response.json(), json!([]), "{path}");
    }
    assert_eq!(server.get("/api/v2/spans?serviceName=svc").json(), json!(["owned"]));
    assert_eq!(server.get("/api/v2/spans").status, 400, "serviceName is still required");

    // Found by its tags and time, not under a service, as in Zipkin.
    let window = "endTs=1733500001000&lookback=10000&limit=10";
    let found = server
        .get(&format!("/api/v2/traces?annotationQuery=k%3Dv&{window}"))
        .json();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let by_unknown = server
        .get(&format!("/api/v2/traces?serviceName=unknown&{window}"))
        .json();
    assert_eq!(by_unknown, json!([]), "{by_unknown}");
}
