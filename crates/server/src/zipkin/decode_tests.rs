//! The Zipkin decoders and conversions, on hand-made and generated input.

use std::collections::BTreeMap;

use proptest::prelude::*;
use prost::Message;
use tracekeep_proto::zipkin_proto3 as z;

use super::merge::merge;
use super::model::{Endpoint, Kind, ZipkinSpan, normalize_span_id, normalize_trace_id};
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Span, V1Value, to_v2};
use super::{proto3, thrift, v1_json, v2_json};

fn service(name: &str) -> Option<Endpoint> {
    Some(Endpoint {
        service_name: name.into(),
        ..Endpoint::default()
    })
}

#[test]
fn ids_are_normalised_as_zipkin_does() {
    assert_eq!(normalize_trace_id("ABC").unwrap(), "0000000000000abc");
    assert_eq!(
        normalize_trace_id("1234567890abcdef1").unwrap(),
        format!("{}1234567890abcdef1", "0".repeat(15))
    );
    assert_eq!(normalize_trace_id(&"f".repeat(32)).unwrap(), "f".repeat(32));
    // A 128-bit ID with a zero upper half is the 64-bit one, as in Zipkin.
    assert_eq!(
        normalize_trace_id(&format!("{}00000000000000AB", "0".repeat(16))).unwrap(),
        "00000000000000ab"
    );
    assert!(normalize_trace_id(&"f".repeat(33)).is_err());
    assert!(normalize_trace_id("000").is_err());
    assert!(normalize_trace_id("").is_err());
    assert!(normalize_span_id("xyz").is_err());
    assert!(normalize_span_id(&"1".repeat(17)).is_err());
}

#[test]
fn v2_json_keeps_every_field() {
    let body = br#"[{"traceId":"5AF7183FB1D4CF5F","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
        "kind":"CLIENT","name":"Get /API","timestamp":1556604172355737,"duration":1431,
        "localEndpoint":{"serviceName":"Frontend","ipv4":"192.168.99.1","port":8080},
        "remoteEndpoint":{"serviceName":"backend","ipv6":"2001:db8::c001"},
        "annotations":[{"timestamp":1556604172355800,"value":"ws"}],
        "tags":{"http.method":"GET","count":3,"ok":true},"debug":true,"shared":false,"unknownField":1}]"#;
    let spans = v2_json::decode(body).unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.trace_id, "5af7183fb1d4cf5f");
    assert_eq!(span.parent_id.as_deref(), Some("6b221d5bc9e6496c"));
    assert_eq!(span.kind, Some(Kind::Client));
    assert_eq!(span.name, "Get /API");
    assert_eq!(span.duration, 1431);
    assert_eq!(span.local_endpoint.as_ref().unwrap().port, 8080);
    assert_eq!(span.remote_endpoint.as_ref().unwrap().ipv6, "2001:db8::c001");
    assert_eq!(span.tags["count"], "3");
    assert_eq!(span.tags["ok"], "true");
    assert!(span.debug);

    // Stored and read back, it renders as Zipkin would: names lowercased, nothing lost.
    let stored = span.clone().into_pb();
    assert_eq!(stored.operation, "Get /API");
    let shown = ZipkinSpan::from_pb(&stored);
    assert_eq!(shown.name, "get /api");
    assert_eq!(shown.local_service(), Some("frontend"));
    assert_eq!(shown.timestamp, span.timestamp);
    assert_eq!(shown.annotations, span.annotations);
    assert_eq!(shown.tags, span.tags);
}

