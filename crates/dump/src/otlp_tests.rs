use super::*;

#[test]
fn hex_ids_become_bytes_padded_to_their_width() {
    assert_eq!(id_bytes("0a", 8), vec![0, 0, 0, 0, 0, 0, 0, 0x0a]);
    assert_eq!(id_bytes(&"ab".repeat(8), 16), [vec![0; 8], vec![0xab; 8]].concat());
    assert_eq!(id_bytes("not hex", 8), Vec::<u8>::new());
    assert_eq!(id_bytes("", 8), Vec::<u8>::new());
}

#[test]
fn a_trace_is_finished_when_the_next_one_starts() {
    let span = |trace: &str| {
        TraceEvent::Span(pb::Span {
            base: Some(pb::BaseEvent {
                trace_id: trace.into(),
                tso: 1_000,
                ..Default::default()
            }),
            span_id: "0000000000000001".into(),
            operation: "op".into(),
            ..Default::default()
        })
    };
    let mut batch = TraceBatch::default();
    assert!(batch.add("01", &span("01")).finished.is_none());
    assert!(batch.add("01", &span("01")).finished.is_none());
    let first = batch.add("02", &span("02")).finished.unwrap();
    assert_eq!(first.resource_spans.len(), 2);
    let last = batch.finish().unwrap();
    let exported = &last.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(exported.trace_id, [vec![0; 15], vec![2]].concat());
    assert_eq!(exported.name, "op");
    assert!(batch.finish().is_none());
}
