//! Starting, stopping, crashing and restarting the server; config and flags.

use tracekeep_e2e::harness::*;

#[tokio::test]
async fn a_restart_keeps_every_trace_and_the_tso_keeps_rising() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let mut client = server.grpc().await;
    for n in 0..5 {
        assert!(
            upload_jobs(
                &mut client,
                vec![job(&format!("r.{n}"), n), job(&format!("r.{n}"), n + 100)]
            )
            .await
            .result
        );
    }
    assert!(
        server.post("/events/delete?trace_id=r.1").json()["result"]
            .as_bool()
            .unwrap()
    );
    let before = tso(&mut client).await;
    let scan_before = server.get("/events/scan").body;
    drop(client);
    let (status, _) = server.terminate();
    assert!(status.success(), "SIGTERM exits 0, got {status}");

    let server = Server::start(&data, &[]);
    assert_eq!(server.get("/events/scan").body, scan_before);
    assert_eq!(tsos(&server.get("/events/query?trace_id=r.4").json()), [4, 104]);
    assert_eq!(server.get("/events/query?trace_id=r.1").status, 404);
    let mut client = server.grpc().await;
    let after = tso(&mut client).await;
    assert!(after > before, "TSO {after} after restart is not above {before}");
}

#[tokio::test]
async fn kill_9_right_after_acknowledged_uploads_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let mut client = server.grpc().await;
    let mut acknowledged = Vec::new();
    for batch in 0..20i64 {
        let events: Vec<_> = (0..10)
            .map(|n| job(&format!("k.{}", batch % 4), batch * 10 + n))
            .collect();
        let reply = upload_jobs(&mut client, events).await;
        assert!(reply.result, "{}", reply.msg);
        acknowledged.extend((0..10).map(|n| (batch % 4, batch * 10 + n)));
    }
    let last_tso = tso(&mut client).await;
    drop(client);
    server.kill9();

    let server = Server::start(&data, &[]);
    for trace in 0..4 {
        let want: Vec<i64> = acknowledged
            .iter()
            .filter(|(t, _)| *t == trace)
            .map(|(_, tso)| *tso)
            .collect();
        let got = tsos(&server.get(&format!("/events/query?trace_id=k.{trace}")).json());
        assert_eq!(got, want, "trace k.{trace}: every acknowledged event, once, in order");
    }
    let mut client = server.grpc().await;
    assert!(tso(&mut client).await > last_tso);
}

#[test]
fn a_second_server_on_the_same_data_dir_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = Server::start(&data, &[]);
    let (status, output) = run_to_exit(&["--tracer-addr", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]);
    assert!(!status.success());
    assert!(output.contains("in use"), "{output}");
}

#[test]
fn a_port_in_use_is_reported_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a"), &[]);
    let addr = server.addr.to_string();
    let other = dir.path().join("b");
    let (status, output) = run_to_exit(&["--tracer-addr", &addr, "--data-dir", other.to_str().unwrap()]);
    assert!(!status.success());
    assert!(output.contains("already in use"), "{output}");
}

#[test]
fn dm_tracers_start_line_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracer.log");
    let config = dir.path().join("dm-tracer.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "log-level = \"info\"\nenable = true\nchecksum = true\ndata-dir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();
    let args = [
        "--tracer-addr=:0".to_owned(),
        format!("--log-file={}", log.display()),
        format!("--config={}", config.display()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(&args, LogTo::File(log.clone()));
    assert_eq!(server.get("/status").status, 200);
    assert!(data.join("CURRENT").is_file(), "the config file's data-dir is used");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("listening on 0.0.0.0:"), "{text}");
}

#[test]
fn an_unknown_config_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "tracer-addr = \":0\"\nretention-days = 7\n").unwrap();
    let (status, output) = run_to_exit(&["--config", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("retention-days"), "{output}");
}

#[test]
fn check_config_validates_without_opening_or_binding_anything() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &good,
        format!("tracer-addr = \":8263\"\ndata-dir = {:?}\n", data.to_str().unwrap()),
    )
    .unwrap();
    let (status, output) = run_to_exit(&["--check-config", "--config", good.to_str().unwrap()]);
    assert_eq!(status.code(), Some(0), "{output}");
    assert!(output.contains("the configuration is valid"), "{output}");
    assert!(!data.exists(), "--check-config created the data directory");

    let bad_key = dir.path().join("bad.toml");
    std::fs::write(&bad_key, "retention-days = 7\n").unwrap();
    let (status, output) = run_to_exit(&["--check-config", "--config", bad_key.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("retention-days"), "{output}");

    let (status, output) = run_to_exit(&["--check-config", "--otlp-http-addr", "nowhere"]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("otlp-http-addr \"nowhere\""), "{output}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (status, output) = run_to_exit(&["--check-config", "--data-dir", file.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("not a directory"), "{output}");
}

#[test]
fn version_flag_prints_the_version() {
    let (status, output) = run_to_exit(&["-V"]);
    assert!(status.success());
    assert!(output.contains(env!("CARGO_PKG_VERSION")), "{output}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--log-format", "json", "-L", "debug"]);
    server.post("/events/delete?trace_id=nothing");
    let (status, lines) = server.terminate();
    assert!(status.success());
    let records: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect();
    let messages: Vec<_> = records
        .iter()
        .filter_map(|record| record["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"delete"), "{messages:?}");
    assert!(messages.contains(&"stopped"), "{messages:?}");
}
