#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::{TraceEvent, pb};

fn base(trace_id: &str, tso: i64) -> pb::BaseEvent {
    pb::BaseEvent {
        filename: "syncer.go".into(),
        line: 1130,
        tso,
        trace_id: trace_id.into(),
        group_id: "g".into(),
        r#type: pb::TraceType::JobEvent as i32,
    }
}

fn job(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Job(pb::SyncerJobEvent {
        base: Some(base(trace_id, tso)),
        op_type: 2,
        pos: Some(pb::MySqlPosition {
            name: "mysql-bin.000001".into(),
            pos: 4,
        }),
        current_pos: None,
        sql: "INSERT INTO t VALUES (1)".into(),
        ddls: vec!["CREATE TABLE t (a INT)".into(), "多字节".into()],
        args_checksum: 7,
        ddl_info: Some(pb::ExecDdlInfo {
            lock_id: "l".into(),
            exec: true,
        }),
        queue_bucket: "q_1".into(),
        state: 2,
    })
}

fn binlog(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Binlog(pb::SyncerBinlogEvent {
        base: Some(base(trace_id, tso)),
        state: Some(pb::SyncerState {
            safe_mode: true,
            try_re_sync: false,
            last_pos: Some(pb::MySqlPosition {
                name: "a".into(),
                pos: 1,
            }),
            current_pos: Some(pb::MySqlPosition {
                name: "b".into(),
                pos: 2,
            }),
        }),
        event_type: 30,
        op_type: -1,
    })
}

fn span(trace_id: &str, tso: i64) -> TraceEvent {
    TraceEvent::Span(pb::Span {
        base: Some(base(trace_id, tso)),
        span_id: "00000000000000aa".into(),
        parent_span_id: String::new(),
        operation: "exec".into(),
        duration: 1500,
        tags: [("k".to_owned(), "v".to_owned())].into(),
        logs: vec![pb::SpanLog {
            time: 5,
            fields: vec![pb::SpanLogField {
                key: "event".into(),
                value: "done".into(),
            }],
        }],
        baggage: [("sb".to_owned(), "1".to_owned())].into(),
        kind: pb::SpanKind::Client as i32,
        local_endpoint: Some(pb::Endpoint {
            service_name: "frontend".into(),
            ipv4: "10.0.0.1".into(),
            ipv6: String::new(),
            port: 8080,
        }),
        remote_endpoint: Some(pb::Endpoint::default()),
        annotations: vec![pb::SpanAnnotation {
            time: 7,
            value: "ws".into(),
            zipkin_time: -3,
        }],
        debug: true,
        shared: false,
        // Not UTF-8: a bytes field may hold anything.
        otlp: vec![0xff, 0x00, 0x80],
        otlp_from_tags: vec![5, 0, 300, 1],
        zipkin_timestamp: i64::MAX,
        zipkin_duration: 9_300_000_000_000_000,
        from_zipkin: true,
    })
}

/// Whether prost decodes `bytes` as an event of `kind`.
fn prost_accepts(kind: EventKind, bytes: &[u8]) -> bool {
    TraceEvent::decode(kind, bytes).is_ok()
}

#[test]
fn valid_events_give_their_trace_id_and_tso() {
    for event in [
        job("src.7", 42),
        binlog("多字节.1", -3),
        span("00000000000000ff", i64::MAX),
    ] {
        let bytes = event.encode_to_vec();
        let head = scan_event(event.kind(), &bytes).unwrap();
        assert!(head.has_base);
        assert_eq!(head.trace_id(&bytes), event.trace_id().unwrap());
        assert_eq!(head.tso, event.tso());
    }
}

