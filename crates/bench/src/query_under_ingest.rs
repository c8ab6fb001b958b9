//! Query latency while ingest goes on: operators read while DM workers
//! upload. 16 connections query 10-event traces over HTTP/1.1 keep-alive
//! while 16 gRPC clients keep uploading batches of 100 events to other
//! traces, on one fresh server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_e2e::harness::Server;

use crate::ingest::{Workload, through_server, trace_id};
use crate::percentiles;
use crate::query::KeepAlive;

/// Query connections, as many as the upload clients.
const QUERY_CLIENTS: usize = 16;
/// Upload clients, each sending 100 events per request.
const INGEST_CLIENTS: usize = 16;
/// Events per trace, for the queried traces and the uploaded ones.
const SHAPE: u64 = 10;

/// Prints one table: ingest alone, then queries beside ingest.
pub async fn run(run_for: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let server = Server::start(&dir.path().join("data"), &[]);
    // The traces to query: every seeding client's first ten 10-event traces
    // exist once its first batch of 100 is acknowledged.
    let seed = Workload {
        clients: INGEST_CLIENTS,
        batch: 100,
        shape: SHAPE,
        run_for: Duration::from_secs(2),
        first_client: 0,
    };
    through_server(&server, seed)
        .await
        .context("seed the traces to query")?;
    let queried: Vec<String> = (0..INGEST_CLIENTS)
        .flat_map(|client| (0..10).map(move |trace| trace_id(client, trace)))
        .collect();

    let load = Workload {
        first_client: INGEST_CLIENTS,
        run_for,
        ..seed
    };
    let alone = through_server(&server, load).await.context("ingest alone")?;

    let stop = Arc::new(AtomicBool::new(false));
    let queried = Arc::new(queried);
    let readers: Vec<_> = (0..QUERY_CLIENTS)
        .map(|reader| {
            let (stop, queried, addr) = (stop.clone(), queried.clone(), server.addr);
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let mut http = KeepAlive::connect(addr)?;
                let mut samples = Vec::new();
                let mut i = reader;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/events/query?trace_id={}", queried[i % queried.len()]);
                    i += QUERY_CLIENTS + 1;
                    let sent = Instant::now();
                    let (status, body, _) = http.get(&path)?;
                    samples.push(sent.elapsed());
                    anyhow::ensure!(status == 200 && !body.is_empty(), "{path} answered {status}");
                }
                Ok(samples)
            })
        })
        .collect();
    let beside = Workload {
        first_client: 2 * INGEST_CLIENTS,
        ..load
    };
    let during = through_server(&server, beside).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for reader in readers {
        samples.extend(
            reader
                .join()
                .map_err(|_| anyhow::anyhow!("a query thread panicked"))??,
        );
    }
    let during = during.context("ingest beside the queries")?;
    let (q50, q99) = percentiles(&mut samples);
    println!(
        "\n## Queries while ingest goes on ({QUERY_CLIENTS} query connections, {INGEST_CLIENTS} x 100 uploads, 10-event traces)\n"
    );
    println!("| measure | ingest events/s | queries/s | query p50 µs | query p99 µs |");
    println!("|---|---|---|---|---|");
    println!("| ingest alone | {:.0} | - | - | - |", alone.rate());
    println!(
        "| queries beside ingest | {:.0} | {:.0} | {q50:.0} | {q99:.0} |",
        during.rate(),
        samples.len() as f64 / during.seconds
    );
    Ok(())
}
