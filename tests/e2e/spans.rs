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
    tracer.start_span("noop").finish(); // not recorded: never exported
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

    let output = std::process::Command::new(binary("tracekeep-dump"))
        .args(["show", data.to_str().unwrap(), &trace_id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("span") && text.contains("op=\"kv.get\""), "{text}");
    let stats = std::process::Command::new(binary("tracekeep-dump"))
        .args(["stats", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&stats.stdout).contains("span 2"));
}
