//! Renderings of a recording.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::RecordedSpan;

/// The flat listing CockroachDB's tests compare: per span `span NAME:`, then
/// `tags: k=v ...` sorted by key (when there are tags), then one line per
/// log field, `key: value`. Lines after the first of a span are indented by 4.
pub fn flat(spans: &[RecordedSpan]) -> String {
    let mut out = String::new();
    for span in spans {
        let _ = writeln!(out, "span {}:", span.operation);
        if !span.tags.is_empty() {
            let tags: Vec<String> = span.tags.iter().map(|(key, value)| format!("{key}={value}")).collect();
            let _ = writeln!(out, "    tags: {}", tags.join(" "));
        }
        for log in &span.logs {
            for (key, value) in &log.fields {
                let _ = writeln!(out, "    {key}: {value}");
            }
        }
    }
    out
}

/// Compares two flat listings ignoring indentation and blank lines, as
/// CockroachDB's `TestingCheckRecordedSpans` does.
pub fn same_listing(a: &str, b: &str) -> bool {
    let normalize = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    };
    normalize(a) == normalize(b)
}

fn millis(since: Duration) -> f64 {
    since.as_secs_f64() * 1000.0
}

/// An indented timeline: every span start and log line with the milliseconds
/// since the recording began and since the previous line; children indented
/// under their parents.
pub fn timeline(spans: &[RecordedSpan]) -> String {
    let Some(origin) = spans.iter().map(|span| span.start).min() else {
        return String::new();
    };
    let parents: HashMap<u64, u64> = spans.iter().map(|span| (span.span_id, span.parent_span_id)).collect();
    let depth = |mut id: u64| {
        let mut depth = 0;
        while let Some(&parent) = parents.get(&id) {
            if parent == 0 || depth > spans.len() {
                break;
            }
            depth += 1;
            id = parent;
        }
        depth
    };
    let mut lines: Vec<(SystemTime, usize, String)> = Vec::new();
    for span in spans {
        let indent = depth(span.span_id);
        let tags: Vec<String> = span.tags.iter().map(|(key, value)| format!("{key}={value}")).collect();
        let mut header = format!("=== {} ({:.3}ms)", span.operation, millis(span.duration));
        if !tags.is_empty() {
            header.push_str(&format!(" [{}]", tags.join(" ")));
        }
        lines.push((span.start, indent, header));
        for log in &span.logs {
            let text: Vec<String> = log
                .fields
                .iter()
                .map(|(key, value)| format!("{key}: {value}"))
                .collect();
            lines.push((log.time, indent, text.join(", ")));
        }
    }
    lines.sort_by_key(|(time, _, _)| *time);
    let mut out = String::new();
    let mut previous = origin;
    for (time, indent, text) in lines {
        let since_start = time.duration_since(origin).unwrap_or_default();
        let since_previous = time.duration_since(previous).unwrap_or_default();
        previous = time;
        let _ = writeln!(
            out,
            "{:>10.3}ms {:>10.3}ms    {}{text}",
            millis(since_start),
            millis(since_previous),
            "    ".repeat(indent)
        );
    }
    out
}
