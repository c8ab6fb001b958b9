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
use serde_json::Value;

use crate::TraceEvent;
use crate::go_json::GoWriter;
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
    /// Events per kind.
    pub kinds: KindCountsJson,
}

/// A trace's events counted by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindCountsJson {
    /// DM binlog events.
    pub binlog: u64,
    /// DM job events.
    pub job: u64,
    /// Span events (Zipkin, OTLP, the span tracer).
    pub span: u64,
}

/// A page of trace summaries and the cursor of the next page, if any.
pub fn trace_page_value<'a>(traces: impl IntoIterator<Item = TraceSummaryJson<'a>>, next: Option<String>) -> Value {
    let traces: Vec<Value> = traces
        .into_iter()
        .map(|summary| serde_json::to_value(summary).unwrap_or(Value::Null))
        .collect();
    serde_json::json!({ "traces": traces, "next": next })
}

/// Bytes reserved per event for its printed form (a DM job event with its
/// SQL prints in about 700), so the output buffer rarely grows.
const BYTES_PER_EVENT: usize = 1024;

/// A JSON array of events, in the given order, as dm-tracer's
/// `json.MarshalIndent(events, "", " ")` printed it (`/events/query`).
pub fn events_go_string<'a>(events: impl IntoIterator<Item = &'a TraceEvent>) -> String {
    let events = events.into_iter();
    let mut writer = GoWriter::new(true, events.size_hint().0.saturating_mul(BYTES_PER_EVENT));
    write_events(&mut writer, events);
    writer.finish()
}

/// A JSON array of traces, each the array of its events (`/events/scan`).
pub fn traces_go_string<'a, T: IntoIterator<Item = &'a TraceEvent>>(traces: impl IntoIterator<Item = T>) -> String {
    let mut writer = GoWriter::new(true, BYTES_PER_EVENT);
    writer.begin_array();
    for events in traces {
        writer.element();
        write_events(&mut writer, events);
    }
    writer.end_array();
    writer.finish()
}

/// One event on one line, `{"type":N,"event":{...}}`, with a `trace_id`
/// field first when given (the dump tool's JSON Lines export).
pub fn event_go_line(event: &TraceEvent, trace_id: Option<&str>) -> String {
    let mut writer = GoWriter::new(false, BYTES_PER_EVENT);
    writer.begin_object();
    if let Some(trace_id) = trace_id {
        writer.field("trace_id");
        writer.string(trace_id);
    }
    write_event_fields(&mut writer, event);
    writer.end_object();
    writer.finish()
}

fn write_events<'a>(writer: &mut GoWriter, events: impl IntoIterator<Item = &'a TraceEvent>) {
    writer.begin_array();
    for event in events {
        writer.element();
        writer.begin_object();
        write_event_fields(writer, event);
        writer.end_object();
    }
    writer.end_array();
}

/// `"type": N, "event": {...}`: one event's fields as dm-tracer's
/// `TraceEvent` printed them.
fn write_event_fields(writer: &mut GoWriter, event: &TraceEvent) {
    // dm-tracer's wrapper has no `omitempty`: the type is always printed.
    writer.field("type");
    writer.int(i64::from(event.kind().code()));
    writer.field("event");
    match event {
        TraceEvent::Binlog(event) => binlog_event(writer, event),
        TraceEvent::Job(event) => job_event(writer, event),
        TraceEvent::Span(event) => span_event(writer, event),
    }
}

/// Renders a value as Go's `json.MarshalIndent(v, "", " ")` does.
pub fn to_go_string(value: &Value) -> String {
    let mut writer = GoWriter::new(true, 256);
    writer.value(value);
    writer.finish()
}

/// Renders a value on one line, with Go's escaping (for JSON Lines output).
pub fn to_go_line(value: &Value) -> String {
    let mut writer = GoWriter::new(false, 256);
    writer.value(value);
    writer.finish()
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

/// An object being written, field by field, with Go's `omitempty` rules: a
/// field holding its zero value is left out.
struct GoObject<'w> {
    writer: &'w mut GoWriter,
}

impl<'w> GoObject<'w> {
    fn open(writer: &'w mut GoWriter) -> Self {
        writer.begin_object();
        GoObject { writer }
    }

    fn string(self, key: &'static str, value: &str) -> Self {
        if !value.is_empty() {
            self.writer.field(key);
            self.writer.string(value);
        }
        self
    }

    fn int(self, key: &'static str, value: impl Into<i64>) -> Self {
        let value = value.into();
        if value != 0 {
            self.writer.field(key);
            self.writer.int(value);
        }
        self
    }

    fn uint(self, key: &'static str, value: u32) -> Self {
        self.int(key, value)
    }

    fn bool(self, key: &'static str, value: bool) -> Self {
        if value {
            self.writer.field(key);
            self.writer.bool(true);
        }
        self
    }

    fn bytes(self, key: &'static str, value: &[u8]) -> Self {
        if !value.is_empty() {
            self.writer.field(key);
            self.writer.string(&base64(value));
        }
        self
    }

    fn strings(self, key: &'static str, values: &[String]) -> Self {
        self.list(key, values, |writer, value| writer.string(value))
    }

    fn map(self, key: &'static str, map: &std::collections::BTreeMap<String, String>) -> Self {
        if !map.is_empty() {
            self.writer.field(key);
            self.writer.begin_object();
            for (key, value) in map {
                self.writer.key(key);
                self.writer.string(value);
            }
            self.writer.end_object();
        }
        self
    }

