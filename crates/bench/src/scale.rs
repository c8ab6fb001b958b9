//! `--scale N`: a store the size it reaches after months. Fills N events in
//! realistic traces, then measures ingest over the fill, footprint, restart,
//! queries while compaction is pending and after it settles, a cold cache,
//! deep scans and `tracekeep-dump verify`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_e2e::harness::{Server, binary};

use crate::fill::{Mix, fill};
use crate::query::{KeepAlive, engine, latency_row, query_rows, rss_mb, settle};

/// DM's shapes, a quarter of the events each: 2-event traces (a job's queue and
/// success), 10, 100 and 1 000 (long-running DDL or binlog traces).
const REALISTIC: Mix = &[(2, 25), (10, 25), (100, 25), (1000, 25)];
const QUERIES: usize = 1000;

/// Fills `total` events into a fresh store under `parent` and prints the tables.
pub async fn run(total: u64, parent: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(parent).context("scratch dir")?;
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    println!("## Scale: {total} events in 2-, 10-, 100- and 1 000-event traces (a quarter of the events each)\n");
    let filled = fill(&server, total, REALISTIC).await?;
    let mut http = KeepAlive::connect(server.addr)?;
    let after_fill = engine(&mut http)?;
    let rss_after_fill = rss_mb(&server);

    println!(
        "Filled by 16 clients in batches of 100 in {:.0} s: {:.0} events/s on average.\n",
        filled.seconds,
        filled.events as f64 / filled.seconds
    );
    println!("| tenth of the fill | events/s | upload p99 ms |");
    println!("|---|---|---|");
    for (tenth, (rate, p99)) in filled.tenths.iter().enumerate() {
        println!("| {} | {rate:.0} | {:.1} |", tenth + 1, p99 / 1000.0);
    }
    let stats = &after_fill["engine"];
    println!(
        "\nLast tenth / first tenth: {:.0}%. Write stalls during the fill: {} delays, {} stops.\n",
        100.0 * filled.last_over_first(),
        stats["write_delays"],
        stats["write_stops"]
    );

    println!("| measure | value |");
    println!("|---|---|");
    let bytes = after_fill["bytes_on_disk"].as_u64().unwrap_or(0);
    println!(
        "| bytes on disk per event, right after the fill | {:.0} B |",
        bytes as f64 / total as f64
    );
    println!(
        "| compaction pending right after the fill | {} MB |",
        stats["pending_compaction_bytes"].as_u64().unwrap_or(0) >> 20
    );
    println!("| server RSS, peak during the fill | {:.0} MB |", filled.peak_rss_mb);
    println!("| server RSS after the fill | {rss_after_fill:.0} MB |");

    println!("\n| request | n | p50 µs | p99 µs |");
    println!("|---|---|---|---|");
    query_rows(&mut http, &filled, &[10, 100, 1000], "compaction pending", QUERIES)?;
    let settled_after = settle(&mut http, Duration::from_secs(3600)).await?;
    let when = format!("settled ({settled_after:.0} s later)");
    query_rows(&mut http, &filled, &[10, 100, 1000], &when, QUERIES)?;
    let settled = engine(&mut http)?;
    scan_rows(&mut http, settled["traces"].as_u64().unwrap_or(0))?;

    let (status, _) = server.terminate();
    anyhow::ensure!(status.success(), "the server exited with {status}");
    let settled_bytes = settled["bytes_on_disk"].as_u64().unwrap_or(0);

    // Restart; then, if this machine lets us, drop the OS page cache first.
    let probe = filled
        .traces_of(100)
        .first()
        .context("a sampled 100-event trace")?
        .clone();
    let started = Instant::now();
    let server = Server::start(&data, &[]);
    let mut http = KeepAlive::connect(server.addr)?;
    let (status, _, _) = http.get(&format!("/events/query?trace_id={probe}"))?;
    anyhow::ensure!(status == 200, "the probe query after a restart answered {status}");
    let restart_ms = started.elapsed().as_secs_f64() * 1000.0;
    let dropped = drop_page_cache();
    let cold = if dropped {
        "cold OS cache"
    } else {
        "after restart (page cache could not be dropped)"
    };
    query_rows(&mut http, &filled, &[100], cold, 200)?;
    drop(server);

    let verify = Instant::now();
    let output = Command::new(binary("tracekeep-dump"))
        .args(["verify", &data.to_string_lossy()])
        .output()
        .context("run tracekeep-dump verify")?;
    let verify_seconds = verify.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "verify found problems: {}",
        String::from_utf8_lossy(&output.stdout)
    );

    println!("\n| measure | value |");
    println!("|---|---|");
    println!(
        "| bytes on disk per event, settled | {:.0} B |",
        settled_bytes as f64 / total as f64
    );
    println!("| restart to first answered query | {restart_ms:.0} ms |");
    println!(
        "| tracekeep-dump verify | {verify_seconds:.0} s ({:.0} events/s) |",
        total as f64 / verify_seconds
    );
    Ok(())
}

/// Scan pages at the middle of first-seen order: offset against cursor.
fn scan_rows(http: &mut KeepAlive, traces: u64) -> anyhow::Result<()> {
    let depth = traces / 2;
    let (status, _, cursor) = http.get(&format!("/events/scan?offset={depth}&limit=10"))?;
    anyhow::ensure!(status == 200, "the deep offset page answered {status}");
    let cursor = cursor.context("a next cursor at the deep offset")?;
    for (label, path) in [
        (
            format!("/events/scan offset {depth}, limit 10"),
            format!("/events/scan?offset={depth}&limit=10"),
        ),
        (
            format!("/events/scan after= (depth {depth}), limit 10"),
            format!("/events/scan?after={cursor}&limit=10"),
        ),
    ] {
        let mut samples = Vec::new();
        for _ in 0..20 {
            let sent = Instant::now();
            let (status, _, _) = http.get(&path)?;
            samples.push(sent.elapsed());
            anyhow::ensure!(status == 200, "{path} answered {status}");
        }
        latency_row(&label, &mut samples);
    }
    Ok(())
}

/// Writes dirty pages out and drops the OS page cache; false when not permitted.
fn drop_page_cache() -> bool {
    let synced = Command::new("sync").status().is_ok_and(|status| status.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}
