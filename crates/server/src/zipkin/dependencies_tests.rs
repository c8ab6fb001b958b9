use super::*;
use crate::zipkin::model::Endpoint;

fn endpoint(service: &str) -> Option<Endpoint> {
    Some(Endpoint {
        service_name: service.into(),
        ..Endpoint::default()
    })
}

fn span(id: &str, parent: Option<&str>, kind: Option<Kind>, service: &str, remote: Option<&str>) -> ZipkinSpan {
    ZipkinSpan {
        trace_id: "00000000000000aa".into(),
        parent_id: parent.map(str::to_owned),
        id: id.into(),
        kind,
        timestamp: 1,
        local_endpoint: endpoint(service),
        remote_endpoint: remote.and_then(endpoint),
        ..ZipkinSpan::default()
    }
}

fn link(parent: &str, child: &str, calls: u64, errors: u64) -> DependencyLink {
    DependencyLink {
        parent: parent.into(),
        child: child.into(),
        call_count: calls,
        error_count: errors,
    }
}

fn links(traces: &[Vec<ZipkinSpan>]) -> Vec<DependencyLink> {
    let mut linker = Linker::default();
    for trace in traces {
        linker.put_trace(trace);
    }
    linker.links()
}

#[test]
fn a_client_and_its_server_make_one_link_named_by_the_server() {
    let client = span(
        "0000000000000002",
        Some("0000000000000001"),
        Some(Kind::Client),
        "front",
        Some("be"),
    );
    let mut server = span(
        "0000000000000002",
        Some("0000000000000001"),
        Some(Kind::Server),
        "backend",
        None,
    );
    server.shared = true;
    let root = span("0000000000000001", None, Some(Kind::Server), "front", None);
    assert_eq!(
        links(&[vec![root, client, server]]),
        vec![link("front", "backend", 1, 0)]
    );
}

#[test]
fn an_uninstrumented_callee_is_linked_from_the_client_span() {
    let root = span("0000000000000001", None, Some(Kind::Server), "front", Some("browser"));
    let mut client = span(
        "0000000000000002",
        Some("0000000000000001"),
        Some(Kind::Client),
        "front",
        Some("mysql"),
    );
    client.tags.insert("error".into(), "timeout".into());
    assert_eq!(
        links(&[vec![root.clone(), client.clone()], vec![root, client]]),
        vec![link("browser", "front", 2, 0), link("front", "mysql", 2, 2)]
    );
}

#[test]
fn a_server_under_local_spans_links_from_the_nearest_remote_ancestor() {
    let root = span("0000000000000001", None, Some(Kind::Server), "front", None);
    let local = span("0000000000000002", Some("0000000000000001"), None, "front", None);
    let mut client = span(
        "0000000000000003",
        Some("0000000000000002"),
        Some(Kind::Client),
        "front",
        None,
    );
    client.tags.insert("error".into(), "".into());
    let server = span(
        "0000000000000004",
        Some("0000000000000003"),
        Some(Kind::Server),
        "backend",
        None,
    );
    assert_eq!(
        links(&[vec![root, local, client, server]]),
        vec![link("front", "backend", 1, 1)],
        "the client's error counts for the server it called"
    );
}

#[test]
fn messaging_spans_link_through_the_broker_and_local_spans_alone_link_nothing() {
    let producer = span("0000000000000001", None, Some(Kind::Producer), "orders", Some("kafka"));
    let consumer = span(
        "0000000000000002",
        Some("0000000000000001"),
        Some(Kind::Consumer),
        "billing",
        Some("kafka"),
    );
    let local = span("0000000000000003", Some("0000000000000002"), None, "billing", None);
    assert_eq!(
        links(&[vec![producer, consumer, local]]),
        vec![link("kafka", "billing", 1, 0), link("orders", "kafka", 1, 0)]
    );
}

#[test]
fn a_cycle_of_parent_ids_ends() {
    let a = span("0000000000000001", Some("0000000000000002"), None, "a", None);
    let b = span(
        "0000000000000002",
        Some("0000000000000001"),
        Some(Kind::Server),
        "b",
        None,
    );
    assert!(links(&[vec![a, b]]).is_empty());
}

#[test]
fn error_count_is_left_out_of_the_json_when_zero() {
    let json = serde_json::to_string(&[link("a", "b", 3, 0), link("a", "c", 2, 1)]).expect("renders");
    assert_eq!(
        json,
        r#"[{"parent":"a","child":"b","callCount":3},{"parent":"a","child":"c","callCount":2,"errorCount":1}]"#
    );
}
