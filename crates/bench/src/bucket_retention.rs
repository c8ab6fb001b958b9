//! Whether expired data leaves the bucket: a server on a bucket with a
//! short retention is filled, retention deletes every trace, and the bucket's
//! size under the server's prefix is sampled until it falls (SlateDB drops
//! deleted keys as it compacts, and collects the objects compaction replaced
//! once they are old enough for readers to be done with them).

use std::time::{Duration, Instant};

use crate::bucket_bytes;
use crate::ingest::{Workload, through_server};
use anyhow::Context as _;
use tracekeep_e2e::harness::{Server, bucket_for};

/// The retention the server runs with: long enough for the fill to finish
/// before the first trace expires.
const RETENTION: &str = "90s";

/// Fills for `fill_for`, waits for retention to empty the store, then samples
/// the bucket's size every `every` for at most `watch_for`.
pub async fn run(fill_for: Duration, watch_for: Duration, every: Duration) -> anyhow::Result<()> {
    println!("\n## Expired data leaving the bucket (retention {RETENTION})\n");
    let dir = tempfile::tempdir().context("scratch dir")?;
    let data = dir.path().join("data");
    let Some(bucket) = bucket_for(&data) else {
        println!("(needs a bucket: run under tests/bucket/run-on-seaweedfs.sh)");
        return Ok(());
    };
    let server = Server::start(&data, &["--retention", RETENTION]);
    let workload = Workload {
        clients: 16,
        batch: 100,
        shape: 10,
        run_for: fill_for,
        first_client: 0,
        every: None,
    };
    let filled = through_server(&server, workload).await?;
    let full = bucket_bytes(&bucket)?;
    println!(
        "filled {} events at {:.0} events/s: {:.1} MB in the bucket",
        filled.events,
        filled.rate(),
        full as f64 / 1e6
    );
    let started = Instant::now();
    let traces = |stats: &serde_json::Value| stats["traces"].as_u64().unwrap_or(u64::MAX);
    let stored = traces(&server.get("/api/tracekeep/stats").json());
    // Retention keeps a trace until the minute after its horizon (clock
    // marks are per minute), so the sweep's own rate is timed from the first
    // trace it deletes to the last.
    let mut first_deleted: Option<Instant> = None;
    loop {
        let stats = server.get("/api/tracekeep/stats").json();
        let left = traces(&stats);
        if left < stored {
            first_deleted.get_or_insert_with(Instant::now);
        }
        if left == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "retention left traces after 30 minutes: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Some(first) = first_deleted {
        let sweep = first.elapsed().as_secs_f64().max(0.25);
        println!(
            "the sweep deleted {stored} traces in {sweep:.1} s: {:.0} traces/s",
            stored as f64 / sweep
        );
    }
    println!(
        "every trace expired and deleted {:.0} s after the fill\n",
        started.elapsed().as_secs_f64()
    );
    println!(
        "| minutes since the store emptied | bytes in the bucket | of the full store | in the manifest's tables |"
    );
    println!("|---|---|---|---|");
    let emptied = Instant::now();
    loop {
        let bytes = bucket_bytes(&bucket)?;
        let tables = server.get("/api/tracekeep/stats").json()["engine"]["table_bytes"]
            .as_u64()
            .unwrap_or(0);
        println!(
            "| {:.1} | {:.1} MB | {:.0}% | {:.1} MB |",
            emptied.elapsed().as_secs_f64() / 60.0,
            bytes as f64 / 1e6,
            100.0 * bytes as f64 / full.max(1) as f64,
            tables as f64 / 1e6
        );
        if bytes * 10 < full || emptied.elapsed() >= watch_for {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let (status, log) = server.terminate();
    anyhow::ensure!(status.success(), "the server exited with {status}");
    println!("\nWhat the server logged of compacting everything:\n");
    for line in log.iter().filter(|line| line.contains("compact")) {
        println!("    {line}");
    }
    Ok(())
}
