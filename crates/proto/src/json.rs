//! The JSON dm-tracer printed for events.
//!
//! dm-tracer ran Go's `encoding/json` over the generated protobuf structs, and
//! DM's own tools parse that output, so it is reproduced exactly:
//! - keys are the `.proto` field names (`traceID`, `safeMode`, ...), in field order;
//! - int64 and enum values are plain JSON numbers;
//! - a field holding its zero value (0, false, "", empty list, absent message)
//!   is left out (`omitempty`); a present but empty message prints as `{}`;
//! - documents are indented by one space (`json.MarshalIndent(v, "", " ")`) and
//!   `<`, `>`, `&`, U+2028 and U+2029 are escaped as `\u003c` and so on, as Go does.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::TraceEvent;
use crate::pb;

/// One trace's summary in a listing (`/api/tracekeep/traces`, `tracekeep-dump list --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceSummaryJson<'a> {
    /// The trace ID.
    pub trace_id: &'a str,
    /// Its first-seen cursor, as text.
    pub cursor: String,
    /// Events stored.
    pub events: u64,
    /// The smallest event TSO (0: none set).
    pub first_tso: i64,
    /// The largest event TSO.
    pub last_tso: i64,
}

/// A page of trace summaries and the cursor of the next page, if any.
pub fn trace_page_value<'a>(traces: impl IntoIterator<Item = TraceSummaryJson<'a>>, next: Option<String>) -> Value {
    let traces: Vec<Value> = traces
        .into_iter()
        .map(|summary| serde_json::to_value(summary).unwrap_or(Value::Null))
        .collect();
    serde_json::json!({ "traces": traces, "next": next })
}

/// `{"type": N, "event": {...}}`: one event as dm-tracer's `TraceEvent` printed it.
pub fn event_value(event: &TraceEvent) -> Value {
    let body = match event {
        TraceEvent::Binlog(event) => binlog_event(event),
        TraceEvent::Job(event) => job_event(event),
        TraceEvent::Span(event) => span_event(event),
    };
    let mut object = Map::new();
    // dm-tracer's wrapper has no `omitempty`: the type is always printed.
    object.insert("type".into(), Value::from(event.kind().code()));
    object.insert("event".into(), body);
    Value::Object(object)
}

/// A JSON array of events, in the given order.
pub fn events_value<'a>(events: impl IntoIterator<Item = &'a TraceEvent>) -> Value {
    Value::Array(events.into_iter().map(event_value).collect())
}

/// Renders a value as Go's `json.MarshalIndent(v, "", " ")` does.
pub fn to_go_string(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if value.serialize(&mut serializer).is_err() {
        // Serializing a `Value` into memory cannot fail; stay total anyway.
        return String::from("null");
    }
    go_html_escape(&String::from_utf8_lossy(&out))
}

/// Renders a value on one line, with Go's escaping (for JSON Lines output).
pub fn to_go_line(value: &Value) -> String {
    go_html_escape(&value.to_string())
}

