//! Rules every reader of a stored span shares: which service recorded it and
//! how a span-tracer log reads as one line. The store indexes spans by them and
//! the Zipkin API shows them by them, so a search finds what a read shows.

use crate::pb;

/// The service of a span that names none (Zipkin's UI shows the same).
pub const UNKNOWN_SERVICE: &str = "unknown";

/// The service that recorded `span`, as sent (case kept): the local
/// endpoint's service name, else the `service.name` tag (the span tracer and
/// OpenTelemetry put it there), else [`UNKNOWN_SERVICE`].
pub fn service_name(span: &pb::Span) -> &str {
    span.local_endpoint
        .as_ref()
        .map(|endpoint| endpoint.service_name.as_str())
        .filter(|name| !name.is_empty())
        .or_else(|| span.tags.get("service.name").map(String::as_str))
        .unwrap_or(UNKNOWN_SERVICE)
}

/// The service `span` is indexed and searched under: for a span that came
/// through Zipkin's API, its local endpoint's service name, `None` without
/// one (Zipkin indexes no service for it either); for others [`service_name`].
pub fn indexed_service(span: &pb::Span) -> Option<&str> {
    if !span.from_zipkin {
        return Some(service_name(span));
    }
    span.local_endpoint
        .as_ref()
        .map(|endpoint| endpoint.service_name.as_str())
        .filter(|name| !name.is_empty())
}

/// The remote side's service, as sent; `None` when unnamed.
pub fn remote_service_name(span: &pb::Span) -> Option<&str> {
    span.remote_endpoint
        .as_ref()
        .map(|endpoint| endpoint.service_name.as_str())
        .filter(|name| !name.is_empty())
}

/// A span-tracer log as one annotation value: its `key=value` fields joined by spaces.
pub fn log_text(log: &pb::SpanLog) -> String {
    fields_text(
        log.fields
            .iter()
            .map(|field| (field.key.as_str(), field.value.as_str())),
    )
}

/// A log entry's fields as [`log_text`] renders them, for logs not (yet) in
/// a `pb.SpanLog` (the span tracer's Zipkin shadow sends them this way).
pub fn fields_text<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    for (index, (key, value)) in fields.into_iter().enumerate() {
        if index > 0 {
            text.push(' ');
        }
        text.push_str(key);
        text.push('=');
        text.push_str(value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_comes_from_the_endpoint_then_the_tag_then_unknown() {
        let mut span = pb::Span::default();
        assert_eq!(service_name(&span), UNKNOWN_SERVICE);
        span.tags.insert("service.name".into(), "Tagged".into());
        assert_eq!(service_name(&span), "Tagged");
        span.local_endpoint = Some(pb::Endpoint::default());
        assert_eq!(service_name(&span), "Tagged", "an empty endpoint name is no name");
        span.local_endpoint = Some(pb::Endpoint {
            service_name: "Front".into(),
            ..Default::default()
        });
        assert_eq!(service_name(&span), "Front");
    }

    #[test]
    fn a_log_reads_as_its_fields_joined_by_spaces() {
        let field = |key: &str, value: &str| pb::SpanLogField {
            key: key.into(),
            value: value.into(),
        };
        let log = pb::SpanLog {
            time: 1,
            fields: vec![field("event", "retry"), field("attempt", "2")],
        };
        assert_eq!(log_text(&log), "event=retry attempt=2");
        assert_eq!(log_text(&pb::SpanLog::default()), "");
    }
}
