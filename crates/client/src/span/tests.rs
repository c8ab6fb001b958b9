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
        "
        span a:
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
        "
        span a:
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
        "
        span c:
            x: 3
            x: 4",
    );
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
        "
        span root:
            span shared:
                tags: node=1 range=r7
                event: in shared",
    );
    check(
        &recording(&separate),
        "
        span separate:
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
        "
        span remote op:
            tags: sb=1
            x: 2",
    );
    assert_eq!(remote_recording[0].parent_span_id, root.span_id());

    import_remote_spans(&root, remote_recording).unwrap();
    root.finish();
    check(
        &recording(&root),
        "
        span a:
            tags: sb=1
            x: 1
            span remote op:
                tags: sb=1
                x: 2",
    );
}

/// Go's `Recording.String()` with the timing columns cut off (everything up
/// to the second `ms` and the four spaces after it, as the Go test's regexp does).
fn strip_timing(rendered: &str) -> String {
    rendered
        .lines()
        .map(|line| {
            let after_first = line.find("ms").map_or(0, |at| at + 2);
            let second = line[after_first..].find("ms").map_or(0, |at| after_first + at + 2);
            line.get(second + 4..).unwrap_or_default().to_owned() + "\n"
        })
        .collect()
}

/// KaiwuDB's `TestRecordingString`, ported.
#[test]
fn recording_string_matches_gos() {
    let tracer = Tracer::new();
    let tracer2 = Tracer::new();
    let root = tracer.start_recordable_span("root");
    start_recording(&root, RecordingType::Snowball);
    root.log("event", "root 1");

    let mut carrier = HeaderMap::new();
    tracer.inject(&root.context(), &mut carrier).unwrap();
    let wire_context = tracer2.extract(&carrier).unwrap();
    let remote_child = tracer2.start_remote_span("remote child", &wire_context);
    root.log("event", "root 2");
    remote_child.log("event", "remote child 1");
    remote_child.finish();
    import_remote_spans(&root, recording(&remote_child)).unwrap();
    root.finish();

    root.log("event", "root 3");
    let local_child = tracer.start_child_span("local child", &root, &[], false);
    root.log("event", "root 4");
    local_child.log("event", "local child 1");
    local_child.finish();
    root.log("event", "root 5");
    root.finish();

    let rec = recording(&root);
    check(
        &rec,
        "
span root:
\ttags: sb=1
\tevent: root 1
\tevent: root 2
\tevent: root 3
\tevent: root 4
\tevent: root 5
\tspan remote child:
\t\ttags: sb=1
\t\tevent: remote child 1
\tspan local child:
\t\tevent: local child 1
",
    );
    let expected = "=== operation:root sb:1
event:root 1
    === operation:remote child sb:1
    event:remote child 1
event:root 2
event:root 3
    === operation:local child
    event:local child 1
event:root 4
event:root 5
";
    assert_eq!(strip_timing(&render::recording_string(&rec)), expected);
    assert_eq!(render::recording_string(&[]), "<empty recording>");
}

#[test]
fn a_log_entry_is_one_row_of_the_listing() {
    let tracer = Tracer::new();
    let span = tracer.start_recordable_span("a");
    start_recording(&span, RecordingType::SingleNode);
    span.log_fields(&[("k1", &"v1"), ("k2", &2)]);
    assert_eq!(
        render::flat(&recording(&span)),
        "span a:\n    tags: unfinished=\n    k1: v1    k2: 2"
    );
}

#[test]
fn extract_follows_gos_rules() {
    let tracer = Tracer::with_prefix("crdb");
    let text_map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    // A present but corrupted ID is an error; so is half a context.
    let corrupted = text_map(&[("crdb-tracer-traceid", "not-hex"), ("crdb-tracer-spanid", "1")]);
    assert!(matches!(
        tracer.extract(&corrupted),
        Err(SpanError::CorruptedContext(_))
    ));
    let half = text_map(&[("crdb-tracer-traceid", "a1")]);
    assert!(matches!(tracer.extract(&half), Err(SpanError::CorruptedContext(_))));
    // No IDs at all: the noop context, without an error, baggage or not.
    let unrelated = text_map(&[("content-type", "text/plain")]);
    assert!(tracer.extract(&unrelated).unwrap().is_noop());
    let baggage_only = text_map(&[("crdb-baggage-sb", "1"), ("crdb-baggage-user", "x")]);
    assert!(tracer.extract(&baggage_only).unwrap().is_noop());
    // Keys in any case; unknown keys ignored.
    let shouting = text_map(&[
        ("CRDB-Tracer-TraceId", "a1"),
        ("Crdb-Tracer-SpanId", "b2"),
        ("CRDB-BAGGAGE-Region", "eu"),
        ("X-Unknown", "whatever"),
    ]);
    let context = tracer.extract(&shouting).unwrap();
    assert_eq!((context.trace_id, context.span_id), (0xa1, 0xb2));
    assert_eq!(context.baggage.get("region").map(String::as_str), Some("eu"));

    // A header that is not text fails the extract only if it is one of ours.
    let mut headers = HeaderMap::new();
    headers.insert("crdb-tracer-traceid", "a1".parse().unwrap());
    headers.insert("crdb-tracer-spanid", "b2".parse().unwrap());
    headers.insert(
        "x-display-name",
        tonic::codegen::http::HeaderValue::from_bytes("Zoë".as_bytes()).unwrap(),
    );
    assert_eq!(tracer.extract(&headers).unwrap().span_id, 0xb2);
    headers.insert(
        "crdb-tracer-spanid",
        tonic::codegen::http::HeaderValue::from_bytes("ë".as_bytes()).unwrap(),
    );
    assert!(matches!(tracer.extract(&headers), Err(SpanError::CorruptedContext(_))));
}

