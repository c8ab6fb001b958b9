//! `tracekeep-bench`: drives a real server through real sockets with the DM
//! client and prints one table (scripts/bench.sh; results in docs/benchmarks.md).

mod bucket_retention;
mod cluster;
mod events;
mod fill;
mod grpc_floor;
mod http;
mod ingest;
mod otlp;
mod overload;
mod pre_encoded;
mod query;
mod query_under_ingest;
mod retention;
mod scale;
mod search;
mod spans;
mod zipkin;

use std::time::Duration;

use clap::Parser;

/// The allocator the server ships with, so the in-process ceilings measure
/// the store as it runs there (bare RocksDB allocates in C++, unaffected).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmark tracekeep on this machine.
#[derive(Debug, Parser)]
#[command(name = "tracekeep-bench")]
struct Args {
    /// A smoke run: short ingest rows and a 100 k-event store (under two minutes).
    #[arg(long)]
    quick: bool,
    /// Only the span tracer's micro-benchmark.
    #[arg(long)]
    spans_only: bool,
    /// Run only these sections; default all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Section>,
    /// Instead of the sections: fill a store with N events in realistic traces
    /// and measure it (scripts/bench.sh --scale; 100 M events take hours).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "100000000")]
    scale: Option<u64>,
    /// Where --scale puts its store (a scratch directory inside it).
    #[arg(long, value_name = "DIR", default_value = "/tmp")]
    scale_dir: std::path::PathBuf,
    /// Trace shapes (events per trace) of the ingest rows and ceilings.
    #[arg(long, value_delimiter = ',', default_values_t = ingest::SHAPES)]
    shapes: Vec<u64>,
    /// Ingest rows, as CLIENTSxBATCH[+sync] (default: every row of the table).
    #[arg(long, value_delimiter = ',', default_values_t = ingest::ROWS)]
    rows: Vec<ingest::Row>,
    /// Seconds each ingest measurement runs (default 3; 0.3 with --quick).
    /// Longer runs include more flushes and compactions and vary less.
    #[arg(long, value_name = "SECONDS")]
    ingest_seconds: Option<f64>,
    /// Alternating rounds of the in-process ceilings (store, bare) per
    /// ingest row; the median round is reported (default 3; 1 with --quick).
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,
    /// With `--only ceilings`: measure the store alone, not bare RocksDB
    /// (for profiling the store with `perf record -p`).
    #[arg(long)]
    store_only: bool,
}

/// A part of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    /// Ingest rates and CPU per event, against the store and bare RocksDB.
    Ingest,
    /// Query and scan latency, restart, footprint.
    Query,
    /// Query latency while 16 x 100 ingest goes on.
    QueryUnderIngest,
    /// DM's GetTSO (no stored data) from 1 and 4 connections: the floor under a one-event upload.
    GrpcFloor,
    /// Server RSS under 64 clients sending batches of 1 000 flat out.
    Overload,
    /// Only the in-process ceilings (store and bare RocksDB), 16 x 100, for profiling.
    Ceilings,
    /// Zipkin ingest, v2 JSON and proto3.
    Zipkin,
    /// Zipkin search (`/api/v2/traces`) over a store of 1 M spans.
    Search,
    /// OTLP ingest over gRPC and HTTP, beside Zipkin proto3.
    Otlp,
    /// Ingest latency with and without retention's sweep deleting flat out.
    Retention,
    /// On a bucket only: whether expired data leaves the bucket, and how soon.
    BucketRetention,
    /// On a bucket only: 1, 2 and 3 nodes on one bucket: ingest, reads through another node, staleness.
    Cluster,
}

