use proptest::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::*;

/// What the writer replaced: `serde_json`'s printer, then Go's escapes
/// applied to the whole text (outside strings those characters cannot occur).
fn reference(value: &Value, pretty: bool) -> String {
    let mut out = Vec::new();
    if pretty {
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        value.serialize(&mut serializer).expect("serialize into memory");
    } else {
        serde_json::to_writer(&mut out, value).expect("serialize into memory");
    }
    let text = String::from_utf8(out).expect("serde_json writes UTF-8");
    let mut escaped = String::new();
    for ch in text.chars() {
        match ch {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn written(value: &Value, pretty: bool) -> String {
    let mut writer = GoWriter::new(pretty, 0);
    writer.value(value);
    writer.finish()
}

#[test]
fn every_character_that_needs_an_escape_gets_the_reference_one() {
    let mut text: String = (0u32..0x80).filter_map(char::from_u32).collect();
    text.push_str("\u{2027}\u{2028}\u{2029}\u{202a}é€😀 tail");
    for pretty in [false, true] {
        let value = json!({ "k<&>": [text.clone(), "", "\u{2028}"] });
        assert_eq!(written(&value, pretty), reference(&value, pretty));
    }
}

#[test]
fn empty_and_nested_containers_print_as_the_reference_does() {
    let value = json!([{}, [], {"a": {"b": [1, -2, 3.5, true, false, null]}, "c": []}, [[{}]]]);
    for pretty in [false, true] {
        assert_eq!(written(&value, pretty), reference(&value, pretty));
    }
    assert_eq!(written(&json!([]), true), "[]");
    assert_eq!(written(&json!({"a": 1}), true), "{\n \"a\": 1\n}");
}

fn values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[<>&\"\\\\\u{2028}\u{2029}\n\t a-z]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_document_prints_as_the_reference_does(value in values(), pretty in any::<bool>()) {
        prop_assert_eq!(written(&value, pretty), reference(&value, pretty));
    }
}

#[test]
fn integers_print_as_rust_prints_them() {
    for value in [0, 7, -1, 10, -10, 1_552_371_525_597_270_410, i64::MAX, i64::MIN] {
        let mut writer = GoWriter::new(false, 0);
        writer.int(value);
        assert_eq!(writer.finish(), value.to_string());
    }
}

#[test]
fn field_names_print_as_escaped_keys_would() {
    for pretty in [false, true] {
        let mut by_field = GoWriter::new(pretty, 0);
        let mut by_key = GoWriter::new(pretty, 0);
        for writer in [&mut by_field, &mut by_key] {
            writer.begin_object();
        }
        by_field.field("traceID");
        by_key.key("traceID");
        for writer in [&mut by_field, &mut by_key] {
            writer.bool(true);
            writer.end_object();
        }
        assert_eq!(by_field.finish(), by_key.finish());
    }
}
