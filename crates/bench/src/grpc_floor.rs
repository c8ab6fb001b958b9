//! The floor under a one-event upload: DM's `GetTSO`, which touches no
//! stored data (the TSO comes from memory; its mark is persisted once per
//! 3 s of issued time), through the same server, client and connection
//! handling as the ingest rows. What a one-event upload costs beyond it is
//! the store's.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message;
use tracekeep_e2e::harness::Server;
use tracekeep_proto::pb;

use crate::percentiles;
use crate::pre_encoded::PreEncoded;

const GET_TSO_PATH: &str = "/pb.Tracer/GetTSO";

/// Prints calls/s, latency and server CPU per call of `GetTSO` from 1 and 4 connections.
pub async fn run(run_for: Duration) -> anyhow::Result<()> {
    println!("\n## The gRPC floor: GetTSO (no stored data) through the same server and client\n");
    println!("| clients | calls/s | p50 µs | p99 µs | server CPU per call µs |");
    println!("|---|---|---|---|---|");
    for clients in [1usize, 4] {
        let dir = tempfile::tempdir().context("scratch dir")?;
        let server = Server::start(&dir.path().join("data"), &[]);
        let request = pb::GetTsoRequest { id: "bench".into() }.encode_to_vec();
        let cpu_before = server.cpu_seconds().context("read the server's CPU time")?;
        let started = Instant::now();
        let deadline = started + run_for;
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let channel = crate::grpc_channel(server.addr).await?;
            let request = bytes::Bytes::from(request.clone());
            tasks.push(tokio::spawn(async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    grpc.ready().await.context("wait for the channel")?;
                    let reply = grpc
                        .unary(
                            tonic::Request::new(request.clone()),
                            tonic::codegen::http::uri::PathAndQuery::from_static(GET_TSO_PATH),
                            PreEncoded::<pb::GetTsoResponse>::default(),
                        )
                        .await
                        .context("GetTSO")?
                        .into_inner();
                    anyhow::ensure!(reply.result, "GetTSO refused: {}", reply.msg);
                    latencies.push(sent.elapsed());
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.context("a client task")??);
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = server.cpu_seconds().context("read the server's CPU time")? - cpu_before;
        let calls = latencies.len();
        let (p50, p99) = percentiles(&mut latencies);
        println!(
            "| {clients} | {:.0} | {p50:.0} | {p99:.0} | {:.1} |",
            calls as f64 / seconds,
            cpu * 1e6 / calls.max(1) as f64
        );
    }
    Ok(())
}