/// Sizes of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Trace shapes (events per trace) of the ingest rows and ceilings.
    pub shapes: Vec<u64>,
    /// The ingest table's rows.
    pub rows: Vec<ingest::Row>,
    /// The ceilings measure the store alone.
    pub store_only: bool,
    /// Alternating rounds of the ceilings per ingest row.
    pub rounds: usize,
    /// How long each ingest measurement runs.
    pub ingest_for: Duration,
    /// Events in the big store (query, restart, footprint).
    pub big_store: u64,
    /// Queries per trace size.
    pub queries: usize,
    /// How long the overload runs.
    pub overload_for: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.spans_only {
        spans::run();
        return Ok(());
    }
    if let Some(total) = args.scale {
        return scale::run(total, &args.scale_dir).await;
    }
    let plan = if args.quick {
        Plan {
            shapes: args.shapes.clone(),
            rows: args.rows.clone(),
            store_only: args.store_only,
            rounds: args.rounds.unwrap_or(1),
            ingest_for: Duration::from_millis(300),
            big_store: 100_000,
            queries: 100,
            overload_for: Duration::from_secs(10),
        }
    } else {
        Plan {
            shapes: args.shapes.clone(),
            rows: args.rows.clone(),
            store_only: args.store_only,
            rounds: args.rounds.unwrap_or(3),
            ingest_for: Duration::from_secs(3),
            big_store: 2_500_000,
            queries: 1_000,
            overload_for: Duration::from_secs(60),
        }
    };
    let plan = match args.ingest_seconds {
        Some(seconds) => {
            let ingest_for = Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|chosen| !chosen.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!("--ingest-seconds must be a positive number of seconds, not {seconds}")
                })?;
            Plan { ingest_for, ..plan }
        }
        None => plan,
    };
    let started = std::time::Instant::now();
    println!(
        "tracekeep-bench ({}), {} CPUs",
        if args.quick { "quick" } else { "full" },
        cores()
    );
    println!(
        "job event: {} bytes encoded (protobuf, SQL included)\n",
        events::encoded_size()
    );
    let wants = |section| args.only.is_empty() || args.only.contains(&section);
    if args.only.is_empty() {
        spans::run();
    }
    if wants(Section::Ingest) {
        ingest::run(&plan).await?;
    }
    if wants(Section::Query) {
        query::run(&plan).await?;
    }
    if wants(Section::GrpcFloor) {
        grpc_floor::run(plan.ingest_for.max(Duration::from_secs(1)) * 2).await?;
    }
    if wants(Section::QueryUnderIngest) {
        query_under_ingest::run(plan.ingest_for.max(Duration::from_secs(1)) * 3).await?;
    }
    if wants(Section::Zipkin) {
        zipkin::run(plan.ingest_for.max(Duration::from_secs(1)) * 3).await?;
    }
    if wants(Section::Otlp) {
        otlp::run(plan.ingest_for.max(Duration::from_secs(1)) * 3).await?;
    }
    if wants(Section::Search) {
        search::run(if args.quick { 100_000 } else { 1_000_000 }).await?;
    }
    if wants(Section::Retention) {
        retention::run(
            if args.quick { 20_000 } else { 200_000 },
            plan.ingest_for.max(Duration::from_secs(1)) * 3,
        )?;
    }
    if args.only.contains(&Section::BucketRetention) {
        bucket_retention::run(
            plan.ingest_for.max(Duration::from_secs(1)) * 5,
            Duration::from_secs(if args.quick { 60 } else { 30 * 60 }),
            Duration::from_secs(if args.quick { 10 } else { 60 }),
        )
        .await?;
    }
    if args.only.contains(&Section::Cluster) {
        cluster::run(plan.ingest_for.max(Duration::from_secs(1)) * 3).await?;
    }
    if args.only.contains(&Section::Ceilings) {
        ingest::ceilings(&plan)?;
    }
    if wants(Section::Overload) {
        overload::run(plan.overload_for).await?;
    }
    println!("\nfinished in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Bytes of every object under the bucket prefix `bucket` (a store's
/// tables, log objects not yet collected, manifests), read through the store
/// opened read-only: beside its server or after it stopped.
fn bucket_bytes(bucket: &str) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    Ok(tracekeep_store::Store::open_bucket_read_only(bucket)
        .and_then(|store| store.bucket_bytes())
        .context("read the store's size in its bucket")?
        .unwrap_or(0))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A gRPC channel to the server at `addr` (cleartext HTTP/2, one connection).
pub async fn grpc_channel(addr: std::net::SocketAddr) -> anyhow::Result<tonic::transport::Channel> {
    use anyhow::Context as _;
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .context("the server's URI")?
        .connect()
        .await
        .context("connect over gRPC")
}

/// p50 and p99 of a set of samples, in microseconds.
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0);
    }
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99))
}
