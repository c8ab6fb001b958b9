use super::*;

#[test]
fn refusals_are_named_by_status() {
    assert_eq!(Refusal::of_http(StatusCode::ACCEPTED), None);
    assert_eq!(Refusal::of_http(StatusCode::BAD_REQUEST), Some(Refusal::BadRequest));
    assert_eq!(Refusal::of_http(StatusCode::PAYLOAD_TOO_LARGE), Some(Refusal::TooLarge));
    assert_eq!(
        Refusal::of_http(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        Some(Refusal::UnsupportedMediaType)
    );
    assert_eq!(
        Refusal::of_http(StatusCode::SERVICE_UNAVAILABLE),
        Some(Refusal::DiskFull)
    );
    assert_eq!(Refusal::of_grpc("0"), None);
    assert_eq!(Refusal::of_grpc("3"), Some(Refusal::BadRequest));
    assert_eq!(Refusal::of_grpc("14"), Some(Refusal::DiskFull));
    assert_eq!(Refusal::of_grpc("13"), Some(Refusal::Internal));
}

#[test]
fn counts_render_in_prometheus_text_format() {
    let metrics = Metrics::new();
    metrics.count_ingested_n("dm", EventKind::Job, 3);
    metrics.count_refused("zipkin", Refusal::TooLarge);
    metrics.observe("dm", "/events/query", StatusCode::OK, 0.001);
    let mut text = String::new();
    prometheus_text::encode(&mut text, &metrics.registry).unwrap();
    assert!(
        text.contains("tracekeep_ingested_total{protocol=\"dm\",kind=\"job\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("tracekeep_refused_requests_total{protocol=\"zipkin\",reason=\"too_large\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tracekeep_requests_total{protocol=\"dm\",route=\"/events/query\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tracekeep_request_duration_seconds_count{protocol=\"dm\",route=\"/events/query\"} 1"),
        "{text}"
    );
}
