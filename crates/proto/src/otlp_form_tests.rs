use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use proptest::prelude::*;
use prost::Message as _;

use super::*;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn number(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// The tags a Zipkin view makes of `attributes`: text, a later key wins.
fn tags_of(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|attribute| {
            let value = match attribute.value.as_ref().and_then(|value| value.value.as_ref()) {
                Some(any_value::Value::StringValue(text)) => text.clone(),
                Some(any_value::Value::IntValue(number)) => number.to_string(),
                _ => String::new(),
            };
            (attribute.key.clone(), value)
        })
        .collect()
}

fn span_with(attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "get /orders".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_001_000_000,
        attributes,
        ..Default::default()
    }
}

/// `span_bytes` framed as the server frames a stored span.
fn framed(span_bytes: &[u8]) -> Vec<u8> {
    let mut scope_spans = ScopeSpans {
        scope: Some(InstrumentationScope {
            name: "lib".into(),
            version: "1.0".into(),
            ..Default::default()
        }),
        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        ..Default::default()
    }
    .encode_to_vec();
    push_delimited_head(&mut scope_spans, SPANS, span_bytes.len());
    scope_spans.extend_from_slice(span_bytes);
    let mut resource_spans = ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", "frontend")],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    push_delimited_head(&mut resource_spans, SCOPE_SPANS, scope_spans.len());
    resource_spans.extend_from_slice(&scope_spans);
    resource_spans
}

/// Elides, frames and restores `span`; returns the elided pairs.
fn round_trip(span: &Span, tags: &BTreeMap<String, String>) -> Vec<u32> {
    let whole = span.encode_to_vec();
    let Some(elided) = elide_tag_attributes(&whole, tags) else {
        return Vec::new();
    };
    assert!(elided.span.len() < whole.len());
    let restored = restore(&framed(&elided.span), &elided.from_tags, tags).expect("restores");
    assert_eq!(
        restored,
        framed(&whole),
        "the restored form is the form that arrived, byte for byte"
    );
    let decoded = ResourceSpans::decode(restored.as_slice()).expect("decodes");
    assert_eq!(decoded.scope_spans[0].spans[0], *span);
    elided.from_tags
}

#[test]
fn string_attributes_held_by_the_tags_are_left_out_and_put_back_in_place() {
    let span = span_with(vec![
        text("http.method", "GET"),
        number("http.status_code", 200),
        text("db.statement", "SELECT 1"),
        text("empty", ""),
    ]);
    let tags = tags_of(&span.attributes);
    let from_tags = round_trip(&span, &tags);
    // Places count every field of the span: trace ID, span ID, name, start,
    // end come first; the integer attribute stays.
    assert_eq!(from_tags, vec![5, 2, 7, 0, 8, 1]);
}

#[test]
fn an_attribute_whose_tag_a_later_one_overwrote_is_kept() {
    let span = span_with(vec![
        text("k", "first"),
        text("same", "v"),
        text("k", "second"),
        text("same", "v"),
    ]);
    let tags = tags_of(&span.attributes);
    assert_eq!(tags["k"], "second");
    let from_tags = round_trip(&span, &tags);
    // "k" = "first" stays, and so does the second "same": a tag stands in
    // for one attribute at most.
    assert_eq!(from_tags, vec![6, 1, 7, 0]);
}

#[test]
fn a_span_without_such_attributes_is_not_changed() {
    let span = span_with(vec![number("n", 1)]);
    assert_eq!(
        elide_tag_attributes(&span.encode_to_vec(), &tags_of(&span.attributes)),
        None
    );
    let span = span_with(vec![text("k", "v")]);
    assert_eq!(elide_tag_attributes(&span.encode_to_vec(), &BTreeMap::new()), None);
    assert_eq!(
        elide_tag_attributes(&[0x4a, 0x05, 0x0a], &BTreeMap::new()),
        None,
        "truncated"
    );
}

#[test]
fn an_attribute_encoded_otherwise_is_kept() {
    let tags = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    // KeyValue { key: "k", value: AnyValue { string_value: "v" }, unknown field 7 = 1 }.
    let extra = [0x4a, 0x0a, 0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, b'v', 0x38, 0x01];
    assert_eq!(elide_tag_attributes(&extra, &tags), None);
    // The same with a two-byte length where one byte does.
    let long_length = [0x4a, 0x08, 0x0a, 0x01, b'k', 0x12, 0x83, 0x00, 0x0a, 0x01, b'v'];
    assert_eq!(elide_tag_attributes(&long_length, &tags), None);
    // The canonical form is left out.
    let canonical = [0x4a, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, b'v'];
    assert_eq!(
        elide_tag_attributes(&canonical, &tags),
        Some(Elided {
            span: Vec::new(),
            from_tags: vec![0, 0]
        })
    );
}

#[test]
fn a_damaged_note_is_an_error_not_a_panic() {
    let span = span_with(vec![text("k", "v")]);
    let tags = tags_of(&span.attributes);
    let elided = elide_tag_attributes(&span.encode_to_vec(), &tags).expect("elides");
    let form = framed(&elided.span);
    assert!(restore(&form, &[5], &tags).is_err(), "odd count");
    assert!(restore(&form, &[5, 1], &tags).is_err(), "no such tag");
    assert!(restore(&form, &[9, 0], &tags).is_err(), "past the fields");
    assert!(restore(&form, &[5, 0, 6, 0], &tags).is_err(), "one tag named twice");
    assert!(
        restore(&form[..form.len() - 1], &elided.from_tags, &tags).is_err(),
        "truncated"
    );
    let mut two_spans = form.clone();
    two_spans.extend_from_slice(&form);
    assert!(
        restore(&two_spans, &elided.from_tags, &tags).is_err(),
        "two resources, two spans"
    );
    assert!(restore(&form, &elided.from_tags, &tags).is_ok());
}

#[test]
fn a_span_without_a_note_is_its_stored_form() {
    let span = pb::Span {
        otlp: vec![1, 2, 3],
        ..Default::default()
    };
    assert_eq!(span.otlp_form().expect("borrowed").as_ref(), &[1, 2, 3]);
}

fn attribute() -> impl Strategy<Value = KeyValue> {
    (
        prop::sample::select(vec!["", "a", "b", "http.url", "é"]),
        prop::option::of("[a-z/é]{0,12}"),
        any::<i64>(),
    )
        .prop_map(|(key, text_value, number_value)| match text_value {
            Some(value) => text(key, &value),
            None => number(key, number_value),
        })
}

proptest! {
    #[test]
    fn any_attributes_round_trip_exactly(attributes in prop::collection::vec(attribute(), 0..12)) {
        let span = span_with(attributes);
        let tags = tags_of(&span.attributes);
        round_trip(&span, &tags);
    }
}
