//! The acceptance scenarios, ported from CockroachDB's tracer tests.

use std::collections::{BTreeMap, HashMap};

use tonic::codegen::http::HeaderMap;

use super::render::{flat, same_listing};
use super::*;

fn check(spans: &[RecordedSpan], expected: &str) {
    let got = flat(spans);
    assert!(same_listing(&got, expected), "got:\n{got}\nexpected:\n{expected}");
}

#[test]
fn noops_black_holes_and_single_node_recording() {
    let tracer = Tracer::new();
    let plain = tracer.start_span("a");
    assert!(plain.is_noop());
    assert!(
        tracer.start_span_child_of("b", &plain).is_noop(),
        "a child of a noop is a noop"
    );

    let s1 = tracer.start_recordable_span("a");
    assert!(!s1.is_noop() && !s1.is_recording());
    s1.set_tag("tag", "val");
    s1.log("x", 1); // dropped: a black hole keeps no logs
    assert!(
        tracer.start_span_child_of("b", &s1).is_noop(),
        "a black hole's children are noops"
    );
    assert!(recording(&s1).is_empty());

    start_recording(&s1, RecordingType::SingleNode);
    s1.log("x", 2);
    let s3 = tracer.start_span_child_of("c", &s1);
    assert!(s3.is_recording());
    assert_eq!(s3.trace_id(), s1.trace_id());
    s3.log("x", 3);
    check(
        &recording(&s1),
        "span a:
            tags: tag=val unfinished=
            x: 2
         span c:
            tags: unfinished=
            x: 3",
    );

    let s4 = tracer.start_span_follows_from("d", &s1);
    s4.finish();
    s3.finish();
    check(
        &recording(&s1),
        "span a:
            tags: tag=val unfinished=
            x: 2
         span c:
            x: 3
         span d:",
    );

    stop_recording(&s1);
    s1.log("x", 100);
    assert!(recording(&s1).is_empty(), "a stopped recording is empty");
    s3.log("x", 4);
    check(
        &recording(&s3),
        "span c:
            x: 3
            x: 4",
    );
    s1.finish();
    s1.finish();
}

#[test]
fn child_spans_share_or_separate_recordings_and_take_log_tags() {
    let tracer = Tracer::new();
    let root = tracer.start_recordable_span("root");
    start_recording(&root, RecordingType::SingleNode);

    let shared = tracer.start_child_span("shared", &root, &[("node", "1"), ("range", "r7")], false);
    shared.log("event", "in shared");
    shared.finish();
    let separate = tracer.start_child_span("separate", &root, &[], true);
    assert!(separate.is_recording());
    separate.log("event", "in separate");
    separate.finish();
    root.finish();

    check(
        &recording(&root),
        "span root:
         span shared:
            tags: node=1 range=r7
            event: in shared",
    );
    check(
        &recording(&separate),
        "span separate:
            event: in separate",
    );
    assert_eq!(
        separate.context().recording,
        Some(RecordingType::SingleNode),
        "same type"
    );

    let noop_parent = tracer.start_span("noop");
    assert!(
        tracer
            .start_child_span("x", &noop_parent, &[("a", "b")], true)
            .is_noop()
    );
}

#[test]
fn a_noop_context_crosses_as_nothing_and_stays_noop() {
    let tracer = Tracer::with_prefix("kwdb");
    let noop = tracer.start_span("a");
    let mut map: HashMap<String, String> = HashMap::new();
    tracer.inject(&noop.context(), &mut map).unwrap();
    assert!(map.is_empty());
    let mut headers = HeaderMap::new();
    tracer.inject(&noop.context(), &mut headers).unwrap();
    assert!(headers.is_empty());
    let context = tracer.extract(&map).unwrap();
    assert!(context.is_noop());
    assert!(tracer.start_remote_span("remote", &context).is_noop());
}

