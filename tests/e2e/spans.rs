//! Spans recorded in this process, exported to a running server, read back.

use std::sync::Arc;

use tracekeep_client::span::exporter::{SpanExporter, SpanExporterConfig};
use tracekeep_client::span::{RecordingType, SpanSink, Tracer, start_recording};

use tracekeep_e2e::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_spans_appear_through_query_scan_and_the_dump_tool() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let exporter = SpanExporter::start(SpanExporterConfig::new(format!("http://{}", server.addr))).unwrap();
    let tracer = Tracer::with_prefix("kwdb").with_sink(exporter.clone() as Arc<dyn SpanSink>);

    let root = tracer.start_recordable_span("txn");
    start_recording(&root, RecordingType::SingleNode);
    root.set_tag("node", 1);
    let child = tracer.start_child_span("kv.get", &root, &[("range", "r7")], false);
    child.log("key", "/Table/52/1/7");
    child.finish();
    root.finish();
    // Real but not recording (a black hole): finished, yet never exported.
    tracer.start_recordable_span("black hole").finish();
    exporter.flush().await.unwrap();
    assert_eq!(exporter.stats().sent, 2);

    let trace_id = format!("{:016x}", root.trace_id());
    let response = server.get(&format!("/events/query?trace_id={trace_id}"));
    assert_eq!(response.status, 200, "{}", response.body);
    let events = response.json();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|event| event["type"] == 3));
    let child_event = &events[0]["event"];
    assert_eq!(child_event["operation"], "kv.get");
    assert_eq!(child_event["base"]["traceID"], trace_id.as_str());
    assert_eq!(child_event["parentSpanID"], format!("{:016x}", root.span_id()));
    assert_eq!(child_event["tags"]["range"], "r7");
    assert_eq!(child_event["logs"][0]["fields"][0]["value"], "/Table/52/1/7");
    assert_eq!(events[1]["event"]["operation"], "txn");
    assert!(events[1]["event"]["duration"].as_i64().unwrap() > 0);

    let scanned = server.get("/events/scan").json();
    assert_eq!(scanned[0][0]["type"], 3);

    let output = dump(&["show", data.to_str().unwrap(), &trace_id]);
    let text = output.stdout;
    assert_eq!(output.code, 0, "{}", output.stderr);
    // One entry per span, the child first (arrival order), each with its operation.
    assert_eq!(text.matches("op=").count(), 2, "{text}");
    let (child_at, root_at) = (text.find("op=\"kv.get\""), text.find("op=\"txn\""));
    assert!(child_at.is_some() && root_at.is_some() && child_at < root_at, "{text}");
    let stats = dump(&["stats", data.to_str().unwrap()]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let stats = stats.stdout;
    let events_line = ["events", "2", "(binlog", "0,", "job", "0,", "span", "2)"];
    assert!(
        stats.lines().any(|line| line.split_whitespace().eq(events_line)),
        "{stats}"
    );
}

#[test]
fn the_zipkin_shadow_lands_in_tracekeeps_zipkin_api_in_both_formats() {
    use std::time::Duration;
    use tracekeep_client::span::shadow::ZipkinFormat;
    use tracekeep_client::span::{ZipkinShadow, ZipkinShadowConfig};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    for format in [ZipkinFormat::V2Json, ZipkinFormat::V1Thrift] {
        let shadow = ZipkinShadow::start(ZipkinShadowConfig {
            format,
            flush_interval: Duration::from_millis(20),
            // KaiwuDB's `trace.zipkin.collector` form: host:port.
            ..ZipkinShadowConfig::new(server.addr.to_string())
        })
        .unwrap();
        let tracer = Tracer::with_prefix("kwdb").with_zipkin_shadow(shadow.clone());
        let root = tracer.start_span("txn");
        root.set_tag("node", 1);
        root.log("event", "begin");
        let child = tracer.start_child_span("kv.get", &root, &[("range", "r7")], false);
        child.finish();
        root.finish();
        assert!(shadow.flush(Duration::from_secs(10)), "{format:?}");
        assert_eq!(shadow.stats().sent, 2, "{format:?}: {:?}", shadow.stats());

        let response = server.get(&format!("/api/v2/trace/{:016x}", root.trace_id()));
        assert_eq!(response.status, 200, "{format:?}: {}", response.body);
        let spans = response.json();
        let spans = spans.as_array().unwrap();
        assert_eq!(spans.len(), 2, "{format:?}: {spans:?}");
        let by_name = |name: &str| spans.iter().find(|span| span["name"] == name).unwrap();
        let (root_json, child_json) = (by_name("txn"), by_name("kv.get"));
        assert_eq!(root_json["id"], format!("{:016x}", root.span_id()), "{format:?}");
        assert_eq!(child_json["parentId"], root_json["id"], "{format:?}");
        assert_eq!(root_json["localEndpoint"]["serviceName"], "kwbase", "{format:?}");
        assert_eq!(child_json["tags"]["range"], "r7", "{format:?}");
        assert_eq!(root_json["tags"]["node"], "1", "{format:?}");
        assert_eq!(root_json["annotations"][0]["value"], "event=begin", "{format:?}");
    }
}