    fn list<T>(self, key: &'static str, items: &[T], render: impl Fn(&mut GoWriter, &T)) -> Self {
        if !items.is_empty() {
            self.writer.field(key);
            self.writer.begin_array();
            for item in items {
                self.writer.element();
                render(self.writer, item);
            }
            self.writer.end_array();
        }
        self
    }

    fn message<T>(self, key: &'static str, value: Option<&T>, render: impl Fn(&mut GoWriter, &T)) -> Self {
        if let Some(value) = value {
            self.writer.field(key);
            render(self.writer, value);
        }
        self
    }

    fn close(self) {
        self.writer.end_object();
    }
}

fn base_event(writer: &mut GoWriter, base: &pb::BaseEvent) {
    GoObject::open(writer)
        .string("filename", &base.filename)
        .int("line", base.line)
        .int("tso", base.tso)
        .string("traceID", &base.trace_id)
        .string("groupID", &base.group_id)
        .int("type", base.r#type)
        .close();
}

fn mysql_position(writer: &mut GoWriter, position: &pb::MySqlPosition) {
    GoObject::open(writer)
        .string("name", &position.name)
        .uint("pos", position.pos)
        .close();
}

fn syncer_state(writer: &mut GoWriter, state: &pb::SyncerState) {
    GoObject::open(writer)
        .bool("safeMode", state.safe_mode)
        .bool("tryReSync", state.try_re_sync)
        .message("lastPos", state.last_pos.as_ref(), mysql_position)
        .message("currentPos", state.current_pos.as_ref(), mysql_position)
        .close();
}

fn exec_ddl_info(writer: &mut GoWriter, info: &pb::ExecDdlInfo) {
    GoObject::open(writer)
        .string("lockID", &info.lock_id)
        .bool("exec", info.exec)
        .close();
}

fn binlog_event(writer: &mut GoWriter, event: &pb::SyncerBinlogEvent) {
    GoObject::open(writer)
        .message("base", event.base.as_ref(), base_event)
        .message("state", event.state.as_ref(), syncer_state)
        .int("eventType", event.event_type)
        .int("opType", event.op_type)
        .close();
}

fn job_event(writer: &mut GoWriter, event: &pb::SyncerJobEvent) {
    GoObject::open(writer)
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
        .close();
}

fn span_log_field(writer: &mut GoWriter, field: &pb::SpanLogField) {
    GoObject::open(writer)
        .string("key", &field.key)
        .string("value", &field.value)
        .close();
}

fn span_log(writer: &mut GoWriter, log: &pb::SpanLog) {
    GoObject::open(writer)
        .int("time", log.time)
        .list("fields", &log.fields, span_log_field)
        .close();
}

fn span_event(writer: &mut GoWriter, event: &pb::Span) {
    // The OTLP form as it arrived, with the attributes stored once in `tags`
    // put back (or as stored, if that note is damaged: shown, not hidden).
    let otlp = event
        .otlp_form()
        .unwrap_or(std::borrow::Cow::Borrowed(event.otlp.as_slice()));
    GoObject::open(writer)
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
        .close();
}

fn endpoint(writer: &mut GoWriter, endpoint: &pb::Endpoint) {
    GoObject::open(writer)
        .string("serviceName", &endpoint.service_name)
        .string("ipv4", &endpoint.ipv4)
        .string("ipv6", &endpoint.ipv6)
        .int("port", endpoint.port)
        .close();
}

fn span_annotation(writer: &mut GoWriter, annotation: &pb::SpanAnnotation) {
    GoObject::open(writer)
        .int("time", annotation.time)
        .string("value", &annotation.value)
        .close();
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
        assert_eq!(event_go_line(&span, None), r#"{"type":3,"event":{"otlp":"CgA="}}"#);
        let plain = TraceEvent::Span(pb::Span::default());
        assert_eq!(event_go_line(&plain, None), r#"{"type":3,"event":{}}"#);
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
        let expected = r#"[
 {
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
 }
]"#;
        assert_eq!(events_go_string([&event]), expected);
        // The one-line form is the same document.
        let printed = event_go_line(&event, None);
        let line: Value = serde_json::from_str(&printed).expect("a JSON line"); // ok: test code, our own writer's line
        assert_eq!(to_go_string(&Value::Array(vec![line])), expected);
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
        let line = event_go_line(&event, None);
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
            event_go_line(&event, None),
            concat!(
                r#"{"type":3,"event":{"base":{"tso":5,"traceID":"00000000000000ff","type":3},"spanID":"0000000000000001","#,
                r#""operation":"txn","duration":1500,"tags":{"a":"","z":"1"},"logs":[{"time":7,"fields":[{"key":"x","value":"2"}]}]}}"#
            )
        );
    }

    #[test]
    fn an_empty_event_prints_only_its_type() {
        let event = TraceEvent::Job(pb::SyncerJobEvent::default());
        assert_eq!(event_go_line(&event, None), r#"{"type":2,"event":{}}"#);
        assert_eq!(events_go_string([]), "[]");
        assert_eq!(traces_go_string(Vec::<Vec<&TraceEvent>>::new()), "[]");
        assert_eq!(
            traces_go_string([vec![&event], vec![]]),
            "[\n [\n  {\n   \"type\": 2,\n   \"event\": {}\n  }\n ],\n []\n]"
        );
        assert_eq!(
            event_go_line(&event, Some("t<1")),
            r#"{"trace_id":"t\u003c1","type":2,"event":{}}"#
        );
    }
}
