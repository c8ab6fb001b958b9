//! Ingest through the server, against two ceilings measured in the same run:
//! the same events appended straight through the store, and bare RocksDB
//! writing the same bytes under the same keys. Every row is measured at
//! several trace shapes (events per trace), and beside the rates the CPU time
//! each side spent per event, so the comparison does not depend on the
//! benchmark's client sharing the machine's cores.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::BytesMut;
use prost::Message;
use tracekeep_e2e::harness::{Server, metric_sample, metric_total, process_cpu_seconds};
use tracekeep_proto::pb;
use tracekeep_store::{EventKind, Store, StoreOptions};

use crate::pre_encoded::PreEncoded;
use crate::{Plan, events, percentiles};

/// Events per trace measured in every row: DM's common small traces (a job's
/// few events) and the one-trace-per-batch shape.
pub const SHAPES: [u64; 3] = [2, 10, 100];

/// One row of the ingest table: `clients` connections sending `batch`
/// events per request, with or without `sync`. Written `4x1`, `16x100+sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// fsync before every acknowledgement.
    pub sync: bool,
    /// Concurrent connections, each sending one request at a time.
    pub clients: usize,
    /// Events per request.
    pub batch: usize,
}

impl std::str::FromStr for Row {
    type Err = String;

    fn from_str(text: &str) -> Result<Row, String> {
        let (shape, sync) = match text.strip_suffix("+sync") {
            Some(shape) => (shape, true),
            None => (text, false),
        };
        let parsed = shape
            .split_once('x')
            .and_then(|(clients, batch)| Some((clients.parse().ok()?, batch.parse().ok()?)));
        match parsed {
            Some((clients, batch)) if clients > 0 && batch > 0 => Ok(Row { sync, clients, batch }),
            _ => Err(format!("{text:?} is not CLIENTSxBATCH[+sync], e.g. 4x1 or 16x100+sync")),
        }
    }
}

impl std::fmt::Display for Row {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            out,
            "{}x{}{}",
            self.clients,
            self.batch,
            if self.sync { "+sync" } else { "" }
        )
    }
}

/// The rows measured by default. One event per request from one and from
/// four connections (a DM worker that is not busy uploads single events; the
/// per-request work dominates there), the batched shapes DM's busy workers
/// send, and the widest one with `sync`.
pub const ROWS: [Row; 7] = [
    Row {
        sync: false,
        clients: 1,
        batch: 1,
    },
    Row {
        sync: false,
        clients: 4,
        batch: 1,
    },
    Row {
        sync: false,
        clients: 1,
        batch: 100,
    },
    Row {
        sync: false,
        clients: 4,
        batch: 100,
    },
    Row {
        sync: false,
        clients: 16,
        batch: 10,
    },
    Row {
        sync: false,
        clients: 16,
        batch: 100,
    },
    Row {
        sync: true,
        clients: 16,
        batch: 100,
    },
];

/// One measurement: how many events in how long, and the CPU it took.
pub struct Measured {
    /// Events acknowledged.
    pub events: u64,
    /// Wall time.
    pub seconds: f64,
    /// CPU seconds of the measured process (server, or this one for the ceilings).
    pub cpu_seconds: f64,
    /// Per-upload latencies.
    pub latencies: Vec<Duration>,
    /// What the server asked of its bucket meanwhile (a server on a bucket).
    pub bucket: Option<BucketTotals>,
}

/// A server's bucket requests and bytes, from its `/metrics`.
#[derive(Clone, Copy, Debug)]
pub struct BucketTotals {
    /// Requests of every kind.
    pub requests: f64,
    /// Of which PUTs (log objects, tables, manifests).
    pub puts: f64,
    /// Bytes written to the bucket.
    pub written_bytes: f64,
}

impl BucketTotals {
    /// The totals `server` reports now; `None` when it has no bucket.
    pub fn of(server: &Server) -> Option<BucketTotals> {
        let scrape = server.get("/metrics").body;
        Some(BucketTotals {
            requests: metric_total(&scrape, "tracekeep_bucket_requests_total")?,
            puts: metric_sample(&scrape, "tracekeep_bucket_requests_total{operation=\"put\"}"),
            written_bytes: metric_sample(&scrape, "tracekeep_bucket_written_bytes_total"),
        })
    }

