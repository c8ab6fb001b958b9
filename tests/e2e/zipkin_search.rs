//! Zipkin's v2 search API against the real server: service, span and remote
//! service lists, `/api/v2/traces` with every parameter, dependencies,
//! autocomplete, deletes, and each bad parameter.

use serde_json::{Value, json};
use tracekeep_e2e::harness::*;

/// 2023-11-14T22:13:20Z in epoch microseconds: the fixture's first trace.
const BASE: u64 = 1_700_000_000_000_000;
// A 128-bit ID (its upper half not zero: Zipkin would shorten that to 64 bits).
const T1: &str = "10000000000000000000000000000001";
const T2: &str = "0000000000000002";
const T3: &str = "0000000000000003";

fn endpoint(service: &str) -> Value {
    json!({ "serviceName": service, "ipv4": "10.0.0.1" })
}

/// Three traces a second apart: an RPC from frontend to orders (the server
/// half fails), a POST with a retry, and a lone failing cache span.
fn fixture() -> Value {
    json!([
        {"traceId": T1, "id": "0000000000000001", "kind": "SERVER", "name": "GET /orders",
         "timestamp": BASE, "duration": 5000, "localEndpoint": endpoint("Frontend"),
         "tags": {"http.method": "GET"}},
        {"traceId": T1, "parentId": "0000000000000001", "id": "0000000000000002", "kind": "CLIENT",
         "name": "call orders", "timestamp": BASE + 100, "duration": 3000,
         "localEndpoint": endpoint("frontend"), "remoteEndpoint": endpoint("orders")},
        {"traceId": T1, "parentId": "0000000000000001", "id": "0000000000000002", "kind": "SERVER",
         "name": "get /orders", "timestamp": BASE + 200, "duration": 2500, "shared": true,
         "localEndpoint": endpoint("orders"), "tags": {"error": "boom"}},
        {"traceId": T2, "id": "0000000000000004", "kind": "SERVER", "name": "POST /orders",
         "timestamp": BASE + 1_000_000, "duration": 200, "localEndpoint": endpoint("frontend"),
         "tags": {"http.method": "POST"},
         "annotations": [{"timestamp": BASE + 1_000_050, "value": "retried"}]},
        {"traceId": T3, "id": "0000000000000005", "name": "get",
         "timestamp": BASE + 2_000_000, "duration": 50, "localEndpoint": endpoint("cache"),
         "tags": {"error": ""}}
    ])
}

fn start(dir: &tempfile::TempDir) -> Server {
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--autocomplete-keys", "http.method,missing"]);
    let body = fixture().to_string();
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 202, "{}", response.body);
    server
}

fn ok_json(server: &Server, path: &str) -> Value {
    let response = server.get(path);
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    response.json()
}

/// The trace IDs `/api/v2/traces` answers, with the window around the fixture.
fn found(server: &Server, query: &str) -> Vec<String> {
    let end_ts = BASE / 1000 + 10_000;
    let traces = ok_json(server, &format!("/api/v2/traces?endTs={end_ts}&lookback=60000&{query}"));
    traces
        .as_array()
        .unwrap()
        .iter()
        .map(|trace| trace[0]["traceId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn services_spans_and_remote_services_are_listed_lowercase() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    assert_eq!(
        ok_json(&server, "/api/v2/services"),
        json!(["cache", "frontend", "orders"])
    );
    assert_eq!(
        ok_json(&server, "/api/v2/spans?serviceName=Frontend"),
        json!(["call orders", "get /orders", "post /orders"])
    );
    assert_eq!(
        ok_json(&server, "/api/v2/remoteServices?serviceName=frontend"),
        json!(["orders"])
    );
    assert_eq!(ok_json(&server, "/api/v2/remoteServices?serviceName=cache"), json!([]));
    assert_eq!(ok_json(&server, "/api/v2/spans?serviceName=nobody"), json!([]));
}

#[test]
fn trace_search_applies_every_parameter_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    assert_eq!(found(&server, ""), [T3, T2, T1]);
    assert_eq!(found(&server, "limit=2"), [T3, T2]);
    assert_eq!(found(&server, "serviceName=FRONTEND"), [T2, T1]);
    assert_eq!(found(&server, "serviceName=frontend&spanName=get%20%2Forders"), [T1]);
    assert_eq!(found(&server, "serviceName=frontend&spanName=all"), [T2, T1]);
    assert_eq!(found(&server, "serviceName=frontend&remoteServiceName=orders"), [T1]);
    assert_eq!(found(&server, "remoteServiceName=orders"), [T1]);
    assert_eq!(found(&server, "annotationQuery=error"), [T3, T1]);
    assert_eq!(found(&server, "serviceName=orders&annotationQuery=error%3Dboom"), [T1]);
    assert_eq!(found(&server, "annotationQuery=http.method%3DPOST"), [T2]);
    assert_eq!(
        found(&server, "annotationQuery=retried%20and%20http.method%3DPOST"),
        [T2]
    );
    assert!(
        found(&server, "annotationQuery=retried%20and%20error").is_empty(),
        "not on one span"
    );
    assert!(found(&server, "serviceName=frontend&annotationQuery=error").is_empty());
    assert_eq!(found(&server, "minDuration=1000"), [T1]);
    assert_eq!(found(&server, "minDuration=100&maxDuration=300"), [T2]);
    assert!(found(&server, "serviceName=nobody").is_empty());

    // The window: endTs and lookback in milliseconds, on the trace's root timestamp.
    let traces = |end_ts: u64, lookback: u64| {
        let value = ok_json(&server, &format!("/api/v2/traces?endTs={end_ts}&lookback={lookback}"));
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[0]["traceId"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(traces(BASE / 1000 + 500, 1000), [json!(T1)]);
    assert_eq!(traces(BASE / 1000 + 1000, 1), [json!(T2)]);
    assert!(traces(BASE / 1000 - 1, 60_000).is_empty());

    // Whole traces, merged as /api/v2/trace returns them.
    let whole = ok_json(
        &server,
        &format!("/api/v2/traces?endTs={}&serviceName=orders", BASE / 1000 + 10),
    );
    assert_eq!(whole, json!([ok_json(&server, &format!("/api/v2/trace/{T1}"))]));
    assert_eq!(whole[0].as_array().unwrap().len(), 3);
    // A 128-bit spelling of a 64-bit ID names the same trace, as in Zipkin.
    let long = ok_json(&server, &format!("/api/v2/trace/0000000000000000{T2}"));
    assert_eq!(long, ok_json(&server, &format!("/api/v2/trace/{T2}")));
    assert_eq!(long[0]["traceId"], json!(T2));
}

#[test]
fn the_default_window_is_the_last_day() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let span = json!([{"traceId": "00000000000000ff", "id": "00000000000000ff", "name": "now",
        "timestamp": now - 60_000_000, "duration": 1, "localEndpoint": {"serviceName": "live"}}]);
    let response = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        span.to_string().as_bytes(),
    );
    assert_eq!(response.status, 202);
    let traces = ok_json(&server, "/api/v2/traces");
    let ids: Vec<_> = traces
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0]["traceId"].clone())
        .collect();
    assert_eq!(ids, [json!("00000000000000ff")], "the 2023 fixture is older than a day");
}

