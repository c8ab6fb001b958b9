//! `tracekeep-dump` on stores built here, stopped and live.

use std::path::Path;

use tracekeep_proto::TraceEvent;
use tracekeep_store::{Store, StoreOptions};

use tracekeep_e2e::harness::*;

use crate::store_options;

fn dump_ok(args: &[&str]) -> String {
    let output = dump(args);
    assert_eq!(output.code, 0, "{args:?}: {}", output.stderr);
    output.stdout
}

/// Three traces: `a` (2 job events), `b` (1 binlog), `c.1` (1 job), TSOs set.
/// A clock stopped at the moment the store is built: both commits fall in
/// one minute, so the store holds exactly one clock mark.
struct StoppedClock(i64);

impl tracekeep_store::Clock for StoppedClock {
    fn now_nanos(&self) -> i64 {
        self.0
    }
}

fn build_store(dir: &Path) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let options = StoreOptions {
        clock: std::sync::Arc::new(StoppedClock(now)),
        ..StoreOptions::default()
    };
    let store = Store::open(dir, store_options(dir, options)).unwrap();
    let mut first = job("a", 1_552_371_525_597_270_410);
    first.sql = "INSERT INTO t VALUES (1)".into();
    store
        .append(vec![
            TraceEvent::Job(first),
            TraceEvent::Binlog(binlog("b", 1_552_371_525_000_000_000)),
            TraceEvent::Job(job("a", 1_552_371_526_000_000_000)),
        ])
        .unwrap();
    store
        .append(vec![TraceEvent::Job(job("c.1", 1_552_371_527_000_000_000))])
        .unwrap();
    store.next_tso().unwrap();
}

/// Every file's name, size and modification time.
fn snapshot(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                metadata.len(),
                metadata.modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn stats_list_show_and_export_read_a_stopped_store_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build_store(&data);
    let before = snapshot(&data);
    let path = data.to_str().unwrap();

    let text = dump_ok(&["stats", path]);
    assert!(text.contains("traces          3"), "{text}");
    assert!(text.contains("events          4 (binlog 1, job 3, span 0)"), "{text}");
    let format = format!("format version  {}", tracekeep_store::FORMAT_VERSION);
    assert!(text.contains(&format), "{text}");
    assert!(
        text.contains("oldest event    2019-03-12T06:18:45.000000000Z"),
        "{text}"
    );
    assert!(
        text.contains("newest event    2019-03-12T06:18:47.000000000Z"),
        "{text}"
    );
    let stats: serde_json::Value = serde_json::from_str(&dump_ok(&["stats", path, "--json"])).unwrap();
    assert_eq!(stats["traces"], 3);
    assert_eq!(
        stats["events_by_kind"],
        serde_json::json!({"binlog": 1, "job": 3, "span": 0})
    );
    assert!(stats["tso_mark"].as_i64().unwrap() > 0);
    // A bucket has no data directory to measure.
    assert!(on_bucket() || stats["bytes_on_disk"].as_u64().unwrap() > 0);
    // Retention's horizon: the traces arrived just now (to the minute).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let oldest = stats["oldest_trace_arrived_unix_nanos"].as_i64().unwrap();
    let newest = stats["newest_trace_arrived_unix_nanos"].as_i64().unwrap();
    assert!(
        oldest <= newest && newest <= now && now - oldest < 3_600_000_000_000,
        "{stats}"
    );
    assert!(text.contains("oldest trace    arrived"), "{text}");

    let text = dump_ok(&["list", path]);
    let ids: Vec<_> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().last())
        .collect();
    assert_eq!(&ids[..3], ["\"a\"", "\"b\"", "\"c.1\""], "{text}");
    let page: serde_json::Value = serde_json::from_str(&dump_ok(&["list", path, "--limit", "1", "--json"])).unwrap();
    assert_eq!(page["traces"][0]["trace_id"], "a");
    assert_eq!(page["traces"][0]["events"], 2);
    assert_eq!(page["traces"][0]["first_tso"], 1_552_371_525_597_270_410i64);
    let next = page["next"].as_str().unwrap().to_owned();
    let rest: serde_json::Value = serde_json::from_str(&dump_ok(&["list", path, "--after", &next, "--json"])).unwrap();
    let rest_ids: Vec<_> = rest["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].clone())
        .collect();
    assert_eq!(rest_ids, ["b", "c.1"]);
    assert_eq!(rest["next"], serde_json::Value::Null);
    let prefixed: serde_json::Value =
        serde_json::from_str(&dump_ok(&["list", path, "--prefix", "c.", "--json"])).unwrap();
    assert_eq!(prefixed["traces"].as_array().unwrap().len(), 1);

    let text = dump_ok(&["show", path, "a"]);
    assert!(text.starts_with("trace \"a\": 2 events"), "{text}");
    assert!(text.contains("2019-03-12T06:18:45.597270410Z  job"), "{text}");
    assert!(text.contains("syncer.go:1130"), "{text}");
    assert!(text.contains("sql: INSERT INTO t VALUES (1)"), "{text}");
    let text = dump_ok(&["show", path, "b"]);
    assert!(
        text.contains("binlog") && text.contains("eventType=ROTATE_EVENT(4)"),
        "{text}"
    );

    let lines: Vec<serde_json::Value> = dump_ok(&["export", path])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let order: Vec<_> = lines
        .iter()
        .map(|line| (line["trace_id"].clone(), line["type"].clone()))
        .collect();
    assert_eq!(
        order,
        [
            ("a".into(), 2.into()),
            ("a".into(), 2.into()),
            ("b".into(), 1.into()),
            ("c.1".into(), 2.into())
        ]
    );
    assert_eq!(lines[0]["event"]["sql"], "INSERT INTO t VALUES (1)");

    assert_eq!(
        dump_ok(&["verify", path]).trim(),
        "checked 13 records (4 events, 3 traces): 0 problems"
    );
    assert_eq!(snapshot(&data), before, "the dump tool must not change the directory");
}

