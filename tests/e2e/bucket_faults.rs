//! A bucket that stops answering, on a real S3 server: SeaweedFS frozen with
//! SIGSTOP (connections stay open, nothing answers), then resumed. Runs only
//! on a bucket, in a SeaweedFS of its own (`scripts/test.sh` runs this module
//! apart: freezing the server would stall every other test's bucket too).

use std::time::{Duration, Instant};

use tracekeep_e2e::harness::*;

/// Sends `signal` (`STOP`, `CONT`) to the SeaweedFS process.
fn signal_seaweedfs(pid: &str, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Resumes SeaweedFS when dropped, so a failed assertion cannot leave it frozen.
struct Resume<'a>(&'a str);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        signal_seaweedfs(self.0, "CONT");
    }
}

#[tokio::test]
async fn a_bucket_that_stops_answering_gets_retryable_refusals_and_ingest_recovers_by_itself() {
    let Ok(pid) = std::env::var("TRACEKEEP_SEAWEEDFS_PID") else {
        eprintln!("bucket only: run under tests/bucket/run-on-seaweedfs.sh");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut client = server.grpc().await;
    let before = upload_jobs(&mut client, vec![job("before", 1), job("before", 2)]).await;
    assert!(before.result, "{}", before.msg);

    signal_seaweedfs(&pid, "STOP");
    let resume = Resume(&pid);
    // Not confirmed by the bucket: refused, retryably, within the engine's
    // 10 s wait (and not acknowledged).
    let started = Instant::now();
    let during = upload_jobs(&mut client, vec![job("during", 3)]).await;
    assert!(!during.result, "an upload the bucket never confirmed was acknowledged");
    assert!(during.msg.contains("unavailable"), "{}", during.msg);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let ready = server.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(
        ready.json()["reason"].as_str().unwrap().contains("bucket"),
        "{}",
        ready.body
    );
    // What the node holds is still served.
    let query = server.get("/events/query?trace_id=before");
    assert_eq!(query.status, 200, "{}", query.body);
    assert_eq!(tsos(&query.json()), [1, 2]);

    drop(resume);
    // Back by itself, without a restart: an upload is acknowledged again
    // (the first may still meet the engine's backlog), and /ready follows.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tso = 10;
    loop {
        tso += 1;
        let after = upload_jobs(&mut client, vec![job("after", tso)]).await;
        if after.result {
            break;
        }
        assert!(Instant::now() < deadline, "ingest did not recover: {}", after.msg);
    }
    assert_eq!(server.get("/ready").status, 200);
    assert_eq!(tsos(&server.get("/events/query?trace_id=before").json()), [1, 2]);
    // Every acknowledged event is in the bucket: a new server on an empty
    // directory reads it back.
    drop(server);
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    assert_eq!(tsos(&server.get("/events/query?trace_id=before").json()), [1, 2]);
    assert_eq!(
        *tsos(&server.get("/events/query?trace_id=after").json()).last().unwrap(),
        tso
    );
}
