use std::collections::BTreeMap;

use super::*;
use crate::zipkin::model::{Annotation, Endpoint};

fn params(query: &str) -> Params {
    let mut params = Params::default();
    params.add(query.as_bytes()).expect("parameters decode");
    params
}

fn span(id: &str, parent: Option<&str>, service: &str, name: &str, timestamp: u64) -> ZipkinSpan {
    ZipkinSpan {
        trace_id: "00000000000000aa".into(),
        parent_id: parent.map(str::to_owned),
        id: id.into(),
        name: name.into(),
        timestamp,
        duration: 100,
        local_endpoint: Some(Endpoint {
            service_name: service.into(),
            ..Endpoint::default()
        }),
        ..ZipkinSpan::default()
    }
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn defaults_are_zipkins() {
    let query = TraceQuery::parse(&params(""), 5_000_000).expect("parses");
    assert_eq!(query.end_ts, 5_000_000);
    assert_eq!(query.lookback, DEFAULT_LOOKBACK_MS);
    assert_eq!(query.limit, DEFAULT_LIMIT);
    assert_eq!((query.service.as_deref(), query.span_name.as_deref()), (None, None));
    let query = TraceQuery::parse(&params("serviceName=Front&spanName=all&remoteServiceName=DB"), 1).expect("parses");
    assert_eq!(query.service.as_deref(), Some("front"));
    assert_eq!(query.span_name, None, "'all' means any span name");
    assert_eq!(query.remote_service.as_deref(), Some("db"));
}

#[test]
fn bad_parameters_are_refused_with_a_reason() {
    for (query, reason) in [
        ("limit=-1", "limit <= 0"),
        ("limit=0", "limit <= 0"),
        ("limit=ten", "not a number"),
        ("endTs=soon", "not a number"),
        ("endTs=0", "endTs <= 0"),
        ("lookback=-5", "lookback <= 0"),
        ("minDuration=0", "minDuration <= 0"),
        ("maxDuration=10", "only valid with minDuration"),
        ("minDuration=10&maxDuration=5", "maxDuration < minDuration"),
    ] {
        match TraceQuery::parse(&params(query), 1) {
            Err(ApiError::BadRequest(text)) => assert!(text.contains(reason), "{query}: {text}"),
            other => panic!("{query}: {other:?}"),
        }
    }
}

#[test]
fn annotation_queries_split_into_words_and_tags() {
    assert_eq!(
        parse_annotation_query("error and http.method=GET and  retried  and k= v and =x and error"),
        vec![
            Condition::Word("error".into()),
            Condition::Tag("http.method".into(), "GET".into()),
            Condition::Word("retried".into()),
            Condition::Tag("k".into(), "v".into()),
        ]
    );
    assert!(parse_annotation_query("").is_empty());
}

#[test]
fn every_condition_must_hold_on_one_span() {
    let mut root = span("0000000000000001", None, "front", "get", 2_000_000);
    root.tags = tags(&[("http.method", "GET")]);
    let mut child = span("0000000000000002", Some("0000000000000001"), "db", "query", 2_000_100);
    child.tags = tags(&[("error", "timeout")]);
    child.annotations = vec![Annotation {
        timestamp: 2_000_150,
        value: "retried".into(),
    }];
    child.duration = 5_000;
    let trace = vec![root, child];
    let matches = |query: &str| {
        let query = TraceQuery::parse(&params(&format!("endTs=3000&lookback=2000&{query}")), 1).expect("parses");
        query.matches(&trace)
    };
    assert!(matches(""));
    assert!(matches("serviceName=FRONT&spanName=GET"));
    assert!(matches("serviceName=db&annotationQuery=error and retried"));
    assert!(matches("annotationQuery=error=timeout"));
    assert!(matches("annotationQuery=http.method=GET"));
    assert!(matches("minDuration=5000&maxDuration=5000"));
    assert!(!matches("minDuration=5001"));
    assert!(!matches("annotationQuery=error=other"));
    assert!(
        !matches("serviceName=front&annotationQuery=error"),
        "the error is on db's span"
    );
    assert!(
        !matches("annotationQuery=http.method=GET and error"),
        "two conditions met only by two different spans"
    );
    assert!(!matches("serviceName=nobody"));
    assert!(!matches("remoteServiceName=db"));
}

#[test]
fn the_window_applies_to_the_traces_root_timestamp() {
    let trace = vec![
        span("0000000000000002", Some("0000000000000001"), "front", "b", 1_000_000),
        span("0000000000000001", None, "front", "a", 5_000_000),
    ];
    assert_eq!(trace_timestamp(&trace), 5_000_000, "the root's, not the earliest");
    let window = |end_ts: u64, lookback: u64| {
        let query = TraceQuery::parse(&params(&format!("endTs={end_ts}&lookback={lookback}")), 1).expect("parses");
        query.matches(&trace)
    };
    assert!(window(5_000, 1));
    assert!(window(5_001, 1));
    assert!(!window(4_999, 4_000));
    assert!(!window(5_002, 1));
    let rootless = vec![span("0000000000000002", Some("0000000000000009"), "front", "b", 7_000)];
    assert_eq!(trace_timestamp(&rootless), 7_000);
}

#[test]
fn the_index_search_takes_the_window_in_nanoseconds_and_the_conditions_as_terms() {
    let query = TraceQuery::parse(
        &params("endTs=3000&lookback=1000&serviceName=Front&annotationQuery=error and http.method=GET"),
        1,
    )
    .expect("parses");
    let search = query.to_search();
    assert_eq!((search.start_nanos, search.end_nanos), (2_000_000_000, 3_000_000_000));
    assert_eq!(search.terms, vec!["error".to_owned(), "http.method=GET".to_owned()]);
    assert_eq!(search.service.as_deref(), Some("front"));
}
