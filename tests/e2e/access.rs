//! Bearer tokens (`auth-token-file`, `auth-ingest`) over real sockets.

use std::time::{Duration, Instant};

use tracekeep_e2e::harness::*;
use tracekeep_proto::pb;

const TOKEN: &str = "s3cr3t-token-for-tests";

fn guarded(extra: &str) -> (tempfile::TempDir, Server, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("# operators\n{TOKEN}\n")).unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(
        &config,
        format!("auth-token-file = {:?}\n{extra}", tokens.to_str().unwrap()),
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    (dir, server, tokens)
}

/// Sends the server a SIGHUP and waits for the log line that says it was handled.
fn hang_up_and_wait_for(server: &Server, logged: &str) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    while !server.log_lines().iter().any(|line| line.contains(logged)) {
        assert!(started.elapsed() < Duration::from_secs(30), "no {logged:?} in the log");
        server.pace();
    }
}

fn post_with(server: &Server, path: &str, token: Option<&str>) -> HttpResponse {
    let header = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = header.iter().map(|value| ("Authorization", value.as_str())).collect();
    http(server.addr, "POST", path, &headers, b"")
}

#[tokio::test]
async fn deletes_truncates_and_checkpoints_need_a_valid_token() {
    let (_dir, server, _) = guarded("");
    let mut client = server.grpc().await;
    // Ingest and queries stay open (DM workers send no token).
    assert!(upload_jobs(&mut client, vec![job("a", 1), job("b", 2)]).await.result);
    assert_eq!(server.get("/events/query?trace_id=a").status, 200);

    for path in [
        "/events/delete?trace_id=a",
        "/events/truncate",
        "/api/tracekeep/checkpoint?name=x",
    ] {
        let missing = post_with(&server, path, None);
        assert_eq!(missing.status, 401, "{path}: {}", missing.body);
        assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
        assert!(missing.body.contains("Authorization: Bearer"), "{}", missing.body);
        assert_eq!(post_with(&server, path, Some("wrong")).status, 401, "{path}");
        assert_eq!(
            post_with(&server, path, Some(&TOKEN[1..])).status,
            401,
            "{path}: a prefix"
        );
    }
    assert_eq!(
        server.get("/events/query?trace_id=a").status,
        200,
        "nothing was deleted"
    );
    let deleted = post_with(&server, "/events/delete?trace_id=a", Some(TOKEN));
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(server.get("/events/query?trace_id=a").status, 404);
    assert_eq!(post_with(&server, "/events/truncate", Some(TOKEN)).status, 200);
    assert_eq!(server.get("/events/query?trace_id=b").status, 404);
    // The token is never written to the log.
    assert!(server.log_lines().iter().all(|line| !line.contains(TOKEN)));
    let scrape = server.get("/metrics").body;
    assert!(scrape.contains("status=\"401\""), "401s are counted");
}

#[test]
fn a_sighup_reloads_the_token_file() {
    let (_dir, server, tokens) = guarded("");
    std::fs::write(&tokens, "rotated-token\n").unwrap();
    hang_up_and_wait_for(&server, "auth tokens reloaded");
    assert_eq!(
        post_with(&server, "/events/truncate", Some(TOKEN)).status,
        401,
        "the old token is gone"
    );
    assert_eq!(
        post_with(&server, "/events/truncate", Some("rotated-token")).status,
        200
    );
}

#[test]
fn a_sighup_without_a_token_file_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    hang_up_and_wait_for(&server, "no auth-token-file to reload");
    assert_eq!(server.get("/status").status, 200);
}

#[tokio::test]
async fn auth_ingest_guards_grpc_and_http_ingest() {
    let (_dir, server, _) = guarded("auth-ingest = true\n");
    let mut client = server.grpc().await;
    let request = pb::UploadSyncerJobEventRequest {
        events: vec![job("t", 1)],
    };
    let status = client.upload_syncer_job_event(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let mut with_token = tonic::Request::new(request);
    with_token
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    assert!(
        client
            .upload_syncer_job_event(with_token)
            .await
            .unwrap()
            .into_inner()
            .result
    );

    let spans = br#"[{"traceId":"000000000000000a","id":"000000000000000b","name":"get","timestamp":1700000000000000,"duration":5,"localEndpoint":{"serviceName":"web"}}]"#;
    let json = ("Content-Type", "application/json");
    assert_eq!(http(server.addr, "POST", "/api/v2/spans", &[json], spans).status, 401);
    let bearer = format!("Bearer {TOKEN}");
    let accepted = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[json, ("Authorization", &bearer)],
        spans,
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    // Reads stay open.
    assert_eq!(server.get("/events/query?trace_id=t").status, 200);
    assert_eq!(server.get("/api/v2/trace/000000000000000a").status, 200);
    let scrape = server.get("/metrics").body;
    assert!(
        scrape.contains("tracekeep_refused_requests_total{protocol=\"zipkin\",reason=\"unauthorized\"} 1"),
        "{scrape}"
    );
}

#[test]
fn a_bad_token_file_stops_the_start_and_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, format!("auth-token-file = {:?}\n", empty.to_str().unwrap())).unwrap();
    let data = dir.path().join("data");
    let (status, output) = run_to_exit(&[
        "--tracer-addr",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success(), "{output}");
    assert!(output.contains("holds no token"), "{output}");
    let (status, output) = run_to_exit(&["--check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{output}");
    let ingest_alone = dir.path().join("ingest.toml");
    std::fs::write(&ingest_alone, "auth-ingest = true\n").unwrap();
    let (status, output) = run_to_exit(&["--check-config", "--config", ingest_alone.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("auth-ingest needs auth-token-file"), "{output}");
}
