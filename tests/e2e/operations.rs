//! What an operator's tooling reads: probes and metrics.

use tracekeep_e2e::harness::*;

#[test]
fn ready_answers_200_while_writes_are_taken_and_health_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "READY");
    assert_eq!(server.get("/health").json()["status"], "UP");
}

#[test]
fn ready_answers_503_with_the_reason_while_the_disk_reserve_refuses_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    // A reserve no disk has: every upload is refused for space.
    std::fs::write(&config, "min-free-disk-bytes = 1152921504606846976\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let ready = server.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body = ready.json();
    assert_eq!(body["status"], "NOT_READY");
    assert!(
        body["reason"].as_str().unwrap().contains("min-free-disk-bytes"),
        "{body}"
    );
    // Alive all the same: a liveness probe must not restart it for a full disk.
    let health = server.get("/health");
    assert_eq!((health.status, health.json()["status"].clone()), (200, "UP".into()));
}

#[tokio::test]
async fn metrics_count_real_traffic_by_protocol_kind_route_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let before = server.get("/metrics");
    assert_eq!(before.status, 200);
    assert_eq!(
        before.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(metric_sample(&before.body, "tracekeep_traces"), 0.0);

    let mut client = server.grpc().await;
    assert!(
        upload_jobs(&mut client, vec![job("a", 1), job("a", 2), job("b", 3)])
            .await
            .result
    );
    assert!(upload_binlogs(&mut client, vec![binlog("b", 4)]).await.result);
    let spans = r#"[{"traceId":"000000000000000a","id":"000000000000000b","name":"get","timestamp":1700000000000000,"duration":5,"localEndpoint":{"serviceName":"web"}}]"#;
    let accepted = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        spans.as_bytes(),
    );
    assert_eq!(accepted.status, 202);
    let refused = http(
        server.addr,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "application/json")],
        b"[{",
    );
    assert_eq!(refused.status, 400);
    assert_eq!(server.get("/events/query?trace_id=a").status, 200);
    assert_eq!(server.get("/no/such/path").status, 404);

    let after = server.get("/metrics").body;
    let expect = |series: &str, value: f64| {
        assert_eq!(metric_sample(&after, series), value, "{series} in\n{after}");
    };
    expect("tracekeep_ingested_total{protocol=\"dm\",kind=\"job\"}", 3.0);
    expect("tracekeep_ingested_total{protocol=\"dm\",kind=\"binlog\"}", 1.0);
    expect("tracekeep_ingested_total{protocol=\"zipkin\",kind=\"span\"}", 1.0);
    expect(
        "tracekeep_refused_requests_total{protocol=\"zipkin\",reason=\"bad_request\"}",
        1.0,
    );
    expect(
        "tracekeep_requests_total{protocol=\"dm\",route=\"/pb.Tracer/UploadSyncerJobEvent\",status=\"200\"}",
        1.0,
    );
    expect(
        "tracekeep_requests_total{protocol=\"zipkin\",route=\"/api/v2/spans\",status=\"202\"}",
        1.0,
    );
    expect(
        "tracekeep_requests_total{protocol=\"dm\",route=\"/events/query\",status=\"200\"}",
        1.0,
    );
    expect(
        "tracekeep_requests_total{protocol=\"other\",route=\"unmatched\",status=\"404\"}",
        1.0,
    );
    expect(
        "tracekeep_request_duration_seconds_count{protocol=\"dm\",route=\"/events/query\"}",
        1.0,
    );
    expect("tracekeep_traces", 3.0);
    expect("tracekeep_events{kind=\"job\"}", 3.0);
    // On a bucket the data directory holds its lock file and a cache that
    // fills only once tables are written, and the
    // bucket's requests are counted: the uploads above were PUT there.
    assert!(on_bucket() || metric_sample(&after, "tracekeep_disk_bytes") > 0.0);
    if on_bucket() {
        assert!(
            metric_sample(&after, "tracekeep_bucket_requests_total{operation=\"put\"}") > 0.0,
            "{after}"
        );
        assert!(
            metric_sample(&after, "tracekeep_bucket_written_bytes_total") > 0.0,
            "{after}"
        );
        assert!(
            metric_sample(&after, "tracekeep_bucket_request_seconds_total") > 0.0,
            "{after}"
        );
    } else {
        assert!(!after.contains("tracekeep_bucket_"), "bucket figures without a bucket");
    }
    assert!(after.lines().any(|line| line.starts_with("tracekeep_tso_mark ")));
    // The oldest trace's first event has TSO 1 (1970): its age is now.
    let age = metric_sample(&after, "tracekeep_oldest_trace_age_seconds");
    assert!(age > 1.7e9, "{age}");
    assert!(
        metric_sample(&after, "tracekeep_open_connections") >= 1.0,
        "the scrape's own connection"
    );
    for gauge in [
        "tracekeep_rocksdb_memtable_bytes",
        "tracekeep_rocksdb_pending_compaction_bytes",
        "tracekeep_rocksdb_write_stops",
        "tracekeep_rocksdb_compaction_seconds_total",
        "tracekeep_retention_deleted_traces_total",
        "tracekeep_disk_bound_passes_total",
        "tracekeep_disk_bound_deleted_traces_total",
    ] {
        assert!(after.lines().any(|line| line.starts_with(gauge)), "{gauge} missing");
    }
}

