//! A writer of the JSON Go's `encoding/json` prints, straight into a string.
//!
//! [`crate::json`] renders events through it without building a
//! `serde_json::Value` per event: a profile of `/events/query` of 100-event
//! traces spent about three quarters of the server's time building those
//! trees (an ordered map per object, a hash per key, an allocation per
//! string) and then copying the printed text once more to apply Go's HTML
//! escaping; the store's reads were a few percent (docs/benchmarks.md).
//!
//! The output is what `serde_json`'s pretty or compact printer writes for
//! the same document, with Go's escapes: `<`, `>`, `&`, U+2028 and U+2029 as
//! `\u003c` and so on. Pretty output is `json.MarshalIndent(v, "", " ")`: one
//! space per level, `": "` after keys, `{}` and `[]` for empty containers.

use std::fmt::Write as _;

use serde_json::Value;

/// Where a document is being written, and how.
pub(crate) struct GoWriter {
    out: String,
    pretty: bool,
    /// Per open container: whether it holds a value yet.
    open: Vec<bool>,
}

impl GoWriter {
    /// A writer of indented (`pretty`) or one-line JSON.
    pub(crate) fn new(pretty: bool, capacity: usize) -> GoWriter {
        GoWriter {
            out: String::with_capacity(capacity),
            pretty,
            open: Vec::with_capacity(8),
        }
    }

    /// The document written.
    pub(crate) fn finish(self) -> String {
        self.out
    }

    /// Opens an object (as a value: after a key, in an array, or at the top).
    pub(crate) fn begin_object(&mut self) {
        self.out.push('{');
        self.open.push(false);
    }

    /// Closes the innermost object.
    pub(crate) fn end_object(&mut self) {
        self.close('}');
    }

    /// Opens an array.
    pub(crate) fn begin_array(&mut self) {
        self.out.push('[');
        self.open.push(false);
    }

    /// Closes the innermost array.
    pub(crate) fn end_array(&mut self) {
        self.close(']');
    }

    fn close(&mut self, bracket: char) {
        if self.open.pop() == Some(true) && self.pretty {
            self.newline();
        }
        self.out.push(bracket);
    }

    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.open.len() {
            self.out.push(' ');
        }
    }

    /// Before an array element or an object key: the separator and, when
    /// pretty, the line break and indentation.
    pub(crate) fn element(&mut self) {
        if let Some(held) = self.open.last_mut() {
            if std::mem::replace(held, true) {
                self.out.push(',');
            }
            if self.pretty {
                self.newline();
            }
        }
    }

    /// An object key; its value follows.
    pub(crate) fn key(&mut self, key: &str) {
        self.element();
        self.string(key);
        self.out.push_str(if self.pretty { ": " } else { ":" });
    }

    /// A key that needs no escape (a field name from the `.proto`), copied
    /// as it is; its value follows.
    pub(crate) fn field(&mut self, name: &'static str) {
        debug_assert!(!name.bytes().any(|byte| ATTENTION[usize::from(byte)]));
        self.element();
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str(if self.pretty { "\": " } else { "\":" });
    }

    /// A string value, escaped as Go escapes it.
    pub(crate) fn string(&mut self, text: &str) {
        self.out.push('"');
        escape_into(&mut self.out, text);
        self.out.push('"');
    }

    /// An integer value, written by hand: `fmt`'s machinery was a twentieth
    /// of a query's time.
    pub(crate) fn int(&mut self, value: i64) {
        if value < 0 {
            self.out.push('-');
        }
        let mut magnitude = value.unsigned_abs();
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        while let Some(digit) = start.checked_sub(1).and_then(|at| digits.get_mut(at)) {
            *digit = b'0' + (magnitude % 10) as u8;
            start -= 1;
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        let text = digits.get(start..).unwrap_or_default();
        self.out.push_str(std::str::from_utf8(text).unwrap_or_default());
    }

    /// A boolean value.
    pub(crate) fn bool(&mut self, value: bool) {
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// Any `serde_json` value, as `serde_json` prints it, with Go's escapes.
    pub(crate) fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Bool(value) => self.bool(*value),
            Value::Number(number) => self.out.push_str(&number.to_string()),
            Value::String(text) => self.string(text),
            Value::Array(items) => {
                self.begin_array();
                for item in items {
                    self.element();
                    self.value(item);
                }
                self.end_array();
            }
            Value::Object(fields) => {
                self.begin_object();
                for (key, item) in fields {
                    self.key(key);
                    self.value(item);
                }
                self.end_object();
            }
        }
    }
}

/// Bytes that may need an escape: control characters, `"`, `\\`, `<`, `>`,
/// `&`, and 0xE2, which starts U+2028 and U+2029 (and other characters).
const ATTENTION: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xe2] = true;
    table
};

/// Appends `text` escaped for inside a JSON string: `serde_json`'s escapes
/// (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as
/// `\u00XX`) and Go's (`<`, `>`, `&`, U+2028, U+2029 as `\u003c` and so on).
/// Runs needing no escape are found with a table and copied whole.
fn escape_into(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut at = 0;
    loop {
        while bytes.get(at).is_some_and(|&byte| !ATTENTION[usize::from(byte)]) {
            at += 1;
        }
        let Some(&byte) = bytes.get(at) else { break };
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            b'<' => "\\u003c",
            b'>' => "\\u003e",
            b'&' => "\\u0026",
            0x00..=0x1f => "",
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
            _ => match (bytes.get(at + 1), bytes.get(at + 2)) {
                (Some(0x80), Some(0xa8)) => "\\u2028",
                (Some(0x80), Some(0xa9)) => "\\u2029",
                // Another character starting with 0xE2: no escape.
                _ => {
                    at += 1;
                    continue;
                }
            },
        };
        // `at` is at an ASCII byte or the first byte of U+2028/U+2029: a
        // character boundary, as is `copied`.
        out.push_str(text.get(copied..at).unwrap_or_default());
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
            at += 1;
        } else {
            out.push_str(escape);
            at += if byte == 0xe2 { 3 } else { 1 };
        }
        copied = at;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
}

#[cfg(test)]
#[path = "go_json_tests.rs"]
mod tests;
