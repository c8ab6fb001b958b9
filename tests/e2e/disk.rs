//! Disk trouble, on a small tmpfs the test mounts itself (needs root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tracekeep_e2e::harness::*;

/// A tmpfs mounted for the test's life; `None` where mounting is not allowed.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                at.to_str().unwrap(),
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_path_buf()))
    }

    /// Flips the mounted filesystem read-only (or back); refused while files are open for writing.
    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}"), self.0.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0xA5u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

/// Uploads 256 KiB events to `trace` until one is refused; returns the message.
/// Without the reserve, RocksDB first uses the WAL space it preallocated, so
/// this may take tens of MB; 400 uploads (100 MB) cannot all fit.
async fn upload_until_refused(
    client: &mut tracekeep_proto::pb::tracer_client::TracerClient<tonic::transport::Channel>,
    trace: &str,
) -> String {
    let mut big = job(trace, 1);
    big.sql = "y".repeat(256 * 1024);
    for _ in 0..400 {
        let reply = upload_jobs(client, vec![big.clone()]).await;
        if !reply.result {
            return reply.msg;
        }
    }
    panic!("a full disk never refused an upload");
}

#[tokio::test]
async fn a_full_disk_refuses_uploads_clearly_and_ingest_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), "64m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?); see docs/reliability.md");
        return;
    };
    let data = tmpfs.0.join("data");
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "min-free-disk-bytes = 4194304\n").unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let mut client = server.grpc().await;
    for n in 0..20 {
        assert!(upload_jobs(&mut client, vec![job("before", n + 1)]).await.result);
    }
    let filler = tmpfs.0.join("filler");
    fill(&filler);

    // Uploads now fail with a clear result=false message, and keep failing.
    // The reserve check refuses at once.
    let message = upload_until_refused(&mut client, "during").await;
    eprintln!("full disk: {message}");
    assert!(message.contains("not enough disk space"), "{message}");
    // Deletes still work on a full disk: they are how space is freed.
    assert_eq!(server.post("/events/delete?trace_id=nothing-here").status, 200);
    assert_eq!(server.get("/status").status, 200, "/status still answers");
    assert_eq!(
        tsos(&server.get("/events/query?trace_id=before").json()).len(),
        20,
        "nothing stored is lost"
    );

    // Space returns: ingest resumes without a restart.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let reply = upload_jobs(&mut client, vec![job("after", 1)]).await;
        if reply.result {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ingest did not resume: {}",
            reply.msg
        );
        server.pace();
    }
    assert_eq!(tsos(&server.get("/events/query?trace_id=before").json()).len(), 20);
    assert_eq!(tsos(&server.get("/events/query?trace_id=after").json()), [1]);
}

#[tokio::test]
async fn without_the_reserve_a_full_disk_is_sticky_until_a_restart_and_loses_nothing() {
    if tracekeep_e2e::harness::rocksdb_only(
        "RocksDB treats a full disk mid-write as sticky; a bucket node writes nothing it needs locally",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), "64m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?); see docs/reliability.md");
        return;
    };
    let data = tmpfs.0.join("data");
    // No reserve: RocksDB itself runs into ENOSPC.
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "min-free-disk-bytes = 0\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let server = Server::start(&data, &args);
    let mut client = server.grpc().await;
    assert!(
        upload_jobs(&mut client, vec![job("kept", 1), job("kept", 2)])
            .await
            .result
    );
    let filler = tmpfs.0.join("filler");
    fill(&filler);
    let message = upload_until_refused(&mut client, "refused").await;
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(server.get("/status").status, 200);
    assert_eq!(tsos(&server.get("/events/query?trace_id=kept").json()), [1, 2]);
    let acknowledged = tsos(&server.get("/events/query?trace_id=refused").json()).len();

    std::fs::remove_file(&filler).unwrap();
    drop(server);
    let server = Server::start(&data, &args);
    assert_eq!(tsos(&server.get("/events/query?trace_id=kept").json()), [1, 2]);
    assert_eq!(
        tsos(&server.get("/events/query?trace_id=refused").json()).len(),
        acknowledged,
        "every upload acknowledged before the failure is still there"
    );
    let mut client = server.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("kept", 3)]).await.result);
}

#[test]
fn a_data_directory_on_a_read_only_filesystem_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), "8m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?); see docs/reliability.md");
        return;
    };
    tmpfs.remount("ro");
    let data = tmpfs.0.join("data");
    let (status, output) = run_to_exit(&["--tracer-addr", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]);
    assert!(!status.success());
    assert!(output.contains("Read-only file system"), "{output}");
}