#[test]
fn dependencies_link_services_with_call_and_error_counts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    let end_ts = BASE / 1000 + 10_000;
    assert_eq!(
        ok_json(&server, &format!("/api/v2/dependencies?endTs={end_ts}&lookback=60000")),
        json!([{"parent": "frontend", "child": "orders", "callCount": 1, "errorCount": 1}])
    );
    assert_eq!(
        ok_json(
            &server,
            &format!("/api/v2/dependencies?endTs={}&lookback=1", BASE / 1000 - 1)
        ),
        json!([])
    );
}

#[test]
fn autocomplete_lists_the_configured_keys_and_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    assert_eq!(
        ok_json(&server, "/api/v2/autocompleteKeys"),
        json!(["http.method", "missing"])
    );
    assert_eq!(
        ok_json(&server, "/api/v2/autocompleteValues?key=http.method"),
        json!(["GET", "POST"])
    );
    assert_eq!(ok_json(&server, "/api/v2/autocompleteValues?key=missing"), json!([]));
    assert_eq!(
        ok_json(&server, "/api/v2/autocompleteValues?key=error"),
        json!([]),
        "a key not configured lists nothing"
    );
}

#[test]
fn a_deleted_trace_leaves_search_and_the_lists() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    assert_eq!(server.post(&format!("/events/delete?trace_id={T3}")).status, 200);
    assert_eq!(ok_json(&server, "/api/v2/services"), json!(["frontend", "orders"]));
    assert_eq!(found(&server, "annotationQuery=error"), [T1]);
    assert_eq!(found(&server, ""), [T2, T1]);
    assert_eq!(server.post("/events/truncate").status, 200);
    assert_eq!(ok_json(&server, "/api/v2/services"), json!([]));
    assert!(found(&server, "").is_empty());
}

#[test]
fn bad_search_parameters_answer_400_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir);
    for (path, reason) in [
        ("/api/v2/traces?limit=-1", "limit <= 0"),
        ("/api/v2/traces?limit=x", "not a number"),
        ("/api/v2/traces?endTs=abc", "not a number"),
        ("/api/v2/traces?lookback=0", "lookback <= 0"),
        ("/api/v2/traces?maxDuration=5", "only valid with minDuration"),
        (
            "/api/v2/traces?minDuration=9&maxDuration=5",
            "maxDuration < minDuration",
        ),
        ("/api/v2/traces?serviceName=%ZZ", "escape"),
        ("/api/v2/spans", "serviceName is required"),
        ("/api/v2/remoteServices", "serviceName is required"),
        ("/api/v2/dependencies", "endTs is required"),
        ("/api/v2/dependencies?endTs=-3", "endTs <= 0"),
        ("/api/v2/autocompleteValues", "key is required"),
        ("/api/v2/trace/not-hex", "not hex"),
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 400, "{path}: {}", response.body);
        assert!(response.body.contains(reason), "{path}: {}", response.body);
    }
    assert_eq!(found(&server, "").len(), 3, "the server keeps serving");
}
