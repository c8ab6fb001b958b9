//! Query latency while ingest goes on: operators read while DM workers
//! upload. While 16 gRPC clients keep uploading batches of 100 events to
//! other traces, 10-event traces are queried over HTTP/1.1 keep-alive, on
//! one fresh server, in four rows:
//!
//! - **paced**: 4 connections together send 200 queries a second on a fixed
//!   schedule, as operators and dashboards do. Each latency counts from
//!   when the query was due, so a stalled server is not hidden by the
//!   client waiting (no coordinated omission).
//! - **saturating**: 16 connections query back to back, as many as the
//!   upload clients; with two cores shared this measures how the CPU is
//!   split more than how long one query takes (latency is about connections
//!   divided by queries per second).
//! - **paced, beside paced ingest**: the paced queries again, while the 16
//!   upload clients send at a fixed rate in all, dm-tracer's own 16 × 100
//!   rate in issue 35's run, instead of as fast as the server takes them.
//!   Back-to-back uploads leave no core idle, so the rows above measure
//!   queries on saturated cores; this one, queries beside the ingest the
//!   in-memory original could carry.
//! - **the floor**: the last row again with DM's `/status` (a constant
//!   answer that reads nothing) in place of the query: what the same client,
//!   HTTP stack and cores give a request that costs nothing, so that a
//!   query's latency above it is the query's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_e2e::harness::Server;

use crate::ingest::{Workload, through_server, trace_id};
use crate::percentiles;
use crate::query::KeepAlive;

/// Saturating query connections, as many as the upload clients.
const QUERY_CLIENTS: usize = 16;
/// Paced query connections.
const PACED_CLIENTS: usize = 4;
/// Paced queries per second, all connections together.
const PACED_RATE: u32 = 200;
/// Upload clients, each sending 100 events per request.
const INGEST_CLIENTS: usize = 16;
/// Events per trace, for the queried traces and the uploaded ones.
const SHAPE: u64 = 10;
/// The paced ingest, events a second in all: what dm-tracer took at
/// 16 × 100, 10 events per trace, in issue 35's side-by-side run.
const PACED_INGEST_RATE: u32 = 276_000;

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
        every: None,
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

    let queried = Asked::Traces(Arc::new(queried));
    let paced = beside_ingest(
        &server,
        load,
        2 * INGEST_CLIENTS,
        &queried,
        PACED_CLIENTS,
        Some(PACED_RATE),
    )
    .await
    .context("paced queries")?;
    let saturating = beside_ingest(&server, load, 3 * INGEST_CLIENTS, &queried, QUERY_CLIENTS, None)
        .await
        .context("saturating queries")?;
    // Each client's period: its share of the rate, 100 events at a time.
    let paced_load = Workload {
        every: Some(Duration::from_secs(1) * (INGEST_CLIENTS * 100) as u32 / PACED_INGEST_RATE),
        ..load
    };
    let both_paced = beside_ingest(
        &server,
        paced_load,
        4 * INGEST_CLIENTS,
        &queried,
        PACED_CLIENTS,
        Some(PACED_RATE),
    )
    .await
    .context("paced queries beside paced ingest")?;
    let floor = beside_ingest(
        &server,
        paced_load,
        5 * INGEST_CLIENTS,
        &Asked::Status,
        PACED_CLIENTS,
        Some(PACED_RATE),
    )
    .await
    .context("paced /status beside paced ingest")?;
    println!("\n## Queries while ingest goes on ({INGEST_CLIENTS} x 100 uploads, 10-event traces)\n");
    println!("| measure | ingest events/s | queries/s | query p50 µs | query p99 µs | in the server under 2 ms |");
    println!("|---|---|---|---|---|---|");
    println!("| ingest alone | {:.0} | - | - | - | - |", alone.rate());
    for (name, row) in [
        (
            format!("{PACED_CLIENTS} connections paced at {PACED_RATE}/s beside ingest"),
            paced,
        ),
        (
            format!("{QUERY_CLIENTS} connections back to back beside ingest"),
            saturating,
        ),
        (
            format!("{PACED_CLIENTS} connections paced at {PACED_RATE}/s beside ingest paced at {PACED_INGEST_RATE}/s"),
            both_paced,
        ),
        (
            format!(
                "the floor: {PACED_CLIENTS} connections asking `/status` at {PACED_RATE}/s beside ingest paced at {PACED_INGEST_RATE}/s"
            ),
            floor,
        ),
    ] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1}% |",
            row.ingest_rate,
            row.queries_per_second,
            row.p50,
            row.p99,
            row.in_server_under_2ms * 100.0
        );
    }
    Ok(())
}

