//! Query and scan latency in a big store, restart time, and footprint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_e2e::harness::Server;
use tracekeep_store::Store;

use crate::fill::{Filled, Mix, fill};
use crate::{Plan, percentiles};

/// One HTTP/1.1 keep-alive connection, so latency is the request, not TCP setup.
pub(crate) struct KeepAlive {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl KeepAlive {
    pub(crate) fn connect(addr: SocketAddr) -> anyhow::Result<KeepAlive> {
        let stream = TcpStream::connect(addr).context("connect")?;
        stream.set_nodelay(true).context("nodelay")?;
        Ok(KeepAlive {
            reader: BufReader::new(stream.try_clone().context("clone stream")?),
            writer: stream,
        })
    }

    /// GET `path`: the status, the body and the `x-tracekeep-next` header.
    pub(crate) fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>, Option<String>)> {
        write!(self.writer, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").context("send")?;
        let mut line = String::new();
        self.reader.read_line(&mut line).context("status line")?;
        let status = line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let (mut length, mut next) = (0usize, None);
        loop {
            line.clear();
            self.reader.read_line(&mut line).context("header")?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "x-tracekeep-next" => next = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).context("body")?;
        Ok((status, body, next))
    }
}

pub(crate) fn rss_mb(server: &Server) -> f64 {
    server.rss_kib().map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// Mostly small traces (by events: 45% in 2-event traces, 45% in 10-event
/// ones), plus some 100- and 1 000-event traces to query.
const SMALL_TRACES: Mix = &[(2, 45), (10, 45), (100, 5), (1000, 5)];

pub(crate) fn latency_row(label: &str, samples: &mut [Duration]) {
    let (p50, p99) = percentiles(samples);
    println!("| {label} | {} | {:.0} | {:.0} |", samples.len(), p50, p99);
}

/// `queries` queries of sampled traces of each size, one table row per size.
pub(crate) fn query_rows(
    http: &mut KeepAlive,
    filled: &Filled,
    sizes: &[u64],
    when: &str,
    queries: usize,
) -> anyhow::Result<()> {
    for &size in sizes {
        let traces = filled.traces_of(size);
        anyhow::ensure!(!traces.is_empty(), "no sampled trace of {size} events");
        let mut samples = Vec::with_capacity(queries);
        for i in 0..queries {
            let path = format!("/events/query?trace_id={}", traces[i % traces.len()]);
            let sent = Instant::now();
            let (status, body, _) = http.get(&path)?;
            samples.push(sent.elapsed());
            anyhow::ensure!(status == 200 && !body.is_empty(), "{path} answered {status}");
        }
        latency_row(&format!("/events/query, {size}-event trace, {when}"), &mut samples);
    }
    Ok(())
}

/// The server's `/api/tracekeep/stats`: store counts and RocksDB's figures.
pub(crate) fn engine(http: &mut KeepAlive) -> anyhow::Result<serde_json::Value> {
    let (status, body, _) = http.get("/api/tracekeep/stats")?;
    anyhow::ensure!(status == 200, "/api/tracekeep/stats answered {status}");
    serde_json::from_slice(&body).context("parse /api/tracekeep/stats")
}

/// Waits until compaction has nothing pending and none runs (at most
/// `limit`); returns the seconds it took.
pub(crate) async fn settle(http: &mut KeepAlive, limit: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        let stats = engine(http)?;
        let engine = &stats["engine"];
        if engine["pending_compaction_bytes"] == 0 && engine["running_compactions"] == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "compaction did not settle within {limit:?}: {engine}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Time from process start to the first answered `/events/query`.
fn restart_time(data: &Path, probe: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let server = Server::start(data, &[]);
    let mut http = KeepAlive::connect(server.addr)?;
    let (status, _, _) = http.get(&format!("/events/query?trace_id={probe}"))?;
    anyhow::ensure!(status == 200, "the probe query after a restart answered {status}");
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Query rows through a server started again on `data`: its in-memory
/// caches empty; on a bucket also with its disk cache emptied, so that every
/// read goes to the bucket.
fn after_restart(data: &Path, filled: &Filled, queries: usize) -> anyhow::Result<()> {
    println!("\n## Queries after a restart\n");
    println!("| request | n | p50 µs | p99 µs |");
    println!("|---|---|---|---|");
    let rows_from_a_new_server = |when: &str| -> anyhow::Result<()> {
        let server = Server::start(data, &[]);
        query_rows(&mut KeepAlive::connect(server.addr)?, filled, &[10, 100], when, queries)?;
        let (status, _) = server.terminate();
        anyhow::ensure!(status.success(), "the server exited with {status}");
        Ok(())
    };
    rows_from_a_new_server("after a restart")?;
    if tracekeep_e2e::harness::bucket_for(data).is_none() {
        return Ok(());
    }
    let cache = data.join("bucket-cache");
    std::fs::remove_dir_all(&cache).with_context(|| format!("empty the disk cache {}", cache.display()))?;
    rows_from_a_new_server("after a restart, disk cache emptied")
}

/// Prints the query, scan, restart and footprint tables.
pub async fn run(plan: &Plan) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let filled = fill(&server, plan.big_store, SMALL_TRACES).await?;
    let peak_rss = filled.peak_rss_mb;
    let mut http = KeepAlive::connect(server.addr)?;
    let idle_rss = rss_mb(&server);
    let pending = engine(&mut http)?["engine"]["pending_compaction_bytes"]
        .as_u64()
        .unwrap_or(0);

    println!(
        "\n## Query and scan ({} events in mostly small traces, filled at {:.0} events/s by 16 clients)\n",
        plan.big_store,
        filled.events as f64 / filled.seconds
    );
    println!(
        "Right after the burst RocksDB reported {} MB of compaction pending.\n",
        pending >> 20
    );
    println!("| request | n | p50 µs | p99 µs |");
    println!("|---|---|---|---|");
    query_rows(&mut http, &filled, &[10, 100, 1000], "compaction pending", plan.queries)?;
    let settled_after = settle(&mut http, Duration::from_secs(900)).await?;
    query_rows(
        &mut http,
        &filled,
        &[10, 100, 1000],
        &format!("settled ({settled_after:.0} s later)"),
        plan.queries,
    )?;
    let traces = engine(&mut http)?["traces"].as_u64().unwrap_or(0);
    let deep = traces.saturating_sub(20);
    let (_, _, cursor) = http.get(&format!("/events/scan?offset={deep}&limit=10"))?;
    let cursor = cursor.context("a next cursor at the deep offset")?;
    for (label, path) in [
        (
            "/events/scan offset 0, limit 10".to_owned(),
            "/events/scan?offset=0&limit=10".to_owned(),
        ),
        (
            format!("/events/scan offset {deep}, limit 10"),
            format!("/events/scan?offset={deep}&limit=10"),
        ),
        (
            format!("/events/scan after={cursor} (same depth), limit 10"),
            format!("/events/scan?after={cursor}&limit=10"),
        ),
    ] {
        let mut samples = Vec::new();
        for _ in 0..(plan.queries / 10).max(20) {
            let sent = Instant::now();
            let (status, _, _) = http.get(&path)?;
            samples.push(sent.elapsed());
            anyhow::ensure!(status == 200, "{path} answered {status}");
        }
        latency_row(&label, &mut samples);
    }

    let (status, _) = server.terminate();
    anyhow::ensure!(status.success(), "the server exited with {status}");
    // The store's own figure: every file in the data directory, or on a
    // bucket every object under the server's prefix.
    let bytes = match tracekeep_e2e::harness::bucket_for(&data) {
        Some(bucket) => crate::bucket_bytes(&bucket)?,
        None => {
            Store::open_read_only(&data)
                .and_then(|store| store.stats())
                .context("read the stopped store's size")?
                .bytes_on_disk
        }
    };
    let probe = filled
        .traces_of(100)
        .first()
        .context("a sampled 100-event trace")?
        .clone();
    let restart_big = restart_time(&data, &probe)?;
    after_restart(&data, &filled, plan.queries)?;

    println!("\n## Restart and footprint\n");
    println!("| measure | value |");
    println!("|---|---|");
    if plan.big_store > 100_000 {
        let small = tempfile::tempdir().context("scratch dir")?;
        let small_data = small.path().join("data");
        let server = Server::start(&small_data, &[]);
        let small_filled = fill(&server, 100_000, SMALL_TRACES).await?;
        let small_probe = small_filled
            .traces_of(100)
            .first()
            .context("a sampled 100-event trace")?
            .clone();
        let (status, _) = server.terminate();
        anyhow::ensure!(status.success(), "the server exited with {status}");
        println!(
            "| restart to first answered query, 100 k events | {:.0} ms |",
            restart_time(&small_data, &small_probe)?
        );
    }
    println!(
        "| restart to first answered query, {} events | {restart_big:.0} ms |",
        plan.big_store
    );
    println!("| server RSS during ingest (peak) | {peak_rss:.0} MB |");
    println!("| server RSS after ingest | {idle_rss:.0} MB |");
    println!(
        "| bytes stored per event (after a clean stop; on a bucket, log objects not yet collected included) | {:.0} B |",
        bytes as f64 / plan.big_store as f64
    );
    Ok(())
}
