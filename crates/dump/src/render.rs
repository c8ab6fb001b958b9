//! Human-readable renderings of events for `show`.

use tracekeep_proto::{TraceEvent, dm_names, pb};

use crate::time::format_tso;

fn position(position: Option<&pb::MySqlPosition>) -> Option<String> {
    position.map(|position| format!("{}:{}", position.name, position.pos))
}

fn job_state(state: i32) -> String {
    pb::SyncerJobState::try_from(state).map_or_else(|_| format!("state({state})"), |state| state.as_str_name().into())
}

/// One event as a timeline entry: a header line, then indented detail lines.
pub fn timeline_entry(event: &TraceEvent) -> String {
    let base = event.base();
    let location = base.map_or_else(|| "-".to_owned(), |base| format!("{}:{}", base.filename, base.line));
    let mut fields = Vec::new();
    let mut details = Vec::new();
    match event {
        TraceEvent::Binlog(binlog) => {
            let event_type = dm_names::compact(dm_names::binlog_event_type_name(binlog.event_type), binlog.event_type);
            fields.push(format!("eventType={event_type}"));
            let op_type = dm_names::compact(dm_names::op_type_name(binlog.op_type), binlog.op_type);
            fields.push(format!("opType={op_type}"));
            if let Some(state) = &binlog.state {
                if state.safe_mode {
                    fields.push("safeMode".into());
                }
                if state.try_re_sync {
                    fields.push("tryReSync".into());
                }
                fields.extend(position(state.last_pos.as_ref()).map(|pos| format!("lastPos={pos}")));
                fields.extend(position(state.current_pos.as_ref()).map(|pos| format!("currentPos={pos}")));
            }
        }
        TraceEvent::Job(job) => {
            let op_type = dm_names::compact(dm_names::op_type_name(job.op_type), job.op_type);
            fields.push(format!("opType={op_type}"));
            fields.push(format!("state={}", job_state(job.state)));
            fields.extend(position(job.pos.as_ref()).map(|pos| format!("pos={pos}")));
            fields.extend(position(job.current_pos.as_ref()).map(|pos| format!("currentPos={pos}")));
            if !job.queue_bucket.is_empty() {
                fields.push(format!("queue={}", job.queue_bucket));
            }
            if job.args_checksum != 0 {
                fields.push(format!("argsChecksum={}", job.args_checksum));
            }
            if let Some(info) = &job.ddl_info {
                fields.push(format!("ddlLock={:?} exec={}", info.lock_id, info.exec));
            }
            if !job.sql.is_empty() {
                details.push(format!("sql: {}", job.sql));
            }
            details.extend(job.ddls.iter().map(|ddl| format!("ddl: {ddl}")));
        }
        TraceEvent::Span(span) => {
            fields.push(format!("span={}", span.span_id));
            if !span.parent_span_id.is_empty() {
                fields.push(format!("parent={}", span.parent_span_id));
            }
            fields.push(format!("op={:?}", span.operation));
            fields.push(format!("duration={:.3}ms", span.duration as f64 / 1e6));
            if let Ok(kind) = pb::SpanKind::try_from(span.kind)
                && kind != pb::SpanKind::Unspecified
            {
                fields.push(format!("kind={}", kind.as_str_name()));
            }
            for (side, endpoint) in [("local", &span.local_endpoint), ("remote", &span.remote_endpoint)] {
                if let Some(endpoint) = endpoint {
                    fields.push(format!("{side}={}", endpoint_text(endpoint)));
                }
            }
            if span.shared {
                fields.push("shared".into());
            }
            if span.debug {
                fields.push("debug".into());
            }
            fields.extend(span.tags.iter().map(|(key, value)| format!("{key}={value}")));
            for annotation in &span.annotations {
                details.push(format!("{} {}", format_tso(annotation.time), annotation.value));
            }
            for log in &span.logs {
                let text: Vec<String> = log
                    .fields
                    .iter()
                    .map(|field| format!("{}: {}", field.key, field.value))
                    .collect();
                details.push(format!("{} {}", format_tso(log.time), text.join(", ")));
            }
        }
        other => fields.push(format!("({} event)", other.kind())),
    }
    let mut entry = format!(
        "{}  {:<6}  {}  {}",
        format_tso(event.tso()),
        event.kind().name(),
        location,
        fields.join(" ")
    );
    for detail in details {
        entry.push_str("\n    ");
        entry.push_str(&detail);
    }
    entry
}

/// `service@address:port`, leaving out what is absent.
fn endpoint_text(endpoint: &pb::Endpoint) -> String {
    let mut text = format!("{:?}", endpoint.service_name);
    let address = if endpoint.ipv4.is_empty() {
        &endpoint.ipv6
    } else {
        &endpoint.ipv4
    };
    if !address.is_empty() {
        text.push('@');
        text.push_str(address);
    }
    if endpoint.port != 0 {
        text.push_str(&format!(":{}", endpoint.port));
    }
    text
}
