//! The web UI's files and the JSON endpoints it reads, over real sockets.
//! (The browser test, tests/ui/ui-test.sh, drives the pages themselves.)

use tracekeep_e2e::harness::*;

fn fresh() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    (dir, server)
}

#[test]
fn the_ui_is_served_with_its_content_types_and_a_strict_policy() {
    let (_dir, server) = fresh();
    let index = server.get("/ui/");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(index.body.contains("<script type=\"module\" src=\"app.js\">"));
    let policy = index.header("content-security-policy").unwrap();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    for (path, content_type) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/trace.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
    ] {
        let response = server.get(path);
        assert_eq!(
            (response.status, response.header("content-type")),
            (200, Some(content_type)),
            "{path}"
        );
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    let missing = server.get("/ui/nothing.js");
    assert_eq!(missing.status, 404);
    assert_eq!(server.get("/ui/..%2Fsrc%2Fui.rs").status, 404);
    let bare = server.get("/ui");
    assert_eq!((bare.status, bare.header("location")), (308, Some("/ui/")));
}

#[test]
fn a_browser_at_the_root_goes_to_the_ui_and_other_clients_keep_dm_tracers_404() {
    let (_dir, server) = fresh();
    let browser = http(
        server.addr,
        "GET",
        "/",
        &[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        b"",
    );
    assert_eq!((browser.status, browser.header("location")), (303, Some("/ui/")));
    let curl = server.get("/");
    assert_eq!((curl.status, curl.body.trim()), (404, "404 page not found"));
    let post = http(server.addr, "POST", "/", &[("Accept", "text/html")], b"");
    assert_eq!(post.status, 404, "only a GET is sent to the UI");
}

#[tokio::test]
async fn traces_lists_summaries_newest_first_with_a_cursor() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    for (trace, tso) in [("a", 10), ("b", 20), ("c", 30)] {
        assert!(
            upload_jobs(&mut client, vec![job(trace, tso), job(trace, tso + 1)])
                .await
                .result
        );
    }
    let first = server.get("/api/tracekeep/traces?limit=2").json();
    let ids: Vec<_> = first["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].clone())
        .collect();
    assert_eq!(ids, ["c", "b"]);
    assert_eq!(first["traces"][0]["events"], 2);
    assert_eq!(first["traces"][0]["first_tso"], 30);
    assert_eq!(first["traces"][0]["last_tso"], 31);
    let next = first["next"].as_str().unwrap();
    let rest = server
        .get(&format!("/api/tracekeep/traces?limit=2&cursor={next}"))
        .json();
    assert_eq!(rest["traces"][0]["trace_id"], "a");
    assert_eq!(rest["next"], serde_json::Value::Null);
    let oldest = server.get("/api/tracekeep/traces?order=oldest&prefix=b").json();
    assert_eq!(oldest["traces"].as_array().unwrap().len(), 1);
    assert_eq!(oldest["traces"][0]["trace_id"], "b");
    // A Zipkin trace shares first-seen order; `kind=dm` leaves it out.
    let spans = r#"[{"traceId":"00000000000000ab","id":"0000000000000001","name":"get","timestamp":1700000000000000,"duration":5}]"#;
    let posted = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        spans.as_bytes(),
    );
    assert_eq!(posted.status, 202, "{}", posted.body);
    let all = server.get("/api/tracekeep/traces?limit=1").json();
    assert_eq!(all["traces"][0]["trace_id"], "00000000000000ab");
    assert_eq!(
        all["traces"][0]["kinds"],
        serde_json::json!({"binlog": 0, "job": 0, "span": 1})
    );
    let dm = server.get("/api/tracekeep/traces?limit=1&kind=dm").json();
    assert_eq!(dm["traces"][0]["trace_id"], "c");
    assert_eq!(dm["traces"][0]["kinds"]["job"], 2);
    for (bad, text) in [
        ("kind=spans", "kind: spans not valid"),
        ("order=sideways", "order: sideways not valid"),
        ("cursor=x", "cursor: x not valid"),
        ("limit=0", "limit: 0 not valid"),
        ("limit=100000", "limit: 100000 not valid"),
    ] {
        let response = server.get(&format!("/api/tracekeep/traces?{bad}"));
        assert_eq!(response.status, 400, "{bad}");
        assert!(response.body.contains(text), "{bad}: {}", response.body);
    }
}

#[test]
fn stats_report_the_uptime() {
    let (_dir, server) = fresh();
    let stats = server.get("/api/tracekeep/stats").json();
    assert!(stats["uptime_seconds"].is_u64(), "{stats}");
}