#[test]
fn a_snowball_span_crosses_records_remotely_and_comes_back() {
    let local = Tracer::with_prefix("kwdb");
    let remote = Tracer::with_prefix("kwdb");
    let root = local.start_recordable_span("a");
    start_recording(&root, RecordingType::Snowball);
    root.log("x", 1);
    assert_eq!(root.baggage_item("sb").as_deref(), Some("1"));

    let mut headers = HeaderMap::new();
    local.inject(&root.context(), &mut headers).unwrap();
    assert_eq!(
        headers.get("kwdb-tracer-traceid").unwrap().to_str().unwrap(),
        format!("{:x}", root.trace_id())
    );
    assert_eq!(headers.get("kwdb-baggage-sb").unwrap(), "1");

    // The remote side sees the headers with other capitalisation in a text map.
    let carried: BTreeMap<String, String> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_uppercase(), value.to_str().unwrap().to_owned()))
        .collect();
    let context = remote.extract(&carried).unwrap();
    assert_eq!(context.recording, Some(RecordingType::Snowball));
    let remote_span = remote.start_remote_span("remote op", &context);
    assert!(remote_span.is_recording(), "snowball records automatically");
    assert_eq!(remote_span.trace_id(), root.trace_id());
    remote_span.log("x", 2);
    remote_span.finish();
    let remote_recording = recording(&remote_span);
    check(
        &remote_recording,
        "span remote op:
            tags: sb=1
            x: 2",
    );
    assert_eq!(remote_recording[0].parent_span_id, root.span_id());

    import_remote_spans(&root, remote_recording).unwrap();
    root.finish();
    check(
        &recording(&root),
        "span a:
            tags: sb=1
            x: 1
         span remote op:
            tags: sb=1
            x: 2",
    );
    let timeline = render::timeline(&recording(&root));
    assert!(
        timeline.contains("=== a") && timeline.contains("    === remote op"),
        "{timeline}"
    );
}

#[test]
fn malformed_contexts_and_unsupported_carriers_are_errors() {
    let tracer = Tracer::with_prefix("crdb");
    let mut map = HashMap::new();
    map.insert("crdb-tracer-traceid".to_owned(), "not-hex".to_owned());
    map.insert("crdb-tracer-spanid".to_owned(), "1".to_owned());
    assert!(matches!(tracer.extract(&map), Err(SpanError::CorruptedContext(_))));
    let mut half = HashMap::new();
    half.insert("crdb-tracer-traceid".to_owned(), "a1".to_owned());
    assert!(matches!(tracer.extract(&half), Err(SpanError::CorruptedContext(_))));
    let mut unsupported: Vec<u8> = Vec::new();
    let span = tracer.start_recordable_span("a");
    assert_eq!(
        tracer.inject(&span.context(), &mut unsupported),
        Err(SpanError::UnsupportedCarrier)
    );
    assert_eq!(tracer.extract(&unsupported), Err(SpanError::UnsupportedCarrier));
    // Unrelated keys alone are the noop context, not an error.
    let mut other = HashMap::new();
    other.insert("content-type".to_owned(), "text/plain".to_owned());
    assert!(tracer.extract(&other).unwrap().is_noop());
}

#[test]
fn ids_are_non_zero_and_logs_are_capped() {
    let tracer = Tracer::new();
    let span = tracer.start_recordable_span("a");
    start_recording(&span, RecordingType::SingleNode);
    assert_ne!(span.trace_id(), 0);
    assert_ne!(span.span_id(), 0);
    for n in 0..(MAX_LOGS_PER_SPAN + 5) {
        span.log("n", n);
    }
    let recorded = recording(&span);
    assert_eq!(recorded[0].logs.len(), MAX_LOGS_PER_SPAN);
    assert_eq!(recorded[0].tags.get("dropped_logs").map(String::as_str), Some("5"));
}

#[test]
fn finished_recording_spans_go_to_the_sink() {
    #[derive(Default)]
    struct Collect(std::sync::Mutex<Vec<RecordedSpan>>);
    impl SpanSink for Collect {
        fn export(&self, span: RecordedSpan) {
            self.0.lock().unwrap().push(span);
        }
    }
    let sink = Arc::new(Collect::default());
    let tracer = Tracer::new().with_sink(sink.clone());
    let noop = tracer.start_span("noop");
    noop.finish();
    let span = tracer.start_recordable_span("black hole");
    span.finish();
    assert!(sink.0.lock().unwrap().is_empty(), "only recorded spans are shipped");
    start_recording(&span, RecordingType::SingleNode);
    span.finish();
    let shipped = sink.0.lock().unwrap();
    assert_eq!(shipped.len(), 1);
    assert!(!shipped[0].tags.contains_key("unfinished"));
}