#[tokio::test]
async fn a_refused_dm_upload_is_counted_by_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "min-free-disk-bytes = 1152921504606846976\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let mut client = server.grpc().await;
    let answer = upload_jobs(&mut client, vec![job("a", 1)]).await;
    assert!(!answer.result);
    let scrape = server.get("/metrics").body;
    assert_eq!(
        metric_sample(
            &scrape,
            "tracekeep_refused_requests_total{protocol=\"dm\",reason=\"disk_full\"}"
        ),
        1.0,
        "{scrape}"
    );
    assert_eq!(
        metric_sample(&scrape, "tracekeep_ingested_total{protocol=\"dm\",kind=\"job\"}"),
        0.0
    );
}

#[tokio::test]
async fn a_checkpoint_taken_while_serving_is_a_store_of_its_own() {
    if tracekeep_e2e::harness::rocksdb_only("checkpoints are RocksDB directories") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            &write_config(&dir, &format!("backup-dir = {:?}\n", backups.to_str().unwrap())),
        ],
    );
    let mut client = server.grpc().await;
    assert!(
        upload_jobs(&mut client, vec![job("before", 1), job("before", 2)])
            .await
            .result
    );

    assert_eq!(
        server.get("/api/tracekeep/checkpoint?name=nightly").status,
        400,
        "GET is refused"
    );
    let taken = server.post("/api/tracekeep/checkpoint?name=nightly");
    assert_eq!(taken.status, 200, "{}", taken.body);
    let path = taken.json()["path"].as_str().unwrap().to_owned();
    assert_eq!(std::path::Path::new(&path), backups.join("nightly"));
    // Writes after the checkpoint are not in it.
    assert!(upload_jobs(&mut client, vec![job("after", 3)]).await.result);
    assert_eq!(server.post("/api/tracekeep/checkpoint?name=nightly").status, 409);
    for bad in ["../escape", ".hidden", "a/b", ""] {
        let response = server.post(&format!("/api/tracekeep/checkpoint?name={}", encode(bad)));
        assert_eq!(response.status, 400, "{bad:?}: {}", response.body);
    }

    // The copy opens as a store: a second server reads it.
    let restored = Server::start(std::path::Path::new(&path), &[]);
    let before = restored.get("/events/query?trace_id=before");
    assert_eq!(tsos(&before.json()), [1, 2]);
    assert_eq!(restored.get("/events/query?trace_id=after").status, 404);
    // The original goes on serving both.
    assert_eq!(server.get("/events/query?trace_id=after").status, 200);
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("tracer.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The unit in deploy/, pointed at this build's binary.
fn unit_for_this_build() -> String {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/tracekeep.service")).unwrap();
    unit.replace(
        "/usr/local/bin/tracekeep-server",
        binary("tracekeep-server").to_str().unwrap(),
    )
}

#[test]
fn the_systemd_unit_checks_its_config_with_flags_the_server_has() {
    let unit = unit_for_this_build();
    for hardening in [
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/tracekeep",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|line| line == hardening), "{hardening} missing");
    }
    // The unit's own ExecStartPre, with the example config and a scratch data directory.
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../tracekeep.example.toml");
    let line = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStartPre="))
        .unwrap();
    let line = line
        .replace("/etc/tracekeep/tracekeep.toml", example)
        .replace("/var/lib/tracekeep/data", dir.path().join("data").to_str().unwrap());
    let words: Vec<&str> = line.split_whitespace().collect();
    let output = std::process::Command::new(words[0]).args(&words[1..]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let start = unit.lines().find_map(|line| line.strip_prefix("ExecStart=")).unwrap();
    assert!(start.contains("--config /etc/tracekeep/tracekeep.toml --data-dir /var/lib/tracekeep/data"));
    // systemd's own checker, where this machine has it (Debian's systemd package).
    if let Ok(verify) = std::process::Command::new("systemd-analyze").arg("--version").output()
        && verify.status.success()
    {
        let path = dir.path().join("tracekeep.service");
        std::fs::write(&path, &unit).unwrap();
        let output = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

/// Reads until the server closes the connection; returns what it sent.
fn read_to_close(stream: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read as _;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(error) => panic!("the server never closed the connection: {error}"),
        }
    }
}

#[test]
fn an_http1_client_that_never_finishes_its_request_head_is_disconnected() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "header-read-timeout-secs = 1\n");
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);
    let mut slow = std::net::TcpStream::connect(server.addr).unwrap();
    let started = std::time::Instant::now();
    // Slowloris: a request line and one header, then nothing.
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n").unwrap();
    let answer = read_to_close(&mut slow);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "closed before the timeout"
    );
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Everyone else is served as before.
    assert_eq!(server.get("/status").status, 200);
}

