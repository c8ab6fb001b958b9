//! Overload: many clients sending large batches as fast as they can. Server
//! RSS must stay bounded: uploads wait for the writer (max-concurrent-uploads)
//! instead of piling up in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_client::dm::{DmTracer, DmTracerConfig};
use tracekeep_e2e::harness::Server;

use crate::events;
use crate::query::rss_mb;

const CLIENTS: usize = 64;
const BATCH: u64 = 1000;

/// Runs the overload for `run_for` and prints the RSS curve.
pub async fn run(run_for: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let server = Server::start(&dir.path().join("data"), &[]);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let tracer =
            DmTracer::start(DmTracerConfig::new(format!("http://{}", server.addr), "overload")).context("client")?;
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let batch = (n..n + BATCH)
                    .map(|i| events::job(&format!("overload.c{client}.{}", i / 10), i as i64))
                    .collect();
                tracer.upload_jobs(batch).await.context("upload")?;
                n += BATCH;
                done.fetch_add(BATCH, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    println!(
        "\n## Overload ({CLIENTS} clients, batches of {BATCH}, {} s)\n",
        run_for.as_secs()
    );
    println!("| second | server RSS MB | events stored |");
    println!("|---|---|---|");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let (mut peak, mut second) = (0.0f64, 0u64);
    while tasks.iter().any(|task| !task.is_finished()) {
        tick.tick().await;
        let rss = rss_mb(&server);
        peak = peak.max(rss);
        if second.is_multiple_of(5) {
            println!("| {second} | {rss:.0} | {} |", done.load(Ordering::Relaxed));
        }
        second += 1;
    }
    for task in tasks {
        task.await.context("join a client")??;
    }
    let events = done.load(Ordering::Relaxed);
    println!(
        "\nPeak server RSS {peak:.0} MB; {events} events stored, {:.0} events/s.",
        events as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
