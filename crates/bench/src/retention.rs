//! Retention against ingest: the store's appends (16 threads x 100 job
//! events, 10 per trace) with and without a sweep deleting expired traces
//! flat out beside them, in-process with a clock the benchmark moves, so
//! a store full of expired traces needs no waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use tracekeep_store::{Clock, Store, StoreOptions, TraceEvent};

use crate::{events, percentiles};

const CLIENTS: usize = 16;
const BATCH: usize = 100;
const EVENTS_PER_TRACE: u64 = 10;
const MINUTE: i64 = 60_000_000_000;

struct BenchClock(AtomicI64);

impl Clock for BenchClock {
    fn now_nanos(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Appends `CLIENTS` x `BATCH`-event batches for `run_for`; per-batch latencies.
fn ingest(store: &Arc<Store>, tag: &str, run_for: Duration) -> anyhow::Result<(u64, Vec<Duration>)> {
    let deadline = Instant::now() + run_for;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let store = store.clone();
            let tag = tag.to_owned();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let batch: Vec<Vec<u8>> = (n..n + BATCH as u64)
                        .map(|i| {
                            events::job(&format!("{tag}.c{client:02}.{:010}", i / EVENTS_PER_TRACE), i as i64)
                                .encode_to_vec()
                        })
                        .collect();
                    let started = Instant::now();
                    store
                        .append_encoded(tracekeep_store::EventKind::Job, &batch)
                        .context("append")?;
                    latencies.push(started.elapsed());
                    n += BATCH as u64;
                }
                anyhow::Ok((n, latencies))
            })
        })
        .collect();
    let mut total = 0;
    let mut latencies = Vec::new();
    for thread in threads {
        let (n, mut batch_latencies) = thread.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        total += n;
        latencies.append(&mut batch_latencies);
    }
    Ok((total, latencies))
}

/// A store in `dir` holding `expired_traces` traces of
/// `EVENTS_PER_TRACE` events, with its clock two hours past them; and how
/// long the fill took.
fn expired_store(dir: &std::path::Path, expired_traces: u64) -> anyhow::Result<(Arc<Store>, f64)> {
    let clock = Arc::new(BenchClock(AtomicI64::new(10_000 * MINUTE)));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open(dir, options).context("open store")?);
    let filled = Instant::now();
    for start in (0..expired_traces).step_by(100) {
        let batch: Vec<TraceEvent> = (start..(start + 100).min(expired_traces))
            .flat_map(|trace| {
                (0..EVENTS_PER_TRACE).map(move |i| TraceEvent::Job(events::job(&format!("old.{trace:010}"), i as i64)))
            })
            .collect();
        store.append(batch).context("fill")?;
    }
    clock.0.fetch_add(120 * MINUTE, Ordering::SeqCst);
    Ok((store, filled.elapsed().as_secs_f64()))
}

/// Measures ingest alone and ingest beside a flat-out sweep, each on a
/// store of its own filled with `expired_traces` expired traces: on one
/// store, the second row would also pay the compaction of the first row's
/// data (on two cores, RocksDB's compaction took half the CPU of the second
/// row, 2026-12-07).
pub fn run(expired_traces: u64, run_for: Duration) -> anyhow::Result<()> {
    let retention = Duration::from_secs(3600);
    let (alone_events, mut alone, fill_seconds, alone_engine) = {
        let dir = tempfile::tempdir().context("scratch dir")?;
        let (store, fill_seconds) = expired_store(dir.path(), expired_traces)?;
        let (events, latencies) = ingest(&store, "alone", run_for)?;
        (events, latencies, fill_seconds, store.engine_figures())
    };
    let (alone_p50, alone_p99) = percentiles(&mut alone);

    let dir = tempfile::tempdir().context("scratch dir")?;
    let (store, _) = expired_store(dir.path(), expired_traces)?;
    let sweeping = Arc::new(AtomicBool::new(true));
    let sweeper = {
        let store = store.clone();
        let sweeping = sweeping.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut deleted = 0;
            while sweeping.load(Ordering::SeqCst) {
                let expiry = store.expire(retention, 1_000)?;
                deleted += expiry.deleted;
                if !expiry.more {
                    break;
                }
            }
            anyhow::Ok((deleted, started.elapsed()))
        })
    };
    let (swept_events, mut swept) = ingest(&store, "beside", run_for)?;
    sweeping.store(false, Ordering::SeqCst);
    let (deleted, sweep_time) = sweeper.join().map_err(|_| anyhow::anyhow!("the sweeper panicked"))??;
    let (swept_p50, swept_p99) = percentiles(&mut swept);
    let swept_engine = store.engine_figures();

    println!(
        "\nRetention beside ingest: {expired_traces} expired traces of {EVENTS_PER_TRACE} events (filled in {fill_seconds:.0} s), {CLIENTS} threads x {BATCH} job events, {EVENTS_PER_TRACE} per trace, {:.0} s each, in-process store",
        run_for.as_secs_f64()
    );
    println!("| row | events/s | append p50 ms | append p99 ms |");
    println!("|-----|----------|---------------|---------------|");
    println!(
        "| ingest alone | {:.0} | {:.2} | {:.2} |",
        alone_events as f64 / run_for.as_secs_f64(),
        alone_p50 / 1000.0,
        alone_p99 / 1000.0
    );
    println!(
        "| ingest beside the sweep | {:.0} | {:.2} | {:.2} |",
        swept_events as f64 / run_for.as_secs_f64(),
        swept_p50 / 1000.0,
        swept_p99 / 1000.0
    );
    println!(
        "sweep: {deleted} traces deleted in {:.1} s ({:.0} traces/s){}; p99 beside / alone = {:.2}",
        sweep_time.as_secs_f64(),
        deleted as f64 / sweep_time.as_secs_f64().max(1e-9),
        if deleted < expired_traces {
            ", stopped with the ingest run"
        } else {
            ""
        },
        swept_p99 / alone_p99.max(1e-9)
    );
    println!(
        "engine at the end, alone / beside: write delays {} / {}, write stops {} / {}, level-0 files {} / {}, compaction {:.1} / {:.1} s",
        alone_engine.write_delays,
        swept_engine.write_delays,
        alone_engine.write_stops,
        swept_engine.write_stops,
        alone_engine.level0_files,
        swept_engine.level0_files,
        alone_engine.compaction_millis as f64 / 1e3,
        swept_engine.compaction_millis as f64 / 1e3,
    );
    Ok(())
}