#[test]
fn bad_v2_json_names_the_span() {
    let cases: [(&[u8], &str); 7] = [
        (b"{", "bad JSON"),
        (
            br#"[{"traceId":"a","id":"b"},{"id":"c"}]"#,
            "span 1: traceId is missing",
        ),
        (br#"[{"traceId":"a"}]"#, "span 0: id is missing"),
        (br#"[{"traceId":"xyz","id":"1"}]"#, "span 0: traceId \"xyz\" is not hex"),
        (br#"[{"traceId":"1","id":"1","kind":"SIDEWAYS"}]"#, "span 0: kind"),
        (
            br#"[{"traceId":"1","id":"1"},{"traceId":"1","id":"1","timestamp":"soon"}]"#,
            "span 1:",
        ),
        (br#"[{"traceId":"1","id":"1","tags":{"a":{"b":1}}}]"#, "span 0:"),
    ];
    for (body, expected) in cases {
        let error = v2_json::decode(body).unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    }
    assert!(v2_json::decode(b"[]").unwrap().is_empty());
}

#[test]
fn proto3_spans_decode_with_binary_ids_and_addresses() {
    let list = z::ListOfSpans {
        spans: vec![z::Span {
            trace_id: vec![0xab; 16],
            parent_id: vec![0; 8],
            id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            kind: z::span::Kind::Server as i32,
            name: "get".into(),
            timestamp: 1_556_604_172_355_737,
            duration: 10,
            local_endpoint: Some(z::Endpoint {
                service_name: "backend".into(),
                ipv4: vec![10, 0, 0, 2],
                ipv6: vec![],
                port: 9000,
            }),
            annotations: vec![z::Annotation {
                timestamp: 1_556_604_172_355_740,
                value: "wr".into(),
            }],
            tags: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            shared: true,
            ..Default::default()
        }],
    };
    let spans = proto3::decode(&list.encode_to_vec()).unwrap();
    let span = &spans[0];
    assert_eq!(span.trace_id, "ab".repeat(16));
    assert_eq!(span.parent_id, None);
    assert_eq!(span.id, "0102030405060708");
    assert_eq!(span.kind, Some(Kind::Server));
    assert_eq!(span.local_endpoint.as_ref().unwrap().ipv4, "10.0.0.2");
    assert!(span.shared);

    let mut short = list.clone();
    short.spans[0].id = vec![1, 2, 3];
    let error = proto3::decode(&short.encode_to_vec()).unwrap_err().to_string();
    assert_eq!(error, "span 0: id has 3 bytes, not 8");
    let mut zero = list.clone();
    zero.spans[0].trace_id = vec![0; 16];
    let error = proto3::decode(&zero.encode_to_vec()).unwrap_err().to_string();
    assert_eq!(error, "span 0: traceId is zero or empty");
    let mut lower_half = list.clone();
    lower_half.spans[0].trace_id = [[0; 8], [0xcd; 8]].concat();
    let spans = proto3::decode(&lower_half.encode_to_vec()).unwrap();
    assert_eq!(spans[0].trace_id, "cd".repeat(8));
    let bytes = list.encode_to_vec();
    assert!(
        proto3::decode(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .to_string()
            .starts_with("bad protobuf")
    );
}

/// A Thrift `list<Span>` with one KaiwuDB-style local span: an `lc` binary
/// annotation naming the service, a log annotation, a string tag.
fn kaiwudb_thrift() -> Vec<u8> {
    let mut out = vec![12, 0, 0, 0, 1];
    let field = |out: &mut Vec<u8>, kind: u8, id: i16| {
        out.push(kind);
        out.extend(id.to_be_bytes());
    };
    let string = |out: &mut Vec<u8>, text: &[u8]| {
        out.extend(i32::try_from(text.len()).unwrap().to_be_bytes());
        out.extend(text);
    };
    let endpoint = |out: &mut Vec<u8>| {
        field(out, 8, 1);
        out.extend(0i32.to_be_bytes());
        field(out, 6, 2);
        out.extend(0i16.to_be_bytes());
        field(out, 11, 3);
        string(out, b"kwbase");
        out.push(0);
    };
    field(&mut out, 10, 1);
    out.extend(0x1234i64.to_be_bytes());
    field(&mut out, 11, 3);
    string(&mut out, b"sql txn");
    field(&mut out, 10, 4);
    out.extend(0x5678i64.to_be_bytes());
    field(&mut out, 15, 6);
    out.extend([12, 0, 0, 0, 1]);
    field(&mut out, 10, 1);
    out.extend(1_700_000_000_000_100i64.to_be_bytes());
    field(&mut out, 11, 2);
    string(&mut out, b"event:commit");
    field(&mut out, 12, 3);
    endpoint(&mut out);
    out.push(0);
    field(&mut out, 15, 8);
    out.extend([12, 0, 0, 0, 2]);
    for (key, value) in [(&b"lc"[..], &b""[..]), (b"sql", b"SELECT 1")] {
        field(&mut out, 11, 1);
        string(&mut out, key);
        field(&mut out, 11, 2);
        string(&mut out, value);
        field(&mut out, 8, 3);
        out.extend(6i32.to_be_bytes());
        field(&mut out, 12, 4);
        endpoint(&mut out);
        out.push(0);
    }
    field(&mut out, 10, 10);
    out.extend(1_700_000_000_000_000i64.to_be_bytes());
    field(&mut out, 10, 11);
    out.extend(250i64.to_be_bytes());
    out.push(0);
    out
}

#[test]
fn kaiwudb_thrift_spans_keep_service_tags_and_logs() {
    let v1 = thrift::decode(&kaiwudb_thrift()).unwrap();
    assert_eq!(v1.len(), 1);
    let spans = to_v2(&v1[0]);
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.trace_id, "0000000000001234");
    assert_eq!(span.id, "0000000000005678");
    assert_eq!(span.name, "sql txn");
    assert_eq!(span.kind, None);
    assert_eq!(span.local_service(), Some("kwbase"));
    assert_eq!(span.local_endpoint.as_ref().unwrap().ipv4, "");
    assert_eq!(span.timestamp, 1_700_000_000_000_000);
    assert_eq!(span.duration, 250);
    assert_eq!(span.tags.get("sql").map(String::as_str), Some("SELECT 1"));
    assert!(!span.tags.contains_key("lc"));
    assert_eq!(span.annotations[0].value, "event:commit");

    // The empty list zipkin-go-opentracing sends on shutdown.
    assert!(thrift::decode(&[12, 0, 0, 0, 0]).unwrap().is_empty());
    let body = kaiwudb_thrift();
    let error = thrift::decode(&body[..body.len() - 5]).unwrap_err().to_string();
    assert!(error.starts_with("span 0: bad Thrift: truncated"), "{error}");
    assert!(
        thrift::decode(&[12, 0x7f, 0, 0, 0])
            .unwrap_err()
            .to_string()
            .contains("larger than the bytes left")
    );
}

fn annotation(timestamp: i64, value: &str, service_name: &str) -> V1Annotation {
    V1Annotation {
        timestamp,
        value: value.into(),
        endpoint: service(service_name),
    }
}

#[test]
fn a_shared_v1_span_becomes_client_and_shared_server() {
    let v1 = V1Span {
        trace_id: "0000000000000001".into(),
        id: "0000000000000002".into(),
        parent_id: Some("0000000000000003".into()),
        name: "get".into(),
        annotations: vec![
            annotation(100, "cs", "frontend"),
            annotation(110, "sr", "backend"),
            annotation(190, "ss", "backend"),
            annotation(200, "cr", "frontend"),
        ],
        binary_annotations: vec![V1BinaryAnnotation {
            key: "sa".into(),
            value: V1Value::Address,
            endpoint: service("backend-db"),
        }],
        timestamp: 100,
        duration: 100,
        ..V1Span::default()
    };
    let spans = to_v2(&v1);
    assert_eq!(spans.len(), 2);
    let (client, server) = (&spans[0], &spans[1]);
    assert_eq!(
        (client.kind, client.timestamp, client.duration),
        (Some(Kind::Client), 100, 100)
    );
    assert_eq!(client.local_service(), Some("frontend"));
    assert_eq!(client.remote_service(), Some("backend-db"));
    assert!(!client.shared);
    assert_eq!(
        (server.kind, server.timestamp, server.duration),
        (Some(Kind::Server), 110, 80)
    );
    assert_eq!(server.local_service(), Some("backend"));
    assert!(server.shared);
}

#[test]
fn v1_json_server_span_without_timestamp_is_shared() {
    let body = br#"[{"traceId":"1","id":"2","name":"get","annotations":[
        {"timestamp":10,"value":"sr","endpoint":{"serviceName":"backend"}},
        {"timestamp":30,"value":"ss","endpoint":{"serviceName":"backend"}}],
        "binaryAnnotations":[{"key":"ca","value":true,"endpoint":{"serviceName":"frontend","ipv4":"10.0.0.1"}},
        {"key":"http.status_code","value":200,"endpoint":{"serviceName":"backend"}}]}]"#;
    let v1 = v1_json::decode(body).unwrap();
    let spans = to_v2(&v1[0]);
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!((span.kind, span.timestamp, span.duration), (Some(Kind::Server), 10, 20));
    assert!(span.shared);
    assert_eq!(span.remote_endpoint.as_ref().unwrap().ipv4, "10.0.0.1");
    assert_eq!(span.tags["http.status_code"], "200");
    assert!(
        v1_json::decode(br#"[{"traceId":"1"}]"#)
            .unwrap_err()
            .to_string()
            .contains("span 0: id is missing")
    );
}

fn piece(id: &str, kind: Option<Kind>, service_name: &str) -> ZipkinSpan {
    ZipkinSpan {
        trace_id: "0000000000000001".into(),
        id: id.into(),
        kind,
        local_endpoint: service(service_name),
        ..ZipkinSpan::default()
    }
}

#[test]
fn merge_joins_pieces_and_marks_the_server_half_shared() {
    let mut late = piece("00000000000000aa", Some(Kind::Client), "frontend");
    late.annotations.push(super::model::Annotation {
        timestamp: 5,
        value: "late".into(),
    });
    late.tags.insert("k".into(), "v".into());
    let mut early = piece("00000000000000aa", Some(Kind::Client), "frontend");
    early.name = "get".into();
    early.timestamp = 1;
    early.parent_id = Some("00000000000000ff".into());
    let mut server = piece("00000000000000aa", Some(Kind::Server), "backend");
    server.trace_id = "f".repeat(16) + "0000000000000001";
    let merged = merge(vec![server, late, early]);
    assert_eq!(merged.len(), 2);
    assert!(merged.iter().all(|span| span.trace_id.len() == 32));
    let client = &merged[0];
    assert_eq!((client.name.as_str(), client.timestamp), ("get", 1));
    assert_eq!(client.annotations.len(), 1);
    assert_eq!(client.tags["k"], "v");
    let server = &merged[1];
    assert_eq!(server.kind, Some(Kind::Server));
    assert!(server.shared);
    assert_eq!(server.parent_id.as_deref(), Some("00000000000000ff"));
}

proptest! {
    #[test]
    fn thrift_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = thrift::decode(&bytes);
    }

    #[test]
    fn mutated_thrift_never_panics(at in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut bytes = kaiwudb_thrift();
        let at = at % bytes.len();
        bytes[at] = byte;
        bytes.truncate(bytes.len() - cut % bytes.len());
        if let Ok(spans) = thrift::decode(&bytes) {
            for span in &spans {
                prop_assert!(!to_v2(span).is_empty());
            }
        }
    }

    #[test]
    fn proto3_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = proto3::decode(&bytes);
    }

    #[test]
    fn json_decoders_never_panic(text in "\\PC{0,200}") {
        let _ = v2_json::decode(text.as_bytes());
        let _ = v1_json::decode(text.as_bytes());
    }
}
