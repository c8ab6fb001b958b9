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
    // The stop waits for open connections: ours closes when its task runs,
    // so the wait is off this thread.
    drop(client);
    let (status, _) = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
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

/// A stop that has to cut a connection still closes the database before the
/// process exits. The client below speaks HTTP/2 and then goes silent, so the
/// graceful stop's PING is never answered and the stop cuts it at
/// `shutdown-timeout-secs`. RocksDB aborts the process when a database is
/// still open at exit; its own log says whether it was closed (on a bucket,
/// the exit status is all there is to see).
#[test]
fn a_stop_that_cuts_a_silent_http2_client_still_closes_the_database() {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "shutdown-timeout-secs = 1\n").unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let mut silent = std::net::TcpStream::connect(server.addr).unwrap();
    silent.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    silent.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    // The server's own SETTINGS frame: the connection is being served.
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut header = [0u8; 9];
    silent.read_exact(&mut header).unwrap();
    assert_eq!(header[3], 4, "the server's first frame is SETTINGS: {header:?}");

    let (status, lines) = server.terminate();
    let log = lines.join("\n");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("did not finish in time"),
        "the stop did not cut the client:\n{log}"
    );
    assert!(lines.last().is_some_and(|line| line.contains("stopped")), "{log}");
    if on_bucket() {
        // SlateDB keeps no log of its own; the exit status above is the check.
        return;
    }
    let rocksdb_log = std::fs::read_to_string(data.join("LOG")).unwrap();
    assert!(
        rocksdb_log.trim_end().ends_with("Shutdown complete"),
        "RocksDB was not closed:\n{}",
        &rocksdb_log[rocksdb_log.len().saturating_sub(2000)..]
    );
    drop(silent);
}