/// One row: queries beside ingest.
struct Beside {
    ingest_rate: f64,
    queries_per_second: f64,
    p50: f64,
    p99: f64,
    /// The share of the row's queries the server itself answered within
    /// 2 ms (its `tracekeep_request_duration_seconds` histogram): their
    /// time from the request's head to its answer, without the client's
    /// own waits for a core.
    in_server_under_2ms: f64,
}

/// The server's count of `route` requests so far, and of those answered
/// within 2 ms, from `/metrics`.
fn answered_within_2ms(server: &Server, route: &str) -> anyhow::Result<(u64, u64)> {
    let mut http = KeepAlive::connect(server.addr)?;
    let (status, body, _) = http.get("/metrics")?;
    anyhow::ensure!(status == 200, "/metrics answered {status}");
    let text = String::from_utf8(body).context("/metrics is not UTF-8")?;
    let bucket = |le: &str| -> u64 {
        text.lines()
            .filter(|line| line.contains(&format!("route=\"{route}\"")) && line.contains(&format!("le=\"{le}\"")))
            .find_map(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok((bucket("+Inf"), bucket("0.002")))
}

/// What the reading connections ask for.
#[derive(Clone)]
enum Asked {
    /// `/events/query` of these traces, in turn.
    Traces(Arc<Vec<String>>),
    /// DM's `/status`: a constant answer that reads nothing (the floor).
    Status,
}

impl Asked {
    /// The route the server's metrics count these requests under.
    fn route(&self) -> &'static str {
        match self {
            Asked::Traces(_) => "/events/query",
            Asked::Status => "/status",
        }
    }

    /// The `i`-th request's path.
    fn path(&self, i: usize) -> String {
        match self {
            Asked::Traces(traces) => format!("/events/query?trace_id={}", traces[i % traces.len()]),
            Asked::Status => "/status".to_owned(),
        }
    }
}

/// Runs `load` (as clients from `first_client` on) while `connections`
/// ask for `asked`, back to back or, with `rate`, on a schedule of `rate`
/// requests a second in all.
async fn beside_ingest(
    server: &Server,
    load: Workload,
    first_client: usize,
    asked: &Asked,
    connections: usize,
    rate: Option<u32>,
) -> anyhow::Result<Beside> {
    let route = asked.route();
    let (total_before, within_before) = answered_within_2ms(server, route)?;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..connections)
        .map(|reader| {
            let (stop, asked, addr) = (stop.clone(), asked.clone(), server.addr);
            // Each paced connection's own schedule, staggered so the
            // connections do not send together.
            let every = rate.map(|rate| Duration::from_secs(1) * connections as u32 / rate);
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let mut http = KeepAlive::connect(addr)?;
                let mut samples = Vec::new();
                let mut i = reader;
                let mut due =
                    Instant::now() + every.map_or(Duration::ZERO, |every| every * reader as u32 / connections as u32);
                while !stop.load(Ordering::Relaxed) {
                    let path = asked.path(i);
                    i += connections + 1;
                    match every {
                        // A late query is sent at once, its latency counted
                        // from when it was due.
                        Some(_) => std::thread::sleep(due.saturating_duration_since(Instant::now())),
                        None => due = Instant::now(),
                    }
                    let (status, body, _) = http.get(&path)?;
                    samples.push(due.elapsed());
                    anyhow::ensure!(status == 200 && !body.is_empty(), "{path} answered {status}");
                    due += every.unwrap_or_default();
                }
                Ok(samples)
            })
        })
        .collect();
    let during = through_server(server, Workload { first_client, ..load }).await;
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
    let (total, within) = answered_within_2ms(server, route)?;
    let (total, within) = (total.saturating_sub(total_before), within.saturating_sub(within_before));
    anyhow::ensure!(total > 0, "the server counted none of the queries");
    let queries_per_second = samples.len() as f64 / during.seconds;
    let (p50, p99) = percentiles(&mut samples);
    Ok(Beside {
        ingest_rate: during.rate(),
        queries_per_second,
        p50,
        p99,
        in_server_under_2ms: within as f64 / total as f64,
    })
}
