//! The crash loop over a cluster (`scripts/crash-test.sh --cluster`): three
//! nodes on one SeaweedFS bucket, clients uploading DM events, Zipkin and
//! OTLP spans and deleting traces through whichever node each cycle gives
//! them, while a random node is killed with SIGKILL (its data directory
//! deleted every other time) and started again. After each restart every
//! node must read every acknowledged event exactly once, in order, the same
//! on every node; at the end every node's database verifies clean.
//!
//! The model is the single-node loop's ([`crate::crash`]): each client owns
//! its traces and runs one operation at a time, and only the operations of
//! clients on the killed node may be pending. Truncates are left to the
//! end-to-end suite (`tests/e2e/cluster.rs`).
//!
//! On a three-node SeaweedFS (`run-on-seaweedfs.sh --nodes 3`), halfway
//! through one SeaweedFS node holding the bucket's data is killed for good
//! too, under the same load; the loop goes on with two.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::crash::{
    ClientModel, ClientRun, CrashOptions, CrashReport, Progress, Rng, check, client_models, run_client, stored_ids,
};
use crate::harness::{Server, bucket_for};

/// How long the nodes may take to read each other after a restart.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

fn node_dir(data_dir: &Path, at: usize) -> PathBuf {
    data_dir.join(format!("node-{at}"))
}

fn start_node(data_dir: &Path, bucket: &str, at: usize) -> Server {
    let node_id = format!("node-{at}");
    Server::start_node(
        &node_dir(data_dir, at),
        bucket,
        &node_id,
        &["--bucket-flush-interval-ms", "2"],
    )
}

/// Every trace's events as each node reads them, once all nodes read the
/// same (or at the deadline, with a problem).
fn converged(servers: &[Server], clients: &[ClientModel], report: &mut CrashReport) {
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let mut views: Vec<BTreeMap<String, Result<Vec<i64>, String>>> = Vec::new();
        for server in servers {
            let mut view = BTreeMap::new();
            for model in clients {
                for trace in model.traces.keys() {
                    view.insert(trace.clone(), stored_ids(server, trace));
                }
            }
            views.push(view);
        }
        if views.windows(2).all(|pair| pair[0] == pair[1]) {
            return;
        }
        if Instant::now() > deadline {
            let differing: Vec<&String> = views[0]
                .keys()
                .filter(|trace| views.iter().any(|view| view.get(*trace) != views[0].get(*trace)))
                .collect();
            report.problems.push(format!(
                "the nodes still read different events of {differing:?} {} s after a restart",
                CONVERGE_WITHIN.as_secs()
            ));
            return;
        }
        servers[0].pace();
    }
}

/// Kills, for good, a SeaweedFS node holding the bucket's data (not the
/// first, which runs the S3 gateway) when the bucket is a three-node
/// SeaweedFS; nothing otherwise.
fn lose_a_seaweedfs_node(report: &mut CrashReport) {
    let pids = std::env::var("TRACEKEEP_SEAWEEDFS_NODE_PIDS").unwrap_or_default();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    if pids.len() != 3 {
        return;
    }
    let victim = crate::seaweedfs::node_holding_volumes(&pids[1..]);
    crate::seaweedfs::signal_seaweedfs(&victim, "KILL", true);
    report.seaweedfs_nodes_killed += 1;
}

/// Runs the loop over `nodes` nodes; the report says what was acknowledged and lost.
pub async fn cluster_crash_loop(options: &CrashOptions, nodes: usize) -> CrashReport {
    let mut report = CrashReport {
        order_is_approximate: true,
        ..CrashReport::default()
    };
    let Some(bucket) = bucket_for(&options.data_dir) else {
        report
            .problems
            .push("a cluster needs a bucket: run under tests/bucket/run-on-seaweedfs.sh".into());
        return report;
    };
    let mut rng = Rng::new(options.seed);
    let mut clients = client_models(options);
    let mut servers: Vec<Server> = (0..nodes)
        .map(|at| start_node(&options.data_dir, &bucket, at))
        .collect();
    // GetTSO rises per node: what each node issued so far.
    let mut node_tso = vec![0i64; nodes];
    let mut next_id = 1i64;
    for cycle in 0..options.cycles {
        let (stop_tx, stop_rx) = watch::channel(false);
        let progress = std::sync::Arc::new(Progress::default());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        let mut assigned = Vec::new();
        for (index, mut model) in clients.drain(..).enumerate() {
            let node = rng.below(nodes as u64) as usize;
            assigned.push(node);
            model.max_tso = node_tso[node];
            let server = &servers[node];
            let grpc = server.grpc().await;
            let run = ClientRun {
                client: index,
                traces: options.traces_per_client,
                addr: server.addr,
                rng: Rng::new(rng.next_u64()),
                next_id: next_id + (index as i64) * 1_000_000_000,
                stop: stop_rx.clone(),
                progress: progress.clone(),
                done: done.clone(),
                tolerate_unavailable: true,
            };
            tasks.push(tokio::spawn(run_client(run, model, grpc)));
        }
        next_id += (options.clients as i64) * 1_000_000_000;
        progress.kill_point(&mut rng, &done, options.clients).await;
        if cycle == options.cycles / 2 {
            lose_a_seaweedfs_node(&mut report);
        }
        let victim = rng.below(nodes as u64) as usize;
        let killed = servers.remove(victim);
        killed.kill9();
        let _ = stop_tx.send(true);
        for (task, node) in tasks.into_iter().zip(&assigned) {
            let (model, problems) = task.await.unwrap();
            node_tso[*node] = node_tso[*node].max(model.max_tso);
            report.problems.extend(problems);
            clients.push(model);
        }
        if cycle % 2 == 1 {
            // The bucket holds everything: a node that lost its disk comes
            // back with an empty directory.
            if let Err(error) = std::fs::remove_dir_all(node_dir(&options.data_dir, victim)) {
                report
                    .problems
                    .push(format!("cycle {cycle}: removing node-{victim}'s directory: {error}"));
            }
            report.local_dirs_deleted += 1;
        }
        servers.insert(victim, start_node(&options.data_dir, &bucket, victim));
        let after_restart = crate::crash::tso(&servers[victim]).await;
        if after_restart <= node_tso[victim] {
            report.problems.push(format!(
                "cycle {cycle}: node-{victim}'s TSO {after_restart} after restart is not above {}",
                node_tso[victim]
            ));
        }
        node_tso[victim] = after_restart;
        converged(&servers, &clients, &mut report);
        check(&servers[victim], &mut clients, false, &mut report);
        report.cycles += 1;
    }
    converged(&servers, &clients, &mut report);
    check(&servers[0], &mut clients, false, &mut report);
    for model in &clients {
        report.events_acknowledged += model.acknowledged;
        report.batches_acknowledged += model.batches;
        report.deletes_acknowledged += model.deletes;
        report.refused_retryably += model.refused_retryably;
    }
    drop(servers);
    // Every node's database, offline: records, order, counters and index agree.
    for at in 0..nodes {
        let node = format!("{}/nodes/node-{at}", bucket.trim_end_matches('/'));
        crate::crash::verify_offline(&node, &mut report);
    }
    report
}