#[test]
fn an_event_without_base_has_no_head() {
    let bytes = pb::SyncerJobEvent {
        sql: "x".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let head = scan_event(EventKind::Job, &bytes).unwrap();
    assert!(!head.has_base);
    assert_eq!(head.trace_id(&bytes), "");
    assert_eq!(head.tso, 0);
}

#[test]
fn a_repeated_base_merges_as_prost_merges_it() {
    // Two `base` fields: prost merges them, so a later field wins and an
    // absent one keeps the earlier value.
    let mut bytes = pb::SyncerJobEvent {
        base: Some(base("first", 1)),
        ..Default::default()
    }
    .encode_to_vec();
    bytes.extend(
        pb::SyncerJobEvent {
            base: Some(pb::BaseEvent {
                tso: 9,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let decoded = TraceEvent::decode(EventKind::Job, &bytes).unwrap();
    let head = scan_event(EventKind::Job, &bytes).unwrap();
    assert_eq!(head.trace_id(&bytes), decoded.trace_id().unwrap());
    assert_eq!(head.trace_id(&bytes), "first");
    assert_eq!(head.tso, 9);
}

#[test]
fn unknown_fields_and_groups_are_skipped() {
    let mut bytes = job("t", 1).encode_to_vec();
    // field 99 varint, field 98 fixed64, field 97 a group holding field 1 fixed32.
    bytes.extend([0x98, 0x06, 0x01]);
    bytes.extend([0x91, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    bytes.extend([0x8B, 0x06, 0x0D, 1, 2, 3, 4, 0x8C, 0x06]);
    assert!(prost_accepts(EventKind::Job, &bytes));
    assert_eq!(scan_event(EventKind::Job, &bytes).unwrap().trace_id(&bytes), "t");
}

#[test]
fn malformed_events_are_refused_with_a_place() {
    let good = job("t", 1).encode_to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 3].to_vec()),
        ("bad wire type", [&good[..], &[0x0F]].concat()),
        ("field 0", [&good[..], &[0x00, 0x01]].concat()),
        // base.traceID (field 4) as invalid UTF-8
        ("utf-8", vec![0x0A, 0x03, 0x22, 0x01, 0xFF]),
        // sql (field 5, a string) sent as a varint
        ("wrong type", vec![0x28, 0x01]),
        ("end group", vec![0x0C]),
        ("eleven-byte varint", [&[0x10][..], &[0xFF; 10], &[0x01]].concat()),
    ];
    for (name, bytes) in cases {
        assert!(!prost_accepts(EventKind::Job, &bytes), "{name}: prost accepts it");
        let error = scan_event(EventKind::Job, &bytes).unwrap_err();
        assert!(error.offset <= bytes.len(), "{name}: {error}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn nesting_past_prosts_limit_is_refused_like_prost() {
    // An unknown field holding groups nested 100 and 101 deep.
    for depth in [98usize, 99, 100, 101] {
        let mut bytes = Vec::new();
        bytes.extend(std::iter::repeat_n(0x8B_u8, depth).flat_map(|b| [b, 0x06]));
        bytes.extend(std::iter::repeat_n(0x8C_u8, depth).flat_map(|b| [b, 0x06]));
        assert_eq!(
            scan_event(EventKind::Job, &bytes).is_ok(),
            prost_accepts(EventKind::Job, &bytes),
            "depth {depth}"
        );
    }
}

fn any_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![Just(EventKind::Job), Just(EventKind::Binlog), Just(EventKind::Span)]
}

fn any_valid_event() -> impl Strategy<Value = TraceEvent> {
    (any_kind(), ".{0,12}", any::<i64>()).prop_map(|(kind, trace_id, tso)| match kind {
        EventKind::Job => job(&trace_id, tso),
        EventKind::Binlog => binlog(&trace_id, tso),
        _ => span(&trace_id, tso),
    })
}

/// A change to valid bytes: overwrite, insert or remove one byte, or cut the tail.
#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Cut(usize),
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Cut),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match *mutation {
        Mutation::Set(at, byte) => {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
        Mutation::Remove(at) => {
            bytes.remove(at % bytes.len());
        }
        Mutation::Cut(at) => bytes.truncate(at % bytes.len()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn accepts_exactly_what_prost_accepts(kind in any_kind(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(scan_event(kind, &bytes).is_ok(), prost_accepts(kind, &bytes));
    }

    #[test]
    fn mutated_events_are_judged_as_prost_judges_them(
        event in any_valid_event(),
        mutations in proptest::collection::vec(any_mutation(), 1..4),
    ) {
        let mut bytes = event.encode_to_vec();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        let scanned = scan_event(event.kind(), &bytes);
        let decoded = TraceEvent::decode(event.kind(), &bytes);
        prop_assert_eq!(scanned.is_ok(), decoded.is_ok(), "{:?}", scanned);
        if let (Ok(head), Ok(decoded)) = (scanned, decoded) {
            prop_assert_eq!(head.trace_id(&bytes), decoded.trace_id().unwrap_or(""));
            prop_assert_eq!(head.tso, decoded.tso());
            prop_assert_eq!(head.has_base, decoded.base().is_some());
        }
    }

    #[test]
    fn valid_events_scan_to_their_own_head(event in any_valid_event()) {
        let bytes = event.encode_to_vec();
        let head = scan_event(event.kind(), &bytes).unwrap();
        prop_assert_eq!(head.trace_id(&bytes), event.trace_id().unwrap());
        prop_assert_eq!(head.tso, event.tso());
    }
}
