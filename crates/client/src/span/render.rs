//! Renderings of a recording, line for line as CockroachDB/KaiwuDB's Go
//! tracer renders them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use super::RecordedSpan;

/// Each span's depth: how many of its ancestors are in the recording.
fn depths(spans: &[RecordedSpan]) -> impl Fn(u64) -> usize {
    let parents: HashMap<u64, u64> = spans.iter().map(|span| (span.span_id, span.parent_span_id)).collect();
    let limit = spans.len();
    move |span_id| {
        let mut depth = 0;
        let mut id = span_id;
        // Go walks parent links until one is missing; the limit guards a cycle.
        while let Some(&parent) = parents.get(&id) {
            if !parents.contains_key(&parent) || depth > limit {
                break;
            }
            depth += 1;
            id = parent;
        }
        depth
    }
}

/// A log entry's fields on one line, each `key: value` after four spaces
/// (Go's `TestingCheckRecordedSpans` rows).
fn listing_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("    {key}: {value}"))
        .collect()
}

/// The listing CockroachDB's `TestingCheckRecordedSpans` compares: per span
/// `span NAME:`, then `    tags: k=v ...` sorted by key (when it has tags),
/// then one row per log entry; every row indented by 4 spaces per ancestor
/// in the recording.
pub fn flat(spans: &[RecordedSpan]) -> String {
    let depth = depths(spans);
    let mut rows = Vec::new();
    for span in spans {
        let indent = "    ".repeat(depth(span.span_id));
        rows.push(format!("{indent}span {}:", span.operation));
        if !span.tags.is_empty() {
            let tags: Vec<String> = span.tags.iter().map(|(key, value)| format!("{key}={value}")).collect();
            rows.push(format!("{indent}    tags: {}", tags.join(" ")));
        }
        for log in &span.logs {
            rows.push(format!("{indent}{}", listing_fields(&log.fields)));
        }
    }
    rows.join("\n")
}

/// Go's normalisation of a listing before comparing: leading newlines and
/// trailing whitespace dropped, tabs as 4 spaces, every line outdented by the
/// first line's indentation. Relative indentation (depth) still counts.
fn normalize_listing(text: &str) -> String {
    let text = text.trim_start_matches('\n').trim_end_matches(['\n', '\t', ' ']);
    let text = text.replace('\t', "    ");
    let indent_len = text.len() - text.trim_start_matches(' ').len();
    let indent = " ".repeat(indent_len);
    text.split('\n')
        .map(|line| line.strip_prefix(indent.as_str()).unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether two listings are the same after Go's normalisation.
pub fn same_listing(a: &str, b: &str) -> bool {
    normalize_listing(a) == normalize_listing(b)
}

/// One line of [`recording_string`].
struct Line {
    time: SystemTime,
    depth: usize,
    /// Milliseconds since the previous line; 0 when there is none.
    since_previous: f64,
    text: String,
}

/// `later - earlier` in milliseconds, negative when `later` is earlier.
fn millis_between(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(after) => after.as_secs_f64() * 1000.0,
        Err(before) => -before.duration().as_secs_f64() * 1000.0,
    }
}

/// A span's own lines (start, then logs) merged with its children's blocks,
/// each child's block placed at its start time (Go's `visitSpan`).
fn visit(spans: &[RecordedSpan], span: &RecordedSpan, depth: usize) -> Vec<Line> {
    let mut header = format!("=== operation:{}", span.operation);
    for (key, value) in &span.tags {
        let _ = write!(header, " {key}:{value}");
    }
    let mut own = vec![Line {
        time: span.start,
        depth,
        since_previous: 0.0,
        text: header,
    }];
    for log in &span.logs {
        let previous = own.last().map_or(span.start, |line| line.time);
        let fields: Vec<String> = log.fields.iter().map(|(key, value)| format!("{key}:{value}")).collect();
        own.push(Line {
            time: log.time,
            depth,
            since_previous: millis_between(log.time, previous),
            text: fields.join(" "),
        });
    }
    let mut children: Vec<Vec<Line>> = spans
        .iter()
        .filter(|other| other.parent_span_id == span.span_id && other.span_id != span.span_id)
        .map(|child| visit(spans, child, depth + 1))
        .filter(|block| !block.is_empty())
        .collect();

    let mut merged: Vec<Line> = Vec::with_capacity(own.len());
    let mut own = own.into_iter().peekable();
    let mut children_iter = children.iter_mut().peekable();
    loop {
        let next_own = own.peek().map(|line| line.time);
        let next_child = children_iter.peek().map(|block| block[0].time);
        let child_first = match (next_own, next_child) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(own_time), Some(child_time)) => own_time > child_time,
        };
        if child_first {
            let Some(block) = children_iter.next() else { break };
            if let Some(last) = merged.last() {
                block[0].since_previous = millis_between(block[0].time, last.time);
            }
            merged.append(block);
        } else if let Some(line) = own.next() {
            merged.push(line);
        }
    }
    merged
}

/// Go's `Recording.String()`: every span start (`=== operation:NAME k:v ...`)
/// and log entry (`key:value ...`) with the milliseconds since the recording's
/// first span started and since the previous line, indented 4 spaces per
/// depth (plus 4); each child's lines sit at its start, inside its parent's.
/// Spans whose parent is missing follow under `orphan spans`.
pub fn recording_string(spans: &[RecordedSpan]) -> String {
    let Some(first) = spans.first() else {
        return "<empty recording>".to_owned();
    };
    let start = first.start;
    let mut out = String::new();
    let write_lines = |out: &mut String, lines: Vec<Line>| {
        for line in lines {
            let _ = writeln!(
                out,
                "{:>10.3}ms {:>10.3}ms{}{}",
                millis_between(line.time, start),
                line.since_previous,
                "    ".repeat(line.depth + 1),
                line.text
            );
        }
    };
    write_lines(&mut out, visit(spans, first, 0));
    let known: std::collections::HashSet<u64> = spans.iter().map(|span| span.span_id).collect();
    let orphans: Vec<&RecordedSpan> = spans
        .iter()
        .skip(1)
        .filter(|span| !known.contains(&span.parent_span_id))
        .collect();
    if !orphans.is_empty() {
        out.push_str("orphan spans (trace is missing spans):\n");
        for orphan in orphans {
            write_lines(&mut out, visit(spans, orphan, 0));
        }
    }
    out
}
