//! A bucket that fails, on a real S3 server: SeaweedFS frozen with SIGSTOP
//! (connections stay open, nothing answers) and resumed; SeaweedFS killed
//! with SIGKILL under load and started again. Runs only on a bucket, in a
//! SeaweedFS of its own (`scripts/test.sh` runs this module apart: each test
//! stalls every other test's bucket, so they also take turns here).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracekeep_e2e::harness::*;
use tracekeep_e2e::seaweedfs::{command_line, node_holding_volumes, signal_seaweedfs};

/// The SeaweedFS process now: the one the script started, or the one a test
/// started again after killing it. `None` when not on SeaweedFS.
fn seaweedfs_pid() -> Option<String> {
    let restarted = std::env::var("TRACEKEEP_SEAWEEDFS_PID_FILE")
        .ok()
        .and_then(|file| std::fs::read_to_string(file).ok())
        .filter(|pid| !pid.trim().is_empty());
    restarted.or_else(|| std::env::var("TRACEKEEP_SEAWEEDFS_PID").ok())
}

/// One fault at a time: the tests share one SeaweedFS.
static ONE_FAULT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a fault test starts from: its turn at SeaweedFS, SeaweedFS's PID,
/// and a server on a fresh directory.
struct Fault(tokio::sync::MutexGuard<'static, ()>, String, tempfile::TempDir, Server);

impl Fault {
    /// `None`, after saying so, when the suite does not run on SeaweedFS.
    async fn begin() -> Option<Fault> {
        if std::env::var_os("TRACEKEEP_SEAWEEDFS_PID").is_none() {
            eprintln!("bucket only: run under tests/bucket/run-on-seaweedfs.sh");
            return None;
        }
        let turn = ONE_FAULT_AT_A_TIME.lock().await;
        let pid = seaweedfs_pid()?;
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&dir.path().join("data"), &[]);
        Some(Fault(turn, pid, dir, server))
    }
}

/// Resumes SeaweedFS when dropped, so a failed assertion cannot leave it frozen.
struct Resume<'a>(&'a str);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        signal_seaweedfs(self.0, "CONT", false);
    }
}

#[tokio::test]
async fn a_bucket_that_stops_answering_gets_retryable_refusals_and_ingest_recovers_by_itself() {
    let Some(Fault(_turn, pid, dir, server)) = Fault::begin().await else {
        return;
    };
    let mut client = server.grpc().await;
    let before = upload_jobs(&mut client, vec![job("before", 1), job("before", 2)]).await;
    assert!(before.result, "{}", before.msg);

    signal_seaweedfs(&pid, "STOP", false);
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

/// Kills SeaweedFS (its whole process group) with SIGKILL and starts the same
/// command line again, in the same directory, as a new session whose PID the
/// script that started SeaweedFS reads from `TRACEKEEP_SEAWEEDFS_PID_FILE`
/// and stops at the end.
fn kill_and_restart_seaweedfs(pid: &str) {
    use std::os::unix::process::CommandExt;
    let argv = command_line(pid);
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    signal_seaweedfs(pid, "KILL", true);
    // Dead once its command line is gone (a zombie's is empty until the
    // script reaps it at the end), so its ports are free again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| !line.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "SeaweedFS {pid} still runs 30 s after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its log beside the PID file, in the script's scratch directory.
    let pid_file = std::path::PathBuf::from(std::env::var("TRACEKEEP_SEAWEEDFS_PID_FILE").unwrap());
    let log = std::fs::File::create(pid_file.with_file_name("seaweedfs-restarted.log")).unwrap();
    #[expect(
        clippy::zombie_processes,
        reason = "the script that started SeaweedFS kills this one by the PID file and the kernel reaps it"
    )]
    let child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&cwd)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap();
    std::fs::write(&pid_file, child.id().to_string()).unwrap();
}

/// Four clients uploading two-event batches to traces of their own until
/// stopped, keeping what was acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    refused: Arc<std::sync::atomic::AtomicU64>,
    clients: Vec<tokio::task::JoinHandle<BTreeMap<String, Vec<i64>>>>,
}

