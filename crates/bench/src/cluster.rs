//! Many nodes on one bucket (`--only cluster`, under
//! `tests/bucket/run-on-seaweedfs.sh`): 1, 2 and 3 servers on one bucket
//! prefix, DM ingest spread over them, then reads through a node that took
//! none of the trace, and how soon one node reads what another acknowledged.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracekeep_e2e::harness::{Server, bucket_for, upload_jobs};

use crate::ingest::{BucketTotals, Measured, Workload, through_server, trace_id};
use crate::percentiles;

/// Clients over all nodes, events per upload and per trace: the ingest
/// table's 16 x 100 row at 10 events per trace.
const CLIENTS: usize = 16;
const BATCH: usize = 100;
const SHAPE: u64 = 10;
/// Queries of 10-event traces through a node that did not ingest them.
const QUERIES: usize = 300;
/// Uploads timed from one node's acknowledgement to another node's read.
const STALENESS_PROBES: usize = 30;

/// Node `at` of the cluster on `bucket`, with its data directory in `dir`
/// (the harness adds `TRACEKEEP_TEST_BUCKET_FLUSH_MS` as for any server).
fn start_node(dir: &std::path::Path, bucket: &str, at: usize) -> Server {
    let node_id = format!("node-{at}");
    Server::start_node(&dir.join(&node_id), bucket, &node_id, &[])
}

pub async fn run(ingest_for: Duration) -> anyhow::Result<()> {
    println!("\n## Many nodes on one bucket\n");
    let dir = tempfile::tempdir().context("scratch dir")?;
    if bucket_for(dir.path()).is_none() {
        println!("(needs a bucket: run under tests/bucket/run-on-seaweedfs.sh)");
        return Ok(());
    }
    println!(
        "DM ingest, {CLIENTS} clients x {BATCH} events spread evenly over the nodes, {SHAPE} events per trace, {:.0} s; \
         then {QUERIES} queries of 10-event traces one at a time through a node that took none of them, \
         and {STALENESS_PROBES} one-event uploads timed from one node's acknowledgement to another's read.\n",
        ingest_for.as_secs_f64()
    );
    println!(
        "| nodes | events/s | server CPU per event, all nodes (µs) | CPU per node (cores) | bucket requests/s | bytes to the bucket per event | query p50 / p99 (ms) | the same queries again, p50 / p99 (ms) | another node reads it after p50 / p99 / max (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for nodes in 1..=3 {
        let cluster_dir = dir.path().join(format!("cluster-{nodes}"));
        let bucket = bucket_for(&cluster_dir).context("the bucket")?;
        let servers: Vec<Server> = (1..=nodes).map(|at| start_node(&cluster_dir, &bucket, at)).collect();
        let measured = ingest_spread(&servers, ingest_for).await?;
        let reader = servers.get(1).unwrap_or(&servers[0]);
        // The same traces twice: first reads, then again once the reader
        // holds what the first reads fetched from the bucket.
        let (query_p50, query_p99) = queries(reader)?;
        let (again_p50, again_p99) = queries(reader)?;
        let staleness = match servers.get(1) {
            Some(other) => staleness(&servers[0], other).await?,
            None => None,
        };
        let events = measured.iter().map(|(m, _)| m.events).sum::<u64>().max(1);
        let seconds = measured.iter().map(|(m, _)| m.seconds).fold(0.0, f64::max);
        let cpu: f64 = measured.iter().map(|(m, _)| m.cpu_seconds).sum();
        let requests: f64 = measured.iter().filter_map(|(_, b)| b.map(|b| b.requests)).sum();
        let written: f64 = measured.iter().filter_map(|(_, b)| b.map(|b| b.written_bytes)).sum();
        let per_node: Vec<String> = measured
            .iter()
            .map(|(m, _)| format!("{:.2}", m.cpu_seconds / seconds))
            .collect();
        println!(
            "| {nodes} | {:.0} | {:.2} | {} | {:.0} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {} |",
            events as f64 / seconds,
            cpu * 1e6 / events as f64,
            per_node.join(", "),
            requests / seconds,
            written / events as f64,
            query_p50 / 1000.0,
            query_p99 / 1000.0,
            again_p50 / 1000.0,
            again_p99 / 1000.0,
            staleness.map_or("-".to_owned(), |(p50, p99, max)| format!(
                "{p50:.0} / {p99:.0} / {max:.0}"
            )),
        );
    }
    Ok(())
}

/// The 16 x 100 workload, its clients split evenly over `servers` (1 to 3);
/// each node's measurement and bucket requests.
async fn ingest_spread(
    servers: &[Server],
    ingest_for: Duration,
) -> anyhow::Result<Vec<(Measured, Option<BucketTotals>)>> {
    let per_node = CLIENTS / servers.len();
    let workload = |at: usize| Workload {
        clients: if at + 1 == servers.len() {
            CLIENTS - per_node * at
        } else {
            per_node
        },
        batch: BATCH,
        shape: SHAPE,
        run_for: ingest_for,
        first_client: at * per_node,
        every: None,
    };
    let measured = match servers {
        [one] => vec![through_server(one, workload(0)).await?],
        [one, two] => {
            let (one, two) = tokio::join!(through_server(one, workload(0)), through_server(two, workload(1)));
            vec![one?, two?]
        }
        [one, two, three] => {
            let (one, two, three) = tokio::join!(
                through_server(one, workload(0)),
                through_server(two, workload(1)),
                through_server(three, workload(2))
            );
            vec![one?, two?, three?]
        }
        _ => anyhow::bail!("1 to 3 nodes, not {}", servers.len()),
    };
    Ok(measured
        .into_iter()
        .map(|measured| {
            let bucket = measured.bucket;
            (measured, bucket)
        })
        .collect())
}

/// p50 and p99 of `/events/query` of client 0's 10-event traces (ingested
/// by the first node) through `reader`, in microseconds.
fn queries(reader: &Server) -> anyhow::Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(QUERIES);
    for n in 0..QUERIES as u64 {
        let path = format!("/events/query?trace_id={}", trace_id(0, n));
        let started = Instant::now();
        let response = reader.get(&path);
        samples.push(started.elapsed());
        anyhow::ensure!(response.status == 200, "{path}: {}", response.status);
    }
    Ok(percentiles(&mut samples))
}

/// From `writer`'s acknowledgement of a one-event upload to `reader`'s first
/// answer with it, polled every millisecond: p50, p99 and the longest, ms.
async fn staleness(writer: &Server, reader: &Server) -> anyhow::Result<Option<(f64, f64, f64)>> {
    let mut client = writer.grpc().await;
    let mut samples = Vec::with_capacity(STALENESS_PROBES);
    for probe in 0..STALENESS_PROBES {
        let trace = format!("staleness.{probe}");
        let reply = upload_jobs(&mut client, vec![tracekeep_e2e::harness::job(&trace, 1)]).await;
        anyhow::ensure!(reply.result, "upload refused: {}", reply.msg);
        let acknowledged = Instant::now();
        let path = format!("/events/query?trace_id={trace}");
        while reader.get(&path).status != 200 {
            anyhow::ensure!(
                acknowledged.elapsed() < Duration::from_secs(30),
                "another node never read {trace}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(acknowledged.elapsed());
    }
    let longest = samples.iter().max().copied().unwrap_or_default();
    let (p50, p99) = percentiles(&mut samples);
    Ok(Some((p50 / 1000.0, p99 / 1000.0, longest.as_secs_f64() * 1000.0)))
}
