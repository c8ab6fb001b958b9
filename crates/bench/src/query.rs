//! Query and scan latency in a big store, restart time, and footprint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_client::dm::{DmTracer, DmTracerConfig};
use tracekeep_e2e::harness::Server;
use tracekeep_store::Store;

use crate::{Plan, events, percentiles};

/// One HTTP/1.1 keep-alive connection, so latency is the request, not TCP setup.
struct KeepAlive {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl KeepAlive {
    fn connect(addr: SocketAddr) -> anyhow::Result<KeepAlive> {
        let stream = TcpStream::connect(addr).context("connect")?;
        stream.set_nodelay(true).context("nodelay")?;
        Ok(KeepAlive {
            reader: BufReader::new(stream.try_clone().context("clone stream")?),
            writer: stream,
        })
    }

    /// GET `path`: the status, the body and the `x-tracekeep-next` header.
    fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>, Option<String>)> {
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

fn rss_mb(server: &Server) -> f64 {
    server.rss_kib().map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// The traces of a store: (name, events) for the measured sizes, then filler.
fn layout(total: u64) -> Vec<(String, u64)> {
    let per_size = if total >= 1_000_000 { 100 } else { 30 };
    let mut traces = Vec::new();
    for size in [10u64, 100, 1000] {
        for n in 0..per_size {
            traces.push((format!("q{size}.{n}"), size));
        }
    }
    let mut placed: u64 = traces.iter().map(|(_, size)| size).sum();
    let mut filler = 0;
    while placed < total {
        let size = (total - placed).min(100);
        traces.push((format!("filler.{filler}"), size));
        filler += 1;
        placed += size;
    }
    traces
}

/// Ingests `total` events (16 clients, batches of up to 100) and samples RSS meanwhile.
async fn fill(server: &Server, total: u64) -> anyhow::Result<(f64, f64)> {
    let traces = layout(total);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..16usize {
        let mine: Vec<(String, u64)> = traces.iter().skip(worker).step_by(16).cloned().collect();
        let tracer =
            DmTracer::start(DmTracerConfig::new(format!("http://{}", server.addr), "fill")).context("client")?;
        tasks.push(tokio::spawn(async move {
            for (trace, size) in mine {
                let mut sent = 0;
                while sent < size {
                    let count = (size - sent).min(100);
                    let batch = (0..count).map(|i| events::job(&trace, (sent + i) as i64)).collect();
                    tracer.upload_jobs(batch).await.context("upload")?;
                    sent += count;
                }
            }
            anyhow::Ok(())
        }));
    }
    let mut peak_rss: f64 = 0.0;
    let mut sample = tokio::time::interval(Duration::from_millis(500));
    while tasks.iter().any(|task| !task.is_finished()) {
        sample.tick().await;
        peak_rss = peak_rss.max(rss_mb(server));
    }
    for task in tasks {
        task.await.context("join a fill task")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((total as f64 / seconds, peak_rss))
}

fn latency_row(label: &str, samples: &mut [Duration]) {
    let (p50, p99) = percentiles(samples);
    println!("| {label} | {} | {:.0} | {:.0} |", samples.len(), p50, p99);
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

/// Prints the query, scan, restart and footprint tables.
pub async fn run(plan: &Plan) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let (fill_rate, peak_rss) = fill(&server, plan.big_store).await?;
    let mut http = KeepAlive::connect(server.addr)?;
    let idle_rss = rss_mb(&server);

    println!(
        "\n## Query and scan ({} events in the store, filled at {fill_rate:.0} events/s by 16 clients)\n",
        plan.big_store
    );
    println!("| request | n | p50 µs | p99 µs |");
    println!("|---|---|---|---|");
    let per_size = if plan.big_store >= 1_000_000 { 100 } else { 30 };
    for size in [10u64, 100, 1000] {
        let mut samples = Vec::with_capacity(plan.queries);
        for i in 0..plan.queries {
            let path = format!("/events/query?trace_id=q{size}.{}", i % per_size);
            let sent = Instant::now();
            let (status, body, _) = http.get(&path)?;
            samples.push(sent.elapsed());
            anyhow::ensure!(status == 200 && !body.is_empty(), "{path} answered {status}");
        }
        latency_row(&format!("/events/query, trace of {size} events"), &mut samples);
    }
    let traces = layout(plan.big_store).len() as u64;
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
    // The store's own figure: every file in the data directory.
    let bytes = Store::open_read_only(&data)
        .and_then(|store| store.stats())
        .context("read the stopped store's size")?
        .bytes_on_disk;
    let restart_big = restart_time(&data, "q100.0")?;

    println!("\n## Restart and footprint\n");
    println!("| measure | value |");
    println!("|---|---|");
    if plan.big_store > 100_000 {
        let small = tempfile::tempdir().context("scratch dir")?;
        let small_data = small.path().join("data");
        let server = Server::start(&small_data, &[]);
        fill(&server, 100_000).await?;
        let (status, _) = server.terminate();
        anyhow::ensure!(status.success(), "the server exited with {status}");
        println!(
            "| restart to first answered query, 100 k events | {:.0} ms |",
            restart_time(&small_data, "q100.0")?
        );
    }
    println!(
        "| restart to first answered query, {} events | {restart_big:.0} ms |",
        plan.big_store
    );
    println!("| server RSS during ingest (peak) | {peak_rss:.0} MB |");
    println!("| server RSS after ingest | {idle_rss:.0} MB |");
    println!(
        "| bytes on disk per event (after a clean stop) | {:.0} B |",
        bytes as f64 / plan.big_store as f64
    );
    Ok(())
}