impl Load {
    async fn start(server: &Server) -> Load {
        Load::start_named(server, "load").await
    }

    /// As [`Load::start`], its traces named `<name>-<client>-<n>`.
    async fn start_named(server: &Server, name: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut clients = Vec::new();
        for number in 0..4 {
            let mut client = server.grpc().await;
            let (stop, refused) = (stop.clone(), refused.clone());
            let name = name.to_owned();
            clients.push(tokio::spawn(async move {
                let mut acknowledged = BTreeMap::<String, Vec<i64>>::new();
                let mut tso = 0;
                while !stop.load(Ordering::Relaxed) {
                    let trace = format!("{name}-{number}-{}", tso / 10);
                    let batch = vec![job(&trace, tso + 1), job(&trace, tso + 2)];
                    tso += 2;
                    let reply = upload_jobs(&mut client, batch).await;
                    if reply.result {
                        acknowledged.entry(trace).or_default().extend([tso - 1, tso]);
                    } else {
                        // Only the retryable refusal of a bucket away.
                        assert!(reply.msg.contains("unavailable"), "{}", reply.msg);
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                acknowledged
            }));
        }
        Load { stop, refused, clients }
    }

    /// Stops the clients; what they had acknowledged, by trace.
    async fn finish(self) -> BTreeMap<String, Vec<i64>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut acknowledged = BTreeMap::new();
        for client in self.clients {
            acknowledged.extend(client.await.unwrap());
        }
        let events: usize = acknowledged.values().map(Vec::len).sum();
        eprintln!(
            "{events} events acknowledged in {} traces, {} batches refused",
            acknowledged.len(),
            self.refused.load(Ordering::Relaxed)
        );
        acknowledged
    }
}

/// Events the server has acknowledged since it started (its `/metrics`).
fn acknowledged_events(server: &Server) -> f64 {
    metric_total(&server.get("/metrics").body, "tracekeep_ingested_total").unwrap_or(0.0)
}

/// Waits until the server has acknowledged `more` events beyond what it had.
async fn wait_for_acknowledgements(server: &Server, more: f64, within: Duration, what: &str) {
    let target = acknowledged_events(server) + more;
    let deadline = Instant::now() + within;
    while acknowledged_events(server) < target {
        assert!(Instant::now() < deadline, "{what}: {}", server.get("/ready").body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every acknowledged event is stored once, in order. (A refused batch may
/// still have been stored, so stored events may hold more than that.)
fn assert_all_stored(server: &Server, acknowledged: &BTreeMap<String, Vec<i64>>) {
    for (trace, sent) in acknowledged {
        let stored = tsos(&server.get(&format!("/events/query?trace_id={trace}")).json());
        let mut at = stored.iter();
        for tso in sent {
            assert!(
                at.any(|stored| stored == tso),
                "{trace}: {tso} lost or out of order in {stored:?}"
            );
        }
        let mut unique = stored.clone();
        unique.dedup();
        assert_eq!(unique, stored, "{trace}: an event stored twice");
    }
}

/// The load's events read back through `server`, then through a new server
/// on an empty directory: from the bucket alone.
fn assert_all_stored_in_the_bucket(server: Server, dir: &Path, acknowledged: &BTreeMap<String, Vec<i64>>) {
    assert_all_stored(&server, acknowledged);
    drop(server);
    std::fs::remove_dir_all(dir.join("data")).unwrap();
    let server = Server::start(&dir.join("data"), &[]);
    assert_all_stored(&server, acknowledged);
}

#[tokio::test]
async fn a_bucket_server_killed_under_load_loses_nothing_acknowledged_and_ingest_resumes_when_it_is_back() {
    let Some(Fault(_turn, pid, dir, server)) = Fault::begin().await else {
        return;
    };
    let load = Load::start(&server).await;
    wait_for_acknowledgements(&server, 200.0, Duration::from_secs(60), "the load never got going").await;

    kill_and_restart_seaweedfs(&pid);
    // While SeaweedFS starts again the node refuses (retryably) or waits;
    // it takes uploads again by itself, without a restart.
    wait_for_acknowledgements(
        &server,
        200.0,
        Duration::from_secs(180),
        "ingest did not resume after SeaweedFS came back",
    )
    .await;
    let acknowledged = load.finish().await;
    assert_eq!(server.get("/ready").status, 200);
    assert_all_stored_in_the_bucket(server, dir.path(), &acknowledged);
}

#[tokio::test]
async fn losing_one_of_three_bucket_nodes_under_load_loses_nothing_acknowledged() {
    let pids = std::env::var("TRACEKEEP_SEAWEEDFS_NODE_PIDS").unwrap_or_default();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    if pids.len() != 3 {
        eprintln!("three-node SeaweedFS only: run under tests/bucket/run-on-seaweedfs.sh --nodes 3");
        return;
    }
    let Some(Fault(_turn, _, dir, server)) = Fault::begin().await else {
        return;
    };
    let load = Load::start(&server).await;
    wait_for_acknowledgements(&server, 200.0, Duration::from_secs(60), "the load never got going").await;

    // A node holding the bucket's data (a master and a volume server; not
    // the first, which runs the S3 gateway) dies for good.
    let victim = node_holding_volumes(&pids[1..]);
    signal_seaweedfs(&victim, "KILL", true);
    wait_for_acknowledgements(
        &server,
        400.0,
        Duration::from_secs(180),
        "ingest did not go on with two of three SeaweedFS nodes",
    )
    .await;
    let acknowledged = load.finish().await;
    assert_all_stored_in_the_bucket(server, dir.path(), &acknowledged);
}

/// Three tracekeep nodes on one bucket of a three-node SeaweedFS, each under
/// load; a SeaweedFS node holding the bucket's data dies for good: every
/// event any node acknowledged reads back through every node.
#[tokio::test]
async fn cluster_losing_one_of_three_bucket_nodes_under_load_loses_nothing_on_any_node() {
    let pids = std::env::var("TRACEKEEP_SEAWEEDFS_NODE_PIDS").unwrap_or_default();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    if pids.len() != 3 {
        eprintln!("three-node SeaweedFS only: run under tests/bucket/run-on-seaweedfs.sh --nodes 3");
        return;
    }
    // The turn at SeaweedFS; its single server is not used.
    let Some(Fault(_turn, _, dir, single)) = Fault::begin().await else {
        return;
    };
    drop(single);
    let bucket = bucket_for(&dir.path().join("cluster")).unwrap();
    let nodes: Vec<Server> = (1..=3)
        .map(|at| {
            let node_id = format!("node-{at}");
            Server::start_node(&dir.path().join(&node_id), &bucket, &node_id, &[])
        })
        .collect();
    let mut loads = Vec::new();
    for (at, node) in nodes.iter().enumerate() {
        loads.push(Load::start_named(node, &format!("node-{at}")).await);
    }
    for node in &nodes {
        wait_for_acknowledgements(node, 100.0, Duration::from_secs(60), "the load never got going").await;
    }
    let victim = node_holding_volumes(&pids[1..]);
    signal_seaweedfs(&victim, "KILL", true);
    for node in &nodes {
        wait_for_acknowledgements(
            node,
            200.0,
            Duration::from_secs(180),
            "ingest did not go on with two of three SeaweedFS nodes",
        )
        .await;
    }
    let mut acknowledged = BTreeMap::new();
    for load in loads {
        acknowledged.extend(load.finish().await);
    }
    // Every node reads every node's acknowledged events (within its poll).
    for node in &nodes {
        let deadline = Instant::now() + Duration::from_secs(60);
        for (trace, sent) in &acknowledged {
            loop {
                let response = node.get(&format!("/events/query?trace_id={trace}"));
                let stored = if response.status == 200 {
                    tsos(&response.json())
                } else {
                    Vec::new()
                };
                if sent.iter().all(|tso| stored.contains(tso)) {
                    break;
                }
                assert!(Instant::now() < deadline, "{trace}: {sent:?} not all in {stored:?}");
                node.pace();
            }
        }
        assert_all_stored(node, &acknowledged);
    }
}