    /// What was asked between `before` and `self`.
    fn since(self, before: BucketTotals) -> BucketTotals {
        BucketTotals {
            requests: self.requests - before.requests,
            puts: self.puts - before.puts,
            written_bytes: self.written_bytes - before.written_bytes,
        }
    }
}

impl Measured {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// CPU microseconds per event.
    pub fn cpu_us_per_event(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.events.max(1) as f64
    }
}

/// A workload: `clients` senders, `batch` events per upload, `shape` events per trace.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Concurrent senders.
    pub clients: usize,
    /// Events per upload.
    pub batch: usize,
    /// Events per trace.
    pub shape: u64,
    /// How long to send.
    pub run_for: Duration,
    /// The first client's number: clients write traces of their own, so
    /// two workloads with different numbers never share a trace.
    pub first_client: usize,
    /// Each client sends one upload per this period (a late one at once),
    /// so the load is a rate rather than as much as the server takes;
    /// `None` sends back to back.
    pub every: Option<Duration>,
}

/// DM's upload of job events, the method every ingest row calls.
const UPLOAD_JOBS_PATH: &str = "/pb.Tracer/UploadSyncerJobEvent";

/// Sends `workload` to a running server over DM's gRPC upload; CPU is the server's.
///
/// Each client makes its events as the in-process ceilings do (copies of 64
/// encoded templates with the trace ID patched in) and sends them as an
/// `UploadSyncerJobEventRequest` assembled from those bytes, with one
/// connection per client. Building `pb::SyncerJobEvent` values and encoding
/// them, as the DM client does, cost this client about 2.2 µs per event on
/// the two cores the server shares with it (a perf profile of the 2-event
/// row: cloning the templates' strings, prost encoding), more than a third
/// of the machine; a DM worker pays that on its own machine. So all three
/// measurements now write the same bytes under the same keys from the same
/// generator, and the server's row pays only for the wire on top.
pub async fn through_server(server: &Server, workload: Workload) -> anyhow::Result<Measured> {
    let mut tasks = Vec::new();
    let cpu_before = server.cpu_seconds().context("read the server's CPU time")?;
    let bucket_before = BucketTotals::of(server);
    let started = Instant::now();
    let deadline = started + workload.run_for;
    for client in workload.first_client..workload.first_client + workload.clients {
        let channel = crate::grpc_channel(server.addr).await?;
        tasks.push(tokio::spawn(async move {
            let pool = EventPool::new(client);
            let mut grpc = tonic::client::Grpc::new(channel);
            let (mut events, mut latencies) = (0u64, Vec::new());
            let mut event = Vec::new();
            let mut n = 0u64;
            // Paced clients start staggered over one period, so their
            // uploads do not arrive together.
            let mut due = tokio::time::Instant::now()
                + workload.every.map_or(Duration::ZERO, |every| {
                    every * (client - workload.first_client) as u32 / workload.clients as u32
                });
            while Instant::now() < deadline {
                if let Some(every) = workload.every {
                    tokio::time::sleep_until(due).await;
                    due += every;
                }
                let mut body = BytesMut::with_capacity(workload.batch * (event.len() + 8));
                for i in n..n + workload.batch as u64 {
                    pool.event(client, i, workload.shape, &mut event);
                    // Field 1 of the request, `repeated SyncerJobEvent events`.
                    prost::encoding::bytes::encode(1, &event, &mut body);
                }
                n += workload.batch as u64;
                let sent = Instant::now();
                grpc.ready().await.context("wait for the channel")?;
                let reply = grpc
                    .unary(
                        tonic::Request::new(body.freeze()),
                        tonic::codegen::http::uri::PathAndQuery::from_static(UPLOAD_JOBS_PATH),
                        PreEncoded::<pb::CommonUploadResponse>::default(),
                    )
                    .await
                    .context("upload")?
                    .into_inner();
                anyhow::ensure!(reply.result, "upload refused: {}", reply.msg);
                latencies.push(sent.elapsed());
                events = n;
            }
            anyhow::Ok((events, latencies))
        }));
    }
    let mut total = Measured {
        events: 0,
        seconds: 0.0,
        cpu_seconds: 0.0,
        latencies: Vec::new(),
        bucket: None,
    };
    for task in tasks {
        let (events, latencies) = task.await.context("join a client task")??;
        total.events += events;
        total.latencies.extend(latencies);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.cpu_seconds = server.cpu_seconds().context("read the server's CPU time")? - cpu_before;
    total.bucket = bucket_before
        .zip(BucketTotals::of(server))
        .map(|(before, after)| after.since(before));
    Ok(total)
}

/// Encoded job events whose trace ID can be rewritten in place, so the
/// in-process ceilings spend almost nothing making events and both write the
/// same bytes.
struct EventPool {
    /// Encoded events, each with a trace ID of [`TRACE_ID_WIDTH`] bytes...
    templates: Vec<Vec<u8>>,
    /// ...at this place in each template.
    trace_at: Vec<Range<usize>>,
}

const TRACE_ID_WIDTH: usize = 24;

impl EventPool {
    fn new(client: usize) -> EventPool {
        let placeholder = trace_id(client, 0);
        let mut pool = EventPool {
            templates: Vec::new(),
            trace_at: Vec::new(),
        };
        for n in 0..64 {
            let bytes = events::job(&placeholder, n).encode_to_vec();
            let at = bytes
                .windows(TRACE_ID_WIDTH)
                .position(|window| window == placeholder.as_bytes())
                .unwrap_or(0);
            pool.templates.push(bytes);
            pool.trace_at.push(at..at + TRACE_ID_WIDTH);
        }
        pool
    }

    /// Bytes of the largest event the pool makes (room to reserve per event).
    fn largest(&self) -> usize {
        self.templates.iter().map(Vec::len).max().unwrap_or_default()
    }

    /// The `n`th event of `client`, in a trace of `shape` events.
    fn event(&self, client: usize, n: u64, shape: u64, out: &mut Vec<u8>) {
        out.clear();
        self.push_event(client, n, shape, out);
    }

    /// [`EventPool::event`] appended to `out`; returns where it is.
    fn push_event(&self, client: usize, n: u64, shape: u64, out: &mut Vec<u8>) -> Range<usize> {
        let index = (n % self.templates.len() as u64) as usize;
        let start = out.len();
        out.extend_from_slice(&self.templates[index]);
        let at = &self.trace_at[index];
        out[start + at.start..start + at.end].copy_from_slice(trace_id(client, n / shape).as_bytes());
        start..out.len()
    }
}

/// A fixed-width trace ID, so it can be patched into an encoded event.
pub(crate) fn trace_id(client: usize, trace: u64) -> String {
    format!("ceiling.c{client:02}.{trace:012}")
}

/// Runs `write(client, events written so far)` on `clients` threads until the
/// deadline; each call writes one batch and returns how many events it wrote.
fn in_process(
    workload: Workload,
    write: impl Fn(usize, u64) -> anyhow::Result<u64> + Send + Sync + 'static,
) -> anyhow::Result<Measured> {
    let write = Arc::new(write);
    let cpu_before = process_cpu_seconds("self").context("read this process's CPU time")?;
    let started = Instant::now();
    let deadline = started + workload.run_for;
    let threads: Vec<_> = (0..workload.clients)
        .map(|client| {
            let write = write.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += write(client, n)?;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut events = 0;
    for thread in threads {
        events += thread
            .join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds("self").context("read this process's CPU time")? - cpu_before;
    Ok(Measured {
        events,
        seconds,
        cpu_seconds,
        latencies: Vec::new(),
        bucket: None,
    })
}

/// The same events, appended as encoded bytes straight through the store.
pub fn through_store(sync: bool, workload: Workload) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let options = StoreOptions {
        sync,
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open(dir.path(), options).context("open store")?);
    let pools: Arc<Vec<EventPool>> = Arc::new((0..workload.clients).map(EventPool::new).collect());
    in_process(workload, move |client, n| {
        let pool = &pools[client];
        // The batch's events in one buffer, as bare RocksDB's side builds its
        // batch in reused buffers: a `Vec` per event cost this side 100
        // allocations and frees per batch that the store itself never makes.
        let mut bytes = Vec::with_capacity(workload.batch * pool.largest());
        let ranges: Vec<Range<usize>> = (n..n + workload.batch as u64)
            .map(|i| pool.push_event(client, i, workload.shape, &mut bytes))
            .collect();
        let batch: Vec<&[u8]> = ranges.iter().map(|range| &bytes[range.clone()]).collect();
        store.append_encoded(EventKind::Job, &batch).context("append")?;
        Ok(batch.len() as u64)
    })
}

/// Bare RocksDB: the same bytes (an 8-byte header, as the store's records
/// have, then the event) under the same keys (`0x0A`, the trace's number,
/// trace ID length and bytes, arrival number), in one `WriteBatch` per
/// upload, same sync mode. Its trace numbers grow per client as the store's
/// first-seen numbers grow per store; it writes no start entries and no
/// first-seen records (the store's own bookkeeping).
pub fn through_bare_rocksdb(sync: bool, workload: Workload) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir().context("scratch dir")?;
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = Arc::new(rocksdb::DB::open(&options, dir.path()).context("open rocksdb")?);
    let pools: Arc<Vec<EventPool>> = Arc::new((0..workload.clients).map(EventPool::new).collect());
    in_process(workload, move |client, n| {
        let pool = &pools[client];
        let mut write_options = rocksdb::WriteOptions::default();
        write_options.set_sync(sync);
        let mut batch = rocksdb::WriteBatch::default();
        let (mut event, mut key, mut value) = (Vec::new(), Vec::new(), Vec::new());
        for i in n..n + workload.batch as u64 {
            pool.event(client, i, workload.shape, &mut event);
            let trace = trace_id(client, i / workload.shape);
            let first = (client as u64) << 48 | (i / workload.shape * workload.shape);
            key.clear();
            key.push(0x0A);
            key.extend_from_slice(&first.to_be_bytes());
            key.extend_from_slice(&(trace.len() as u32).to_be_bytes());
            key.extend_from_slice(trace.as_bytes());
            key.extend_from_slice(&((client as u64) << 48 | i).to_be_bytes());
            value.clear();
            value.extend_from_slice(&[0; 8]);
            value.extend_from_slice(&event);
            batch.put(&key, &value);
        }
        db.write_opt(batch, &write_options).context("write")?;
        Ok(workload.batch as u64)
    })
}

/// The two in-process ceilings of one workload, measured in alternating
/// rounds (store, bare, store, bare, ...).
pub struct Ceilings {
    /// The store's round of median rate.
    pub store: Measured,
    /// Bare RocksDB's round of median rate.
    pub bare: Measured,
    /// Store / bare of each round, in percent, in the order measured.
    pub ratios: Vec<f64>,
}

impl Ceilings {
    /// Measures both ceilings `rounds` times (at least once), alternating.
    ///
    /// One measurement of each, one after the other, put the VM's drifts
    /// (rates here move by 10-20% from one minute to the next) straight into
    /// their ratio: the same binary measured the store alone at 79-103% of
    /// bare at 2 events per trace over ten runs. Each round's pair runs
    /// back to back, so their ratio sees nearly the same machine, and the
    /// median round stands for the run.
    pub fn measure(sync: bool, workload: Workload, rounds: usize) -> anyhow::Result<Ceilings> {
        let (mut stores, mut bares, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            let store = through_store(sync, workload)?;
            let bare = through_bare_rocksdb(sync, workload)?;
            ratios.push(100.0 * store.rate() / bare.rate());
            stores.push(store);
            bares.push(bare);
        }
        Ok(Ceilings {
            store: median_by_rate(stores).context("no store round")?,
            bare: median_by_rate(bares).context("no bare round")?,
            ratios,
        })
    }

    /// The median of the rounds' store / bare ratios, in percent (of an
    /// even count, the mean of the middle two).
    pub fn ratio(&self) -> f64 {
        let mut sorted = self.ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        match (sorted.get(middle.wrapping_sub(1)), sorted.get(middle)) {
            (Some(low), Some(high)) if sorted.len().is_multiple_of(2) => (low + high) / 2.0,
            (_, Some(middle)) => *middle,
            _ => f64::NAN,
        }
    }

    /// Each round's ratio, rounded, in the order measured ("91 · 97 · 88").
    pub fn rounds(&self) -> String {
        let shown: Vec<String> = self.ratios.iter().map(|ratio| format!("{ratio:.0}")).collect();
        shown.join(" · ")
    }
}

/// The measurement of median rate (the lower middle one of an even count).
fn median_by_rate(mut measured: Vec<Measured>) -> Option<Measured> {
    measured.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = measured.len().saturating_sub(1) / 2;
    measured.into_iter().nth(middle)
}

/// The in-process ceilings alone, 16 clients x 100, sync off, at every shape.
pub fn ceilings(plan: &Plan) -> anyhow::Result<()> {
    println!("| events/trace | store events/s | store CPU | bare events/s | bare CPU | store / bare | by round |");
    println!("|---|---|---|---|---|---|---|");
    for &shape in &plan.shapes {
        let workload = Workload {
            clients: 16,
            batch: 100,
            shape,
            run_for: plan.ingest_for,
            first_client: 0,
            every: None,
        };
        if plan.store_only {
            let store = through_store(false, workload)?;
            println!(
                "| {shape} | {:.0} | {:.2} | - | - | - | - |",
                store.rate(),
                store.cpu_us_per_event()
            );
            continue;
        }
        let ceilings = Ceilings::measure(false, workload, plan.rounds)?;
        println!(
            "| {shape} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0}% | {} |",
            ceilings.store.rate(),
            ceilings.store.cpu_us_per_event(),
            ceilings.bare.rate(),
            ceilings.bare.cpu_us_per_event(),
            ceilings.ratio(),
            ceilings.rounds()
        );
    }
    Ok(())
}

/// Prints the ingest table: each row at every trace shape, each measurement
/// on a fresh server and fresh directories; the ceilings in alternating
/// rounds ([`Ceilings::measure`]).
pub async fn run(plan: &Plan) -> anyhow::Result<()> {
    println!(
        "## Ingest (job events through DM's gRPC upload, encoded once by the load client, a fresh server per measurement)\n"
    );
    println!("CPU is µs per event: the server process's for the server, this process's for the in-process ceilings.");
    println!(
        "The ceilings ran {} alternating rounds (store, bare) per row; theirs are the median rounds' figures, and store / bare is the median of the rounds' ratios (each shown under \"by round\").\n",
        plan.rounds.max(1)
    );
    println!(
        "| sync | clients | batch | events/trace | events/s | p50 µs | p99 µs | server CPU | server CPU / request | store events/s | store CPU | bare events/s | bare CPU | server / bare | server CPU / bare CPU | store / bare | by round |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut bucket_rows = Vec::new();
    for &Row { sync, clients, batch } in &plan.rows {
        for &shape in &plan.shapes {
            // A fresh server per measurement, as the ceilings get a fresh
            // directory: no compaction left over from the previous shape.
            let dir = tempfile::tempdir().context("scratch dir")?;
            let args: &[&str] = if sync { &["--sync"] } else { &[] };
            let server = Server::start(&dir.path().join("data"), args);
            let workload = Workload {
                clients,
                batch,
                shape,
                run_for: plan.ingest_for,
                first_client: 0,
                every: None,
            };
            let mut measured = through_server(&server, workload).await?;
            drop(server);
            let rounds = plan.rounds;
            let ceilings = tokio::task::spawn_blocking(move || Ceilings::measure(sync, workload, rounds))
                .await
                .context("ceilings")??;
            let (store, bare) = (&ceilings.store, &ceilings.bare);
            let (p50, p99) = percentiles(&mut measured.latencies);
            println!(
                "| {} | {clients} | {batch} | {shape} | {:.0} | {p50:.0} | {p99:.0} | {:.2} | {:.1} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0}% | {:.2}x | {:.0}% | {} |",
                if sync { "on" } else { "off" },
                measured.rate(),
                measured.cpu_us_per_event(),
                measured.cpu_us_per_event() * batch as f64,
                store.rate(),
                store.cpu_us_per_event(),
                bare.rate(),
                bare.cpu_us_per_event(),
                100.0 * measured.rate() / bare.rate(),
                measured.cpu_us_per_event() / bare.cpu_us_per_event(),
                ceilings.ratio(),
                ceilings.rounds(),
            );
            if let Some(bucket) = measured.bucket {
                bucket_rows.push((clients, batch, shape, measured.seconds, measured.events, bucket));
            }
        }
    }
    if !bucket_rows.is_empty() {
        println!("\nThe server's bucket requests during those rows (its /metrics):\n");
        println!("| clients | batch | events/trace | bucket requests/s | of which PUTs/s | bytes written per event |");
        println!("|---|---|---|---|---|---|");
        for (clients, batch, shape, seconds, events, bucket) in bucket_rows {
            println!(
                "| {clients} | {batch} | {shape} | {:.0} | {:.0} | {:.0} |",
                bucket.requests / seconds,
                bucket.puts / seconds,
                bucket.written_bytes / events.max(1) as f64,
            );
        }
    }
    Ok(())
}
