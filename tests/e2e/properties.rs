//! Generated input against the real server: any trace ID, any query parameters.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use tracekeep_e2e::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_utf8_trace_id_round_trips_through_grpc_and_url_encoded_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut client = server.grpc().await;
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    // Generated up front: the checks below are async, proptest's runner is not.
    let strategy = "\\PC{1,40}";
    let mut cases: Vec<String> = (0..64)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    cases.push("\0\u{1}\u{7f}\u{feff}\u{10ffff}".into());
    for (n, trace_id) in cases.iter().enumerate() {
        let tso = n as i64 + 1;
        let reply = upload_jobs(&mut client, vec![job(trace_id, tso)]).await;
        assert!(reply.result, "{trace_id:?}: {}", reply.msg);
        let response = server.get(&format!("/events/query?trace_id={}", encode(trace_id)));
        assert_eq!(response.status, 200, "{trace_id:?}: {}", response.body);
        let events = response.json();
        assert_eq!(events[0]["event"]["base"]["traceID"], *trace_id);
        assert!(tsos(&events).contains(&tso), "{trace_id:?}");
    }
}

#[test]
fn any_query_parameters_get_an_answer_never_a_server_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let raw_query = "[a-z_]{0,8}(=[\\x21-\\x7e]{0,12})?(&[a-z_]{0,8}=[\\x21-\\x7e]{0,12}){0,3}";
    let paths = prop_oneof![
        Just("/events/query"),
        Just("/events/scan"),
        Just("/events/delete"),
        Just("/events/truncate"),
        Just("/status"),
    ];
    runner
        .run(&(paths, raw_query, any::<bool>()), |(path, query, post)| {
            // Keep the request line valid HTTP: no spaces or '#'.
            let query = query.replace(['#', ' '], "");
            let target = format!("{path}?{query}");
            let method = if post { "POST" } else { "GET" };
            // Never truncate: it would empty the store under other cases.
            if path == "/events/truncate" && post {
                return Ok(());
            }
            let response = http(server.addr, method, &target, &[], b"");
            prop_assert!(
                response.status < 500,
                "{method} {target}: {} {}",
                response.status,
                response.body
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(server.get("/status").status, 200);
}
