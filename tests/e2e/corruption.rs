//! Damaged data: detected, reported with what is wrong, never served as good,
//! and the rest keeps working.

use std::path::{Path, PathBuf};

use tracekeep_proto::TraceEvent;
use tracekeep_store::{Store, StoreOptions};

use tracekeep_e2e::harness::*;

use crate::store_options;

fn sql_event(trace: &str, n: i64) -> TraceEvent {
    let mut event = job(trace, n + 1);
    // Varied text, so the table files hold many blocks rather than one compressed one.
    event.sql = format!(
        "INSERT INTO t VALUES ({n}, '{:x}{:x}{:x}')",
        n.wrapping_mul(2_654_435_761),
        n.wrapping_mul(40_503),
        n.wrapping_mul(0x9E37_79B9)
    );
    TraceEvent::Job(event)
}

/// `first`'s events (2000) flushed into one table file, then `second`'s into
/// another (each flush also writes a small file of the store's other keys).
fn two_table_files(dir: &Path) -> (PathBuf, PathBuf) {
    let store = Store::open(dir, store_options(dir, StoreOptions::default())).unwrap();
    store
        .append((0..2000).map(|n| sql_event("first", n)).collect())
        .unwrap();
    store.flush().unwrap();
    store.append((0..10).map(|n| sql_event("second", n)).collect()).unwrap();
    store.flush().unwrap();
    let tables = store.event_table_files().unwrap();
    assert_eq!(tables.len(), 2, "{tables:?}");
    (tables[0].clone(), tables[1].clone())
}

/// Cuts a file to half its length, as a crash mid-copy or a bad disk might.
fn truncate_to_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

fn dump_verify(data: &Path) -> (i32, String) {
    let output = std::process::Command::new(binary("tracekeep-dump"))
        .args(["verify", data.to_str().unwrap()])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn a_flipped_byte_in_a_record_is_a_500_for_that_trace_only() {
    if tracekeep_e2e::harness::rocksdb_only("damaged records are injected through the data directory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open(&data, store_options(&data, StoreOptions::default())).unwrap();
        store
            .append(vec![
                sql_event("damaged", 1),
                sql_event("damaged", 2),
                sql_event("fine", 3),
            ])
            .unwrap();
        store.inject_flipped_byte("damaged", 1, 30).unwrap();
    }
    let server = Server::start(&data, &[]);
    let response = server.get("/events/query?trace_id=damaged");
    assert_eq!(response.status, 500);
    assert!(
        response
            .body
            .contains("corrupted record at event trace=\"damaged\" seq="),
        "{}",
        response.body
    );
    assert!(response.body.contains("CRC mismatch"), "{}", response.body);
    assert_eq!(server.get("/events/query?trace_id=fine").status, 200);
    assert_eq!(
        server.get("/events/scan").status,
        500,
        "a page holding damage is not served as good"
    );

    let (code, report) = dump_verify(&data);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("PROBLEM event trace=\"damaged\""), "{report}");

    // Still serving, still ingesting, and the damage can be deleted away.
    let mut client = server.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("new", 1)]).await.result);
    assert!(
        server.post("/events/delete?trace_id=damaged").json()["result"]
            .as_bool()
            .unwrap()
    );
    assert_eq!(server.get("/events/scan").status, 200);
}

#[test]
fn a_flipped_byte_inside_a_table_file_is_caught_by_its_checksum() {
    if tracekeep_e2e::harness::rocksdb_only("RocksDB table files") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (first_table, _) = two_table_files(&data);
    let mut bytes = std::fs::read(&first_table).unwrap();
    // Well inside the data blocks of `first`: past the first block (which holds
    // the store metadata), well before the index and footer at the end.
    let at = bytes.len() * 3 / 5;
    bytes[at] ^= 0xFF;
    std::fs::write(&first_table, bytes).unwrap();

    let server = Server::start(&data, &[]);
    let response = server.get("/events/query?trace_id=first");
    assert_eq!(response.status, 500, "{}", response.body);
    assert!(response.body.to_lowercase().contains("corrupt"), "{}", response.body);
    assert!(response.body.contains("trace \"first\""), "{}", response.body);
    let second = server.get("/events/query?trace_id=second");
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(tsos(&second.json()).len(), 10);
    let (code, report) = dump_verify(&data);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("PROBLEM"), "{report}");
    assert_eq!(server.get("/status").status, 200);
}

#[test]
fn a_truncated_or_missing_table_file_stops_the_start_with_its_name() {
    if tracekeep_e2e::harness::rocksdb_only("RocksDB table files") {
        return;
    }
    for damage in ["truncate", "delete"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (first_table, _) = two_table_files(&data);
        if damage == "truncate" {
            truncate_to_half(&first_table);
        } else {
            std::fs::remove_file(&first_table).unwrap();
        }
        let name = first_table.file_name().unwrap().to_str().unwrap().to_owned();
        let (status, output) = run_to_exit(&["--tracer-addr", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]);
        assert!(
            !status.success(),
            "{damage}: the server must not serve a store with holes"
        );
        assert!(output.contains(&name), "{damage}: {output}");
        let (code, report) = dump_verify(&data);
        assert_eq!(code, 1, "{damage}: {report}");
        assert!(
            report.contains("PROBLEM") && report.contains(&name),
            "{damage}: {report}"
        );
    }
}

#[test]
fn a_table_file_truncated_under_a_running_server_fails_only_its_traces() {
    if tracekeep_e2e::harness::rocksdb_only("RocksDB table files") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (first_table, _) = two_table_files(&data);
    let server = Server::start(&data, &[]);
    assert_eq!(server.get("/status").status, 200);
    truncate_to_half(&first_table);

    let response = server.get("/events/query?trace_id=first");
    assert_eq!(response.status, 500, "{}", response.body);
    assert!(response.body.contains("trace \"first\""), "{}", response.body);
    let second = server.get("/events/query?trace_id=second");
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(server.get("/status").status, 200);
    let (code, report) = dump_verify(&data);
    assert_eq!(code, 1, "{report}");
    let name = first_table.file_name().unwrap().to_str().unwrap();
    assert!(report.contains(name), "{report}");
}

#[test]
fn a_table_file_deleted_under_a_running_server_is_still_served_and_verify_reports_it() {
    if tracekeep_e2e::harness::rocksdb_only("RocksDB table files") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (first_table, _) = two_table_files(&data);
    let server = Server::start(&data, &[]);
    assert_eq!(server.get("/status").status, 200);
    std::fs::remove_file(&first_table).unwrap();
    // The server holds the file open: nothing is lost until it restarts.
    assert_eq!(tsos(&server.get("/events/query?trace_id=first").json()).len(), 2000);
    assert_eq!(server.get("/events/query?trace_id=second").status, 200);
    let (code, report) = dump_verify(&data);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(first_table.file_name().unwrap().to_str().unwrap()),
        "{report}"
    );
}