#[test]
fn beyond_max_connections_a_new_connection_waits_until_one_closes() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "max-connections = 2\n");
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);
    // Two keep-alive connections, each served once and held open.
    let keep_alive = b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
        stream.write_all(keep_alive).unwrap();
        let mut head = [0u8; 12];
        use std::io::Read as _;
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(stream);
    }
    // A third: the kernel completes its handshake, the server does not take it.
    let mut third = std::net::TcpStream::connect(server.addr).unwrap();
    third
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    use std::io::Read as _;
    let waited = third.read(&mut byte);
    assert!(
        matches!(&waited, Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "the third connection was served while two were open: {waited:?}"
    );
    // One closes: the third is taken and answered.
    drop(held.pop());
    let answer = read_to_close(&mut third);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn tls_settings_that_cannot_work_stop_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let alone = write_config(&dir, "tls-cert-file = \"/nonexistent/server.pem\"\n");
    let (status, output) = run_to_exit(&["--check-config", "--config", &alone]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("set both or neither"), "{output}");

    let missing = write_config(
        &dir,
        "tls-cert-file = \"/nonexistent/server.pem\"\ntls-key-file = \"/nonexistent/key.pem\"\n",
    );
    let (status, output) = run_to_exit(&["--check-config", "--config", &missing]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("tls-cert-file /nonexistent/server.pem"), "{output}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let config = write_config(
        &dir,
        &format!(
            "tls-cert-file = {0:?}\ntls-key-file = {0:?}\n",
            garbage.to_str().unwrap()
        ),
    );
    let data = dir.path().join("data");
    let (status, output) = run_to_exit(&[
        "--tracer-addr",
        "127.0.0.1:0",
        "--config",
        &config,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!status.success(), "{output}");
    assert!(output.contains("no certificate"), "{output}");
}

#[test]
fn retention_is_on_by_default_off_with_zero_and_refused_when_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let started = std::time::Instant::now();
    while !server.log_lines().iter().any(|line| line.contains("retention on")) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no retention sweeper"
        );
        server.pace();
    }
    let scrape = server.get("/metrics").body;
    assert_eq!(
        metric_sample(&scrape, "tracekeep_retention_deleted_traces_total"),
        0.0,
        "{scrape}"
    );
    assert!(
        scrape.contains("tracekeep_retention_deleted_traces_total 0"),
        "{scrape}"
    );
    let (_, lines) = server.terminate();
    assert!(
        lines.iter().any(|line| line.contains("604800s")),
        "7 days by default: {lines:?}"
    );

    let off = tempfile::tempdir().unwrap();
    let server = Server::start(&off.path().join("data"), &["--retention", "0"]);
    let (_, lines) = server.terminate();
    assert!(!lines.iter().any(|line| line.contains("retention on")), "{lines:?}");

    let (status, output) = run_to_exit(&["--check-config", "--retention", "7w"]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("retention \"7w\""), "{output}");
}

/// The nice value of each of `pid`'s threads, by thread name (as the kernel
/// keeps it: at most 15 bytes).
fn nice_by_thread(pid: u32) -> Vec<(String, i32)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm"))
            .unwrap()
            .trim_end()
            .to_owned();
        let fields = proc_stat_fields(task.join("stat").to_str().unwrap()).unwrap();
        // Nice is field 19.
        let nice = fields[16].parse().unwrap();
        threads.push((name, nice));
    }
    threads
}

#[test]
fn ingest_nice_lowers_the_upload_threads_and_the_writer_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "ingest-nice = 7\n");
    let server = Server::start(&dir.path().join("data"), &["--config", &config]);
    let threads = nice_by_thread(server.pid());
    let nice_of = |prefix: &str| -> Vec<i32> {
        threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, nice)| *nice)
            .collect()
    };
    let ingest = nice_of("tracekeep-inges");
    assert!(!ingest.is_empty(), "no ingest runtime thread in {threads:?}");
    assert!(ingest.iter().all(|&nice| nice == 7), "{threads:?}");
    assert_eq!(nice_of("tracekeep-write"), [7], "{threads:?}");
    // The runtime that serves queries keeps its priority.
    let readers = nice_of("tokio-rt-worker");
    assert!(!readers.is_empty(), "no main runtime thread in {threads:?}");
    assert!(readers.iter().all(|&nice| nice == 0), "{threads:?}");
    // Uploads and queries are served as ever.
    assert_eq!(server.get("/status").status, 200);
}