#[test]
fn verify_reports_a_corrupted_record_with_its_key_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build_store(&data);
    Store::open(&data, store_options(&data, StoreOptions::default()))
        .unwrap()
        .inject_flipped_byte("a", 1, 12)
        .unwrap();
    let path = data.to_str().unwrap();
    let output = dump(&["verify", path]);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(
        output.stdout.contains("PROBLEM event trace=\"a\" seq="),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("CRC mismatch"), "{}", output.stdout);
    assert!(output.stdout.contains(": 1 problems"), "{}", output.stdout);
    let report: serde_json::Value = serde_json::from_str(&dump(&["verify", path, "--json"]).stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 1);

    let output = dump(&["show", path, "a"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("corrupted record at event trace=\"a\""),
        "{}",
        output.stderr
    );
    assert!(
        dump_ok(&["show", path, "b"]).contains("binlog"),
        "other traces still read"
    );
}

#[tokio::test]
async fn show_on_a_running_servers_directory_prints_the_http_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let mut client = server.grpc().await;
    let mut event = job("live.1", 7);
    event.sql = "UPDATE t SET a = '<&>' WHERE id = 1".into();
    assert!(upload_jobs(&mut client, vec![event, job("live.1", 8)]).await.result);
    assert!(upload_binlogs(&mut client, vec![binlog("live.1", 9)]).await.result);

    let http = server.get("/events/query?trace_id=live.1").body;
    let shown = dump_ok(&["show", data.to_str().unwrap(), "live.1", "--json"]);
    assert_eq!(shown.trim_end(), http);
    let verified = dump_ok(&["verify", data.to_str().unwrap()]);
    assert!(verified.trim_end().ends_with(": 0 problems"), "{verified}");
    assert_eq!(server.get("/status").status, 200, "the server is unaffected");
}

#[test]
fn a_missing_or_foreign_directory_is_a_one_line_error_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let output = dump(&["stats", missing.to_str().unwrap()]);
    assert_eq!(output.code, 2);
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("not a tracekeep data directory"),
        "{}",
        output.stderr
    );

    std::fs::write(dir.path().join("file.txt"), "hello").unwrap();
    let output = dump(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(output.code, 2);
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);

    let output = dump(&["show", missing.to_str().unwrap()]);
    assert_eq!(output.code, 2, "missing arguments are usage errors");
}

#[test]
fn services_lists_the_span_index_and_show_prints_spans() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open(&data, store_options(&data, StoreOptions::default())).unwrap();
        let span = |id: &str, service: &str, name: &str, remote: &str| {
            TraceEvent::Span(tracekeep_proto::pb::Span {
                base: base("00000000000000aa", 1_700_000_000_000_000_000),
                span_id: id.into(),
                operation: name.into(),
                local_endpoint: Some(tracekeep_proto::pb::Endpoint {
                    service_name: service.into(),
                    ..Default::default()
                }),
                remote_endpoint: Some(tracekeep_proto::pb::Endpoint {
                    service_name: remote.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        store
            .append(vec![
                span("0000000000000001", "Front", "GET /", "orders"),
                span("0000000000000002", "orders", "select", "mysql"),
            ])
            .unwrap();
        store
            .append(vec![TraceEvent::Job(job("dm.1", 1_700_000_000_000_000_001))])
            .unwrap();
    }
    let path = data.to_str().unwrap();
    assert_eq!(dump_ok(&["services", path]), "front\norders\n");
    assert_eq!(
        dump_ok(&["services", path, "--service", "Front"]),
        "span names of front:\n  get /\nremote services:\n  orders\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&dump_ok(&["services", path, "--service", "orders", "--json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"service": "orders", "span_names": ["select"], "remote_services": ["mysql"]})
    );
    let shown = dump_ok(&["show", path, "00000000000000aa"]);
    assert!(
        shown.contains("0000000000000002") && shown.contains("select"),
        "{shown}"
    );
    // `list --dm` leaves the span trace out.
    let ids = |args: &[&str]| -> Vec<serde_json::Value> {
        let page: serde_json::Value = serde_json::from_str(&dump_ok(args)).unwrap();
        page["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].clone())
            .collect()
    };
    assert_eq!(ids(&["list", path, "--json"]), ["00000000000000aa", "dm.1"]);
    assert_eq!(ids(&["list", path, "--dm", "--json"]), ["dm.1"]);
    assert_eq!(dump(&["verify", path]).code, 0);
}