/// Go escapes these inside every string; outside strings they cannot occur in JSON.
fn go_html_escape(json: &str) -> String {
    let mut escaped = String::with_capacity(json.len());
    for ch in json.chars() {
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

/// Standard base64 with padding (RFC 4648), as Go's `encoding/json` writes
/// a `[]byte` and OTLP's JSON writes `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (index, &byte)| word | u32::from(byte) << (16 - 8 * index));
        for position in 0..4 {
            if position <= chunk.len() {
                let sextet = (word >> (18 - 6 * position)) & 0x3f;
                text.push(char::from(ALPHABET[sextet as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// An object builder that applies Go's `omitempty` rules.
#[derive(Default)]
struct GoObject(Map<String, Value>);

impl GoObject {
    fn string(mut self, key: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.0.insert(key.into(), Value::from(value));
        }
        self
    }

    fn int(mut self, key: &str, value: impl Into<i64>) -> Self {
        let value = value.into();
        if value != 0 {
            self.0.insert(key.into(), Value::from(value));
        }
        self
    }

    fn uint(mut self, key: &str, value: u32) -> Self {
        if value != 0 {
            self.0.insert(key.into(), Value::from(value));
        }
        self
    }

    fn bool(mut self, key: &str, value: bool) -> Self {
        if value {
            self.0.insert(key.into(), Value::from(true));
        }
        self
    }

    fn bytes(mut self, key: &str, value: &[u8]) -> Self {
        if !value.is_empty() {
            self.0.insert(key.into(), Value::from(base64(value)));
        }
        self
    }

    fn strings(mut self, key: &str, values: &[String]) -> Self {
        if !values.is_empty() {
            self.0.insert(key.into(), Value::from(values.to_vec()));
        }
        self
    }

    fn map(mut self, key: &str, map: &std::collections::BTreeMap<String, String>) -> Self {
        if !map.is_empty() {
            let object = map
                .iter()
                .map(|(key, value)| (key.clone(), Value::from(value.as_str())));
            self.0.insert(key.into(), Value::Object(object.collect()));
        }
        self
    }

    fn list<T>(mut self, key: &str, items: &[T], render: impl Fn(&T) -> Value) -> Self {
        if !items.is_empty() {
            self.0
                .insert(key.into(), Value::Array(items.iter().map(render).collect()));
        }
        self
    }

    fn message<T>(mut self, key: &str, value: Option<&T>, render: impl Fn(&T) -> Value) -> Self {
        if let Some(value) = value {
            self.0.insert(key.into(), render(value));
        }
        self
    }

    fn build(self) -> Value {
        Value::Object(self.0)
    }
}

fn base_event(base: &pb::BaseEvent) -> Value {
    GoObject::default()
        .string("filename", &base.filename)
        .int("line", base.line)
        .int("tso", base.tso)
        .string("traceID", &base.trace_id)
        .string("groupID", &base.group_id)
        .int("type", base.r#type)
        .build()
}

fn mysql_position(position: &pb::MySqlPosition) -> Value {
    GoObject::default()
        .string("name", &position.name)
        .uint("pos", position.pos)
        .build()
}

fn syncer_state(state: &pb::SyncerState) -> Value {
    GoObject::default()
        .bool("safeMode", state.safe_mode)
        .bool("tryReSync", state.try_re_sync)
        .message("lastPos", state.last_pos.as_ref(), mysql_position)
        .message("currentPos", state.current_pos.as_ref(), mysql_position)
        .build()
}

fn exec_ddl_info(info: &pb::ExecDdlInfo) -> Value {
    GoObject::default()
        .string("lockID", &info.lock_id)
        .bool("exec", info.exec)
        .build()
}

fn binlog_event(event: &pb::SyncerBinlogEvent) -> Value {
    GoObject::default()
        .message("base", event.base.as_ref(), base_event)
        .message("state", event.state.as_ref(), syncer_state)
        .int("eventType", event.event_type)
        .int("opType", event.op_type)
        .build()
}

fn job_event(event: &pb::SyncerJobEvent) -> Value {
    GoObject::default()
        .message("base", event.base.as_ref(), base_event)
        .int("opType", event.op_type)
        .message("pos", event.pos.as_ref(), mysql_position)
        .message("currentPos", event.current_pos.as_ref(), mysql_position)
        .string("sql", &event.sql)
        .strings("ddls", &event.ddls)
        .uint("argsChecksum", event.args_checksum)
        .message("ddlInfo", event.ddl_info.as_ref(), exec_ddl_info)
        .string("queueBucket", &event.queue_bucket)
        .int("state", event.state)
        .build()
}

fn span_log_field(field: &pb::SpanLogField) -> Value {
    GoObject::default()
        .string("key", &field.key)
        .string("value", &field.value)
        .build()
}

fn span_log(log: &pb::SpanLog) -> Value {
    GoObject::default()
        .int("time", log.time)
        .list("fields", &log.fields, span_log_field)
        .build()
}

fn span_event(event: &pb::Span) -> Value {
    // The OTLP form as it arrived, with the attributes stored once in `tags`
    // put back (or as stored, if that note is damaged: shown, not hidden).
    let otlp = event
        .otlp_form()
        .unwrap_or(std::borrow::Cow::Borrowed(event.otlp.as_slice()));
    GoObject::default()
        .message("base", event.base.as_ref(), base_event)
        .string("spanID", &event.span_id)
        .string("parentSpanID", &event.parent_span_id)
        .string("operation", &event.operation)
        .int("duration", event.duration)
        .map("tags", &event.tags)
        .list("logs", &event.logs, span_log)
        .map("baggage", &event.baggage)
        .int("kind", event.kind)
        .message("localEndpoint", event.local_endpoint.as_ref(), endpoint)
        .message("remoteEndpoint", event.remote_endpoint.as_ref(), endpoint)
        .list("annotations", &event.annotations, span_annotation)
        .bool("debug", event.debug)
        .bool("shared", event.shared)
        .bytes("otlp", &otlp)
        .build()
}

fn endpoint(endpoint: &pb::Endpoint) -> Value {
    GoObject::default()
        .string("serviceName", &endpoint.service_name)
        .string("ipv4", &endpoint.ipv4)
        .string("ipv6", &endpoint.ipv6)
        .int("port", endpoint.port)
        .build()
}

fn span_annotation(annotation: &pb::SpanAnnotation) -> Value {
    GoObject::default()
        .int("time", annotation.time)
        .string("value", &annotation.value)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(trace_id: &str) -> Option<pb::BaseEvent> {
        Some(pb::BaseEvent {
            filename: "syncer.go".into(),
            line: 1130,
            tso: 1_552_371_525_597_270_410,
            trace_id: trace_id.into(),
            r#type: pb::TraceType::BinlogEvent as i32,
            ..Default::default()
        })
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (bytes, expected) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0x00], "//4A"),
        ] {
            assert_eq!(base64(bytes), expected);
        }
    }

    #[test]
    fn a_spans_otlp_form_prints_as_base64_like_a_go_byte_slice() {
        let span = TraceEvent::Span(pb::Span {
            otlp: vec![0x0a, 0x00],
            ..Default::default()
        });
        assert_eq!(event_value(&span)["event"]["otlp"], "CgA=");
        let plain = TraceEvent::Span(pb::Span::default());
        assert!(event_value(&plain)["event"].get("otlp").is_none());
    }

    #[test]
    fn binlog_event_prints_like_dm_tracer() {
        let event = TraceEvent::Binlog(pb::SyncerBinlogEvent {
            base: base("mysql-replica-01.syncer.test.1"),
            state: Some(pb::SyncerState {
                safe_mode: true,
                try_re_sync: false,
                last_pos: Some(pb::MySqlPosition {
                    name: "bin|000001.000004".into(),
                    pos: 68073,
                }),
                current_pos: None,
            }),
            event_type: 4,
            op_type: 0,
        });
        let expected = r#"{
 "type": 1,
 "event": {
  "base": {
   "filename": "syncer.go",
   "line": 1130,
   "tso": 1552371525597270410,
   "traceID": "mysql-replica-01.syncer.test.1",
   "type": 1
  },
  "state": {
   "safeMode": true,
   "lastPos": {
    "name": "bin|000001.000004",
    "pos": 68073
   }
  },
  "eventType": 4
 }
}"#;
        assert_eq!(to_go_string(&event_value(&event)), expected);
    }

    #[test]
    fn job_event_omits_zero_values_and_keeps_present_empty_messages() {
        let event = TraceEvent::Job(pb::SyncerJobEvent {
            base: base("t"),
            pos: Some(pb::MySqlPosition::default()),
            sql: "SELECT a FROM t WHERE a < 1 && b > 2".into(),
            ddls: vec!["CREATE TABLE t (a INT)".into()],
            args_checksum: 7,
            ddl_info: Some(pb::ExecDdlInfo {
                lock_id: "lock-1".into(),
                exec: true,
            }),
            queue_bucket: "q_3".into(),
            state: pb::SyncerJobState::Success as i32,
            ..Default::default()
        });
        let line = to_go_line(&event_value(&event));
        assert_eq!(
            line,
            concat!(
                r#"{"type":2,"event":{"base":{"filename":"syncer.go","line":1130,"tso":1552371525597270410,"traceID":"t","type":1},"#,
                r#""pos":{},"sql":"SELECT a FROM t WHERE a \u003c 1 \u0026\u0026 b \u003e 2","ddls":["CREATE TABLE t (a INT)"],"#,
                r#""argsChecksum":7,"ddlInfo":{"lockID":"lock-1","exec":true},"queueBucket":"q_3","state":2}}"#
            )
        );
    }

    #[test]
    fn span_events_print_their_maps_sorted_and_logs_in_order() {
        let event = TraceEvent::Span(pb::Span {
            base: Some(pb::BaseEvent {
                trace_id: "00000000000000ff".into(),
                tso: 5,
                r#type: pb::TraceType::SpanEvent as i32,
                ..Default::default()
            }),
            span_id: "0000000000000001".into(),
            operation: "txn".into(),
            duration: 1500,
            tags: [("z".to_owned(), "1".to_owned()), ("a".to_owned(), String::new())].into(),
            logs: vec![pb::SpanLog {
                time: 7,
                fields: vec![pb::SpanLogField {
                    key: "x".into(),
                    value: "2".into(),
                }],
            }],
            ..Default::default()
        });
        assert_eq!(
            to_go_line(&event_value(&event)),
            concat!(
                r#"{"type":3,"event":{"base":{"tso":5,"traceID":"00000000000000ff","type":3},"spanID":"0000000000000001","#,
                r#""operation":"txn","duration":1500,"tags":{"a":"","z":"1"},"logs":[{"time":7,"fields":[{"key":"x","value":"2"}]}]}}"#
            )
        );
    }

    #[test]
    fn an_empty_event_prints_only_its_type() {
        let event = TraceEvent::Job(pb::SyncerJobEvent::default());
        assert_eq!(to_go_line(&event_value(&event)), r#"{"type":2,"event":{}}"#);
        assert_eq!(to_go_string(&events_value([])), "[]");
    }
}