#[test]
fn grpc_metadata_carries_a_context() {
    let tracer = Tracer::with_prefix("kwdb");
    let span = tracer.start_recordable_span("rpc");
    start_recording(&span, RecordingType::Snowball);
    let mut metadata = tonic::metadata::MetadataMap::new();
    tracer.inject(&span.context(), &mut metadata).unwrap();
    metadata.insert_bin("trace-bin", tonic::metadata::MetadataValue::from_bytes(&[0xff, 0x00]));
    let context = tracer.extract(&metadata).unwrap();
    assert_eq!((context.trace_id, context.span_id), (span.trace_id(), span.span_id()));
    assert_eq!(context.recording, Some(RecordingType::Snowball));
}

#[test]
fn stopping_a_snowball_recording_takes_back_its_baggage() {
    let tracer = Tracer::with_prefix("kwdb");
    let span = tracer.start_recordable_span("a");
    span.set_baggage_item("user", "kept");
    start_recording(&span, RecordingType::Snowball);
    stop_recording(&span);
    let mut headers = HeaderMap::new();
    tracer.inject(&span.context(), &mut headers).unwrap();
    assert!(headers.get("kwdb-baggage-sb").is_none(), "{headers:?}");
    assert_eq!(headers.get("kwdb-baggage-user").unwrap(), "kept");
    let remote = Tracer::with_prefix("kwdb").start_remote_span("remote", &tracer.extract(&headers).unwrap());
    assert!(!remote.is_recording(), "the remote side no longer records");
}

#[test]
fn a_tag_value_that_reads_its_own_span_does_not_deadlock() {
    struct ReadsSpan(Span);
    impl std::fmt::Display for ReadsSpan {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "recording={}", self.0.is_recording())
        }
    }
    let tracer = Tracer::new();
    let span = tracer.start_recordable_span("a");
    start_recording(&span, RecordingType::SingleNode);
    span.set_tag("self", ReadsSpan(span.clone()));
    span.log("self", ReadsSpan(span.clone()));
    let recorded = recording(&span);
    assert_eq!(recorded[0].tags["self"], "recording=true");
    assert_eq!(recorded[0].logs[0].fields[0].1, "recording=true");
}

#[test]
fn ids_are_random_63_bit_values_unique_across_tracers() {
    // Two tracers made in the same instant (the old counter seeded from the
    // clock gave both the same sequence).
    let (first, second) = (Tracer::new(), Tracer::new());
    let mut seen = std::collections::HashSet::new();
    for tracer in [&first, &second] {
        for _ in 0..500 {
            let span = tracer.start_recordable_span("a");
            for id in [span.trace_id(), span.span_id()] {
                assert!(id != 0 && id < 1 << 63, "{id:x}");
                assert!(seen.insert(id), "{id:x} came twice");
            }
        }
    }
}

#[test]
fn logs_are_capped() {
    let tracer = Tracer::new();
    let span = tracer.start_recordable_span("a");
    start_recording(&span, RecordingType::SingleNode);
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
    span.finish();
    {
        let shipped = sink.0.lock().unwrap();
        assert_eq!(shipped.len(), 1, "a second finish does not ship the span again");
        assert!(!shipped[0].tags.contains_key("unfinished"));
    }

    // A child belongs to its parent's tracer, whichever tracer starts it.
    let sinkless = Tracer::new();
    let parent = tracer.start_recordable_span("parent");
    start_recording(&parent, RecordingType::SingleNode);
    sinkless.start_span_child_of("child", &parent).finish();
    let shipped = sink.0.lock().unwrap();
    assert_eq!(shipped.last().map(|span| span.operation.as_str()), Some("child"));
}
