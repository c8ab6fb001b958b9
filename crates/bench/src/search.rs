//! Zipkin search: fills a store with 1 M spans (the Zipkin ingest rows'
//! shape, started within the last hour) over proto3, then times
//! `/api/v2/traces` as a UI asks it: by service and span name, and by
//! `annotationQuery=error`, each with `lookback=1h&limit=10`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tracekeep_e2e::harness::{Server, try_http};

use crate::percentiles;
use crate::zipkin::{CLIENTS, Format, SPANS_PER_REQUEST, body};

/// Queries per row.
const QUERIES: usize = 200;

fn now_micros() -> anyhow::Result<u64> {
    Ok(u64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros(),
    )?)
}

/// Fills the server with `total` spans from 16 clients; returns spans per second.
async fn fill(server: &Server, total: u64, epoch: u64) -> anyhow::Result<f64> {
    let addr = server.addr;
    let per_client = total / CLIENTS as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut first = 0;
            while first < per_client {
                let body = body(Format::Proto3, client, first, epoch);
                let response = try_http(
                    addr,
                    "POST",
                    "/api/v2/spans",
                    &[("Content-Type", "application/x-protobuf")],
                    &body,
                )
                .context("post spans")?;
                anyhow::ensure!(response.status == 202, "{}: {}", response.status, response.body);
                first += SPANS_PER_REQUEST;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("join a client")??;
    }
    Ok((per_client * CLIENTS as u64) as f64 / started.elapsed().as_secs_f64())
}

/// Times `QUERIES` searches built by `path(i)`; prints one row.
fn measure(server: &Server, label: &str, path: impl Fn(usize) -> String) -> anyhow::Result<()> {
    let mut latencies = Vec::with_capacity(QUERIES);
    let mut traces = 0usize;
    for i in 0..QUERIES {
        let path = path(i);
        let sent = Instant::now();
        let response = try_http(server.addr, "GET", &path, &[], &[]).context("search")?;
        latencies.push(sent.elapsed());
        anyhow::ensure!(response.status == 200, "{path}: {}: {}", response.status, response.body);
        traces += response.json().as_array().map_or(0, Vec::len);
    }
    let (p50, p99) = percentiles(&mut latencies);
    println!(
        "| {label:<58} | {:>7.1} | {:>7.2} | {:>7.2} |",
        traces as f64 / QUERIES as f64,
        p50 / 1e3,
        p99 / 1e3
    );
    Ok(())
}

/// The search benchmark over a store of `total` spans.
pub async fn run(total: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("make a data directory")?;
    let server = Server::start(&dir.path().join("data"), &[]);
    // Start ten minutes ago: every span lies inside a one-hour lookback.
    let epoch = now_micros()? - 600_000_000;
    let rate = fill(&server, total, epoch).await?;
    println!(
        "\nZipkin search over {total} spans (10 per trace, 5 services, 7 span names, 1% of traces with an error), filled at {rate:.0} spans/s"
    );
    println!("| query (lookback=1h, limit=10)                              | traces  | p50 ms  | p99 ms  |");
    println!("|------------------------------------------------------------|---------|---------|---------|");
    let common = "lookback=3600000&limit=10";
    measure(&server, "serviceName + spanName", |i| {
        format!(
            "/api/v2/traces?serviceName=frontend-{}&spanName=get%20%2Fapi%2Forders%2F%7Bid%7D%20{}&{common}",
            i % 5,
            i % 7
        )
    })?;
    measure(&server, "annotationQuery=error", |_| {
        format!("/api/v2/traces?annotationQuery=error&{common}")
    })?;
    measure(&server, "serviceName=frontend-3 + annotationQuery=error", |_| {
        format!("/api/v2/traces?serviceName=frontend-3&annotationQuery=error&{common}")
    })?;
    measure(
        &server,
        "no match: serviceName=frontend-2 + annotationQuery=error",
        |_| format!("/api/v2/traces?serviceName=frontend-2&annotationQuery=error&{common}"),
    )?;
    measure(&server, "serviceName + annotationQuery=http.method=GET", |i| {
        format!(
            "/api/v2/traces?serviceName=frontend-{}&annotationQuery=http.method%3DGET&{common}",
            i % 5
        )
    })?;
    Ok(())
}
