//! Ingest through the server, against two ceilings measured in the same run:
//! the same events appended straight through the store, and a bare RocksDB
//! `WriteBatch` of the same encoded bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message;
use tracekeep_client::dm::{DmTracer, DmTracerConfig};
use tracekeep_e2e::harness::Server;
use tracekeep_store::{Store, StoreOptions, TraceEvent};

use crate::{Plan, events, percentiles};

struct Measured {
    events: u64,
    bytes: u64,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

async fn through_server(
    server: &Server,
    label: &str,
    clients: usize,
    batch: usize,
    run_for: Duration,
) -> anyhow::Result<Measured> {
    let mut tasks = Vec::new();
    let deadline = Instant::now() + run_for;
    let started = Instant::now();
    for client in 0..clients {
        let config = DmTracerConfig::new(format!("http://{}", server.addr), "bench");
        let tracer = DmTracer::start(config).context("start the client")?;
        let label = format!("{label}.c{client}");
        tasks.push(tokio::spawn(async move {
            let (mut events, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
            let mut n = 0i64;
            while Instant::now() < deadline {
                let trace = format!("{label}.{}", n / 100);
                let batch: Vec<_> = (0..batch as i64).map(|i| events::job(&trace, n + i)).collect();
                let size: usize = batch.iter().map(Message::encoded_len).sum();
                n += batch.len() as i64;
                let sent = Instant::now();
                tracer.upload_jobs(batch).await.context("upload")?;
                latencies.push(sent.elapsed());
                events = n as u64;
                bytes += size as u64;
            }
            anyhow::Ok((events, bytes, latencies))
        }));
    }
    let mut total = Measured {
        events: 0,
        bytes: 0,
        seconds: 0.0,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (events, bytes, latencies) = task.await.context("join a client task")??;
        total.events += events;
        total.bytes += bytes;
        total.latencies.extend(latencies);
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// The same events, appended straight through the store from `clients` threads.
fn through_store(sync: bool, clients: usize, batch: usize, run_for: Duration) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let store = Arc::new(
        Store::open(
            dir.path(),
            StoreOptions {
                sync,
                ..StoreOptions::default()
            },
        )
        .context("open store")?,
    );
    let started = Instant::now();
    let deadline = started + run_for;
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut n = 0i64;
                while Instant::now() < deadline {
                    let trace = format!("store.c{client}.{}", n / 100);
                    let batch: Vec<_> = (0..batch as i64)
                        .map(|i| TraceEvent::Job(events::job(&trace, n + i)))
                        .collect();
                    n += batch.len() as i64;
                    store.append(batch).context("append")?;
                }
                anyhow::Ok(n as u64)
            })
        })
        .collect();
    let events = join_counts(threads)?;
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// Sums what the threads counted; any failure fails the measurement.
fn join_counts(threads: Vec<std::thread::JoinHandle<anyhow::Result<u64>>>) -> anyhow::Result<u64> {
    let mut total = 0;
    for thread in threads {
        total += thread
            .join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
    }
    Ok(total)
}

/// The same encoded bytes under similar keys, in plain RocksDB write batches.
fn through_bare_rocksdb(sync: bool, clients: usize, batch: usize, run_for: Duration) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = Arc::new(rocksdb::DB::open(&options, dir.path()).context("open rocksdb")?);
    let started = Instant::now();
    let deadline = started + run_for;
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut write_options = rocksdb::WriteOptions::default();
                write_options.set_sync(sync);
                let mut n = 0i64;
                while Instant::now() < deadline {
                    let trace = format!("bare.c{client}.{}", n / 100);
                    let mut write = rocksdb::WriteBatch::default();
                    for i in 0..batch as i64 {
                        let mut key = trace.as_bytes().to_vec();
                        key.extend_from_slice(&(n + i).to_be_bytes());
                        write.put(key, events::job(&trace, n + i).encode_to_vec());
                    }
                    n += batch as i64;
                    db.write_opt(write, &write_options).context("write")?;
                }
                anyhow::Ok(n as u64)
            })
        })
        .collect();
    let events = join_counts(threads)?;
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// Prints the ingest table.
pub async fn run(plan: &Plan) -> anyhow::Result<()> {
    println!("## Ingest (job events through gRPC, DM client, one server per sync mode)\n");
    println!(
        "| sync | clients | batch | events/s | MB/s | p50 µs | p99 µs | store events/s | bare RocksDB events/s | server / bare |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for sync in [false, true] {
        let dir = tempfile::tempdir().context("scratch dir")?;
        let args: &[&str] = if sync { &["--sync"] } else { &[] };
        let server = Server::start(&dir.path().join("data"), args);
        for clients in [1usize, 4, 16] {
            for batch in [1usize, 10, 100] {
                let label = format!("ingest.{sync}.{clients}.{batch}");
                let mut measured = through_server(&server, &label, clients, batch, plan.ingest_for).await?;
                let run_for = plan.ingest_for;
                let store = tokio::task::spawn_blocking(move || through_store(sync, clients, batch, run_for))
                    .await
                    .context("store ceiling")??;
                let bare = tokio::task::spawn_blocking(move || through_bare_rocksdb(sync, clients, batch, run_for))
                    .await
                    .context("bare ceiling")??;
                let (p50, p99) = percentiles(&mut measured.latencies);
                println!(
                    "| {} | {clients} | {batch} | {:.0} | {:.2} | {p50:.0} | {p99:.0} | {store:.0} | {bare:.0} | {:.0}% |",
                    if sync { "on" } else { "off" },
                    measured.rate(),
                    measured.bytes as f64 / 1e6 / measured.seconds,
                    100.0 * measured.rate() / bare
                );
            }
        }
    }
    Ok(())
}
