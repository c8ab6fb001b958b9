//! Restart after a kill -9 with as much write-ahead log as the store keeps:
//! how long opening takes when RocksDB replays every unflushed write
//! (docs/design.md, "RocksDB settings", memtables).
//!
//! ```text
//! cargo run --release -p tracekeep-bench --example replay -- fill DIR EVENTS
//! cargo run --release -p tracekeep-bench --example replay -- open DIR
//! ```
//!
//! `fill` appends `EVENTS` DM job events in 2-event traces (the shape whose
//! start entries keep the most log: they go to the family that flushes last),
//! 100 per append, then aborts the process as kill -9 would: RocksDB's log
//! writes are already in the OS, nothing is flushed on the way out. `open`
//! prints the log's size, then opens the store and reads one trace, timing
//! both.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use prost::Message as _;
use tracekeep_store::{EventKind, Store, StoreOptions};

#[allow(dead_code)]
#[path = "../src/events.rs"]
mod events;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, dir, events] if mode == "fill" => fill(Path::new(dir), events.parse().context("parse EVENTS")?),
        [mode, dir] if mode == "open" => open(Path::new(dir)),
        _ => bail!("usage: replay fill DIR EVENTS | replay open DIR"),
    }
}

fn fill(dir: &Path, events: u64) -> anyhow::Result<()> {
    let store = Store::open(dir, StoreOptions::default()).context("open the store")?;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(100);
    for n in 0..events {
        batch.push(events::job(&format!("replay-{}", n / 2), n as i64).encode_to_vec());
        if batch.len() == 100 {
            store.append_encoded(EventKind::Job, &batch).context("append")?;
            batch.clear();
        }
    }
    store.append_encoded(EventKind::Job, &batch).context("append")?;
    let figures = store.engine_figures();
    println!(
        "appended {events} events in {:.1} s; {:.0} MiB in memtables, {:.0} MiB of log; aborting",
        started.elapsed().as_secs_f64(),
        figures.memtable_bytes as f64 / (1 << 20) as f64,
        log_bytes(dir)? as f64 / (1 << 20) as f64,
    );
    std::process::abort();
}

fn open(dir: &Path) -> anyhow::Result<()> {
    let log = log_bytes(dir)?;
    let started = Instant::now();
    let store = Store::open(dir, StoreOptions::default()).context("open the store")?;
    let opened = started.elapsed();
    let events = store.query("replay-0").context("query a trace")?;
    let answered = started.elapsed();
    anyhow::ensure!(events.len() == 2, "replay-0 holds {} events, not 2", events.len());
    let stored = store.stats().context("read the store's counters")?.events();
    println!(
        "{:.0} MiB of log; opened in {} ms, first trace read in {} ms; {} events stored",
        log as f64 / (1 << 20) as f64,
        opened.as_millis(),
        answered.as_millis(),
        stored,
    );
    Ok(())
}

/// Bytes of RocksDB's write-ahead log files in `dir`.
fn log_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).context("list the store's directory")? {
        let entry = entry.context("read the store's directory")?;
        if entry.path().extension().is_some_and(|ext| ext == "log") {
            total += entry.metadata().context("stat a log file")?.len();
        }
    }
    Ok(total)
}
