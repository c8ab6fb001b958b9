//! The crash loop: concurrent clients upload, delete and truncate while the
//! server is killed with SIGKILL at a random moment; after each restart every
//! acknowledged event (DM events over gRPC, Zipkin and OTLP spans over HTTP) must be
//! there exactly once, in order, with no half batch, scan order intact and the
//! TSO above everything issued before.
//!
//! The model: each client owns its traces and runs one operation at a time,
//! so a trace has a list of committed (acknowledged) events and at most one
//! pending operation whose reply never came. After a restart the trace must
//! equal the committed list, or the committed list with the pending operation
//! applied whole. A truncate is issued alone, racing the kill, and must be all
//! or nothing across every trace.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tokio::sync::watch;
use tonic::transport::Channel;
use tracekeep_proto::pb;
use tracekeep_proto::pb::tracer_client::TracerClient;

use crate::harness::{Server, encode};

/// What to run.
#[derive(Clone, Debug)]
pub struct CrashOptions {
    pub data_dir: PathBuf,
    pub cycles: u32,
    pub clients: usize,
    pub traces_per_client: usize,
    /// Start the server with `--sync`.
    pub sync: bool,
    pub seed: u64,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct CrashReport {
    pub cycles: u32,
    pub events_acknowledged: u64,
    pub events_lost: u64,
    pub batches_acknowledged: u64,
    pub pending_at_kill: u64,
    pub deletes_acknowledged: u64,
    pub truncates_acknowledged: u64,
    pub kills_racing_truncate: u64,
    /// Cycles that started with the data directory deleted (on a bucket).
    pub local_dirs_deleted: u64,
    /// A cluster: a trace deleted through one node and uploaded again
    /// through another before that one followed the delete keeps its old
    /// place in scans, so scan order is counted, not required.
    pub order_is_approximate: bool,
    /// Checks whose scan listed a client's traces out of first-seen order
    /// (with `order_is_approximate`).
    pub order_deviations: u64,
    /// SeaweedFS nodes killed for good under the load (a cluster's loop on
    /// a three-node SeaweedFS).
    pub seaweedfs_nodes_killed: u64,
    /// Operations refused retryably meanwhile (checked as in flight).
    pub refused_retryably: u64,
    pub problems: Vec<String>,
}

impl std::fmt::Display for CrashReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cycles {}, events acknowledged {}, events lost {}, batches acknowledged {}, \
             operations in flight at kill {}, deletes {}, truncates {}, kills racing a truncate {}, \
             data directories deleted {}, scans out of first-seen order {}, SeaweedFS nodes killed {}, refused retryably {}, problems {}",
            self.cycles,
            self.events_acknowledged,
            self.events_lost,
            self.batches_acknowledged,
            self.pending_at_kill,
            self.deletes_acknowledged,
            self.truncates_acknowledged,
            self.kills_racing_truncate,
            self.local_dirs_deleted,
            self.order_deviations,
            self.seaweedfs_nodes_killed,
            self.refused_retryably,
            self.problems.len()
        )
    }
}

/// xorshift64*: deterministic per seed, no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pending {
    Upload(Vec<i64>),
    Delete,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TraceModel {
    committed: Vec<i64>,
    pending: Option<Pending>,
    /// When the trace (re)appeared, per client; scan order must follow it.
    first_seen: u64,
}

/// One client's traces.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientModel {
    pub(crate) traces: BTreeMap<String, TraceModel>,
    first_seen_clock: u64,
    pub(crate) acknowledged: u64,
    pub(crate) batches: u64,
    pub(crate) deletes: u64,
    /// Operations refused retryably (the bucket did not confirm in time),
    /// left pending: they may have been stored.
    pub(crate) refused_retryably: u64,
    /// The highest TSO this client was issued; the next must be above it.
    pub(crate) max_tso: i64,
}

impl ClientModel {
    fn mark_seen(&mut self, trace: &str) {
        self.first_seen_clock += 1;
        let clock = self.first_seen_clock;
        if let Some(model) = self.traces.get_mut(trace) {
            model.first_seen = clock;
        }
    }
}

/// Hex, so Zipkin uploads (whose trace IDs are hex) can share the traces.
fn trace_name(client: usize, trace: usize) -> String {
    format!("{:016x}", ((client as u64 + 1) << 32) | trace as u64)
}

/// Acknowledged batches of the current cycle, and a wake-up for whoever waits on them.
#[derive(Default)]
pub(crate) struct Progress {
    batches: std::sync::atomic::AtomicU64,
    changed: tokio::sync::Notify,
}

impl Progress {
    fn record(&self) {
        self.batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Waits for the moment to kill a server: a random number of batches
    /// acknowledged (or every client stopped), then a few scheduler turns
    /// more, so that the kill lands mid-operation.
    pub(crate) async fn kill_point(
        &self,
        rng: &mut Rng,
        clients_done: &std::sync::atomic::AtomicUsize,
        clients: usize,
    ) {
        let target = 20 + rng.below(300);
        self.reached(target, clients_done, clients).await;
        for _ in 0..rng.below(64) {
            tokio::task::yield_now().await;
        }
    }

    /// Waits until `target` batches are acknowledged, or every client has stopped.
    async fn reached(&self, target: u64, clients_done: &std::sync::atomic::AtomicUsize, clients: usize) {
        loop {
            let changed = self.changed.notified();
            if self.batches.load(std::sync::atomic::Ordering::SeqCst) >= target
                || clients_done.load(std::sync::atomic::Ordering::SeqCst) >= clients
            {
                return;
            }
            changed.await;
        }
    }
}

/// One client's part of a cycle.
pub(crate) struct ClientRun {
    pub(crate) client: usize,
    pub(crate) traces: usize,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) rng: Rng,
    /// The first event ID this client may use; IDs are unique store-wide.
    pub(crate) next_id: i64,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) progress: std::sync::Arc<Progress>,
    pub(crate) done: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// A retryable refusal (a bucket node lost) ends the client's cycle with
    /// its operation pending instead of being a problem.
    pub(crate) tolerate_unavailable: bool,
}

pub(crate) async fn run_client(
    run: ClientRun,
    mut model: ClientModel,
    mut grpc: TracerClient<Channel>,
) -> (ClientModel, Vec<String>) {
    let ClientRun {
        client,
        traces,
        addr,
        mut rng,
        mut next_id,
        stop,
        progress,
        done,
        tolerate_unavailable,
    } = run;
    let _done = DoneGuard(done, progress.clone());
    let mut problems = Vec::new();
    while !*stop.borrow() {
        let trace = trace_name(client, rng.below(traces as u64) as usize);
        let roll = rng.below(100);
        if roll < 4 {
            model.traces.get_mut(&trace).unwrap().pending = Some(Pending::Delete);
            let path = format!("/events/delete?trace_id={}", encode(&trace));
            let reply =
                tokio::task::spawn_blocking(move || crate::harness::try_http(addr, "POST", &path, &[], b"").ok())
                    .await
                    .unwrap();
            match reply {
                Some(response) if response.status == 200 => {
                    let entry = model.traces.get_mut(&trace).unwrap();
                    entry.committed.clear();
                    entry.pending = None;
                    model.deletes += 1;
                }
                Some(response) if tolerate_unavailable && response.status == 503 => {
                    model.refused_retryably += 1;
                    break;
                }
                Some(response) => problems.push(format!("delete {trace}: {} {}", response.status, response.body)),
                None => break,
            }
        } else if roll < 10 {
            match grpc
                .get_tso(pb::GetTsoRequest {
                    id: format!("c{client}"),
                })
                .await
            {
                Ok(reply) => {
                    let reply = reply.into_inner();
                    if !reply.result || reply.ts <= model.max_tso {
                        problems.push(format!("GetTSO went back or failed: {reply:?} after {}", model.max_tso));
                    }
                    model.max_tso = model.max_tso.max(reply.ts);
                }
                Err(_) => break,
            }
        } else {
            let size = 1 + rng.below(20) as usize;
            let ids: Vec<i64> = (0..size as i64).map(|n| next_id + n).collect();
            next_id += size as i64;
            let was_empty = model.traces[&trace].committed.is_empty();
            model.traces.get_mut(&trace).unwrap().pending = Some(Pending::Upload(ids.clone()));
            let flavour = rng.below(4);
            let reply = if flavour == 3 {
                // OTLP/HTTP protobuf: 200 means durable.
                let body = otlp_body(&trace, client, &ids);
                match post_spans(addr, "/v1/traces", "application/x-protobuf", body, 200).await {
                    None => break,
                    Some(reply) => Ok(tonic::Response::new(reply)),
                }
            } else if flavour == 2 {
                // Zipkin v2 JSON spans: 202 means durable, like a gRPC `result = true`.
                let spans: Vec<serde_json::Value> = ids
                    .iter()
                    .map(|&id| {
                        serde_json::json!({
                            "traceId": trace, "id": format!("{id:016x}"), "name": "crash",
                            "timestamp": id, "duration": 5,
                            "localEndpoint": {"serviceName": format!("crash-c{client}")},
                            "tags": {"payload": "some realistic payload text"}
                        })
                    })
                    .collect();
                let body = serde_json::Value::Array(spans).to_string().into_bytes();
                match post_spans(addr, "/api/v2/spans", "application/json", body, 202).await {
                    None => break,
                    Some(reply) => Ok(tonic::Response::new(reply)),
                }
            } else if flavour == 0 {
                let events = ids
                    .iter()
                    .map(|&id| pb::SyncerJobEvent {
                        base: Some(pb::BaseEvent {
                            trace_id: trace.clone(),
                            tso: id,
                            filename: "crash.rs".into(),
                            line: 1,
                            ..Default::default()
                        }),
                        sql: format!("INSERT INTO crash VALUES ({id}, 'some realistic payload text')"),
                        ..Default::default()
                    })
                    .collect();
                grpc.upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events })
                    .await
            } else {
                let events = ids
                    .iter()
                    .map(|&id| pb::SyncerBinlogEvent {
                        base: Some(pb::BaseEvent {
                            trace_id: trace.clone(),
                            tso: id,
                            ..Default::default()
                        }),
                        event_type: 4,
                        ..Default::default()
                    })
                    .collect();
                grpc.upload_syncer_binlog_event(pb::UploadSyncerBinlogEventRequest { events })
                    .await
            };
            match reply {
                Ok(reply) if reply.get_ref().result => {
                    let entry = model.traces.get_mut(&trace).unwrap();
                    entry.committed.extend(&ids);
                    entry.pending = None;
                    model.acknowledged += ids.len() as u64;
                    model.batches += 1;
                    progress.record();
                    if was_empty {
                        model.mark_seen(&trace);
                    }
                }
                Ok(reply) if tolerate_unavailable && reply.get_ref().msg.contains("unavailable") => {
                    model.refused_retryably += 1;
                    break;
                }
                Ok(reply) => {
                    problems.push(format!("upload to {trace} refused: {}", reply.get_ref().msg));
                    model.traces.get_mut(&trace).unwrap().pending = None;
                }
                Err(_) => break,
            }
        }
    }
    (model, problems)
}

/// POSTs spans over HTTP; `None` when the server is gone (killed), else its
/// answer as an upload reply: `result` when the status is `durable`.
async fn post_spans(
    addr: std::net::SocketAddr,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    durable: u16,
) -> Option<pb::CommonUploadResponse> {
    let response = tokio::task::spawn_blocking(move || {
        crate::harness::try_http(addr, "POST", path, &[("Content-Type", content_type)], &body).ok()
    })
    .await
    .ok()??;
    Some(pb::CommonUploadResponse {
        result: response.status == durable,
        msg: format!("{path} answered {}: {}", response.status, response.body),
    })
}

/// An OTLP `ExportTraceServiceRequest` of spans `ids` of `trace` (16 hex
/// digits: the 128-bit OTLP ID's upper half is zero, which stores it under the
/// same 16 digits). Like Zipkin's, each span starts at its ID in microseconds.
fn otlp_body(trace: &str, client: usize, ids: &[i64]) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message as _;

    let low = u64::from_str_radix(trace, 16).unwrap_or(1);
    let text = |key: &str, value: String| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    };
    let spans = ids
        .iter()
        .map(|&id| Span {
            trace_id: [[0; 8], low.to_be_bytes()].concat(),
            span_id: (id as u64).to_be_bytes().to_vec(),
            name: "crash".into(),
            start_time_unix_nano: id as u64 * 1000,
            end_time_unix_nano: id as u64 * 1000 + 5000,
            attributes: vec![text("payload", "some realistic payload text".into())],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", format!("crash-otlp-c{client}"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Counts a client as stopped however its task ends, and wakes the waiter.
struct DoneGuard(std::sync::Arc<std::sync::atomic::AtomicUsize>, std::sync::Arc<Progress>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.1.changed.notify_waiters();
    }
}

pub(crate) fn stored_ids(server: &Server, trace: &str) -> Result<Vec<i64>, String> {
    let response = server.get(&format!("/events/query?trace_id={}", encode(trace)));
    match response.status {
        404 => Ok(Vec::new()),
        200 => {
            let events = response.json();
            let mut ids = Vec::new();
            for event in events.as_array().unwrap() {
                let base = &event["event"]["base"];
                if base["traceID"] != trace {
                    return Err(format!("{trace}: an event of {} showed up", base["traceID"]));
                }
                let tso = base["tso"].as_i64().unwrap_or(0);
                // Zipkin and OTLP spans carry their ID as the timestamp in
                // microseconds, stored in nanoseconds.
                ids.push(if event["type"] == 3 { tso / 1000 } else { tso });
            }
            Ok(ids)
        }
        status => Err(format!("{trace}: query answered {status}: {}", response.body)),
    }
}

/// Traces in scan order, through the cursor form.
fn scanned_traces(server: &Server) -> Vec<String> {
    let mut order = Vec::new();
    let mut path = "/events/scan?limit=50".to_owned();
    loop {
        let response = server.get(&path);
        assert_eq!(response.status, 200, "{}", response.body);
        for trace in response.json().as_array().unwrap() {
            order.push(trace[0]["event"]["base"]["traceID"].as_str().unwrap_or("").to_owned());
        }
        match response.header("x-tracekeep-next") {
            Some(next) => path = format!("/events/scan?after={next}&limit=50"),
            None => return order,
        }
    }
}

/// Checks the restarted server against the model and resolves what was pending.
pub(crate) fn check(server: &Server, clients: &mut [ClientModel], truncate_pending: bool, report: &mut CrashReport) {
    let mut actual = BTreeMap::new();
    for model in clients.iter() {
        for trace in model.traces.keys() {
            match stored_ids(server, trace) {
                Ok(ids) => {
                    actual.insert(trace.clone(), ids);
                }
                Err(problem) => report.problems.push(problem),
            }
        }
    }
    let truncated = truncate_pending && actual.values().all(Vec::is_empty);
    for model in clients.iter_mut() {
        let names: Vec<String> = model.traces.keys().cloned().collect();
        for trace in names {
            let Some(got) = actual.get(&trace) else { continue };
            let entry = model.traces.get_mut(&trace).unwrap();
            let base = if truncated { Vec::new() } else { entry.committed.clone() };
            let mut candidates = vec![base.clone()];
            match entry.pending.take() {
                Some(Pending::Upload(ids)) => {
                    report.pending_at_kill += 1;
                    candidates.push(base.iter().chain(&ids).copied().collect());
                }
                Some(Pending::Delete) => {
                    report.pending_at_kill += 1;
                    candidates.push(Vec::new());
                }
                None => {}
            }
            if !candidates.contains(got) {
                let kept: BTreeSet<_> = got.iter().collect();
                let lost = base.iter().filter(|id| !kept.contains(id)).count() as u64;
                report.events_lost += lost;
                report.problems.push(format!(
                    "{trace}: stored {} events, expected {} (or with the pending operation); {lost} acknowledged events lost",
                    got.len(),
                    base.len()
                ));
            }
            let appeared = entry.committed.is_empty() && !got.is_empty();
            entry.committed = got.clone();
            if appeared {
                model.mark_seen(&trace);
            }
        }
    }
    // Scan order: every non-empty trace once; each client's traces in the order they appeared.
    let order = scanned_traces(server);
    let listed: BTreeSet<_> = order.iter().cloned().collect();
    if listed.len() != order.len() {
        report.problems.push("scan listed a trace twice".into());
    }
    let expected: BTreeSet<_> = actual
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(trace, _)| trace.clone())
        .collect();
    if listed != expected {
        report
            .problems
            .push(format!("scan lists {listed:?}, the stored traces are {expected:?}"));
    }
    for model in clients.iter() {
        let seen: Vec<u64> = order
            .iter()
            .filter_map(|trace| model.traces.get(trace).map(|entry| entry.first_seen))
            .collect();
        if seen.windows(2).any(|pair| pair[0] > pair[1]) {
            if report.order_is_approximate {
                report.order_deviations += 1;
                continue;
            }
            report
                .problems
                .push(format!("scan order does not follow first-seen order: {order:?}"));
        }
    }
}

pub(crate) async fn tso(server: &Server) -> i64 {
    let mut client = server.grpc().await;
    client
        .get_tso(pb::GetTsoRequest { id: "crash".into() })
        .await
        .unwrap()
        .into_inner()
        .ts
}

/// Each client's traces, none stored yet.
pub(crate) fn client_models(options: &CrashOptions) -> Vec<ClientModel> {
    (0..options.clients)
        .map(|client| ClientModel {
            traces: (0..options.traces_per_client)
                .map(|trace| (trace_name(client, trace), TraceModel::default()))
                .collect(),
            ..Default::default()
        })
        .collect()
}

/// Runs the loop; the report says what was acknowledged and lost.
pub async fn crash_loop(options: &CrashOptions) -> CrashReport {
    let mut rng = Rng::new(options.seed);
    let mut report = CrashReport::default();
    let mut clients = client_models(options);
    let args: Vec<&str> = if options.sync { vec!["--sync"] } else { Vec::new() };
    let mut truncate_pending = false;
    let mut max_tso = 0i64;
    let mut next_id = 1i64;
    for cycle in 0..options.cycles {
        if crate::harness::on_bucket() && cycle % 2 == 1 {
            // The bucket holds everything: a node that lost its disk comes
            // back with an empty directory and must serve every acknowledged
            // event.
            if let Err(error) = std::fs::remove_dir_all(&options.data_dir) {
                report
                    .problems
                    .push(format!("cycle {cycle}: removing the data directory: {error}"));
            }
            report.local_dirs_deleted += 1;
        }
        let server = Server::start(&options.data_dir, &args);
        check(&server, &mut clients, truncate_pending, &mut report);
        truncate_pending = false;
        let after_restart = tso(&server).await;
        if after_restart <= max_tso {
            report.problems.push(format!(
                "cycle {cycle}: TSO {after_restart} after restart is not above {max_tso}"
            ));
        }
        max_tso = after_restart;

        if cycle % 4 == 3 {
            // A truncate, alone, with the kill racing it half the time.
            let addr = server.addr;
            let truncate = tokio::task::spawn_blocking(move || {
                crate::harness::try_http(addr, "POST", "/events/truncate", &[], b"").ok()
            });
            if rng.below(2) == 0 {
                // A few scheduler turns: the kill lands before, during or after the truncate.
                for _ in 0..rng.below(64) {
                    tokio::task::yield_now().await;
                }
                server.kill9();
                report.kills_racing_truncate += 1;
                match truncate.await.unwrap() {
                    Some(response) if response.status == 200 => {
                        report.truncates_acknowledged += 1;
                        clients
                            .iter_mut()
                            .for_each(|model| model.traces.values_mut().for_each(|entry| entry.committed.clear()));
                    }
                    _ => truncate_pending = true,
                }
                report.cycles += 1;
                continue;
            }
            let response = truncate.await.unwrap();
            assert_eq!(response.map(|response| response.status), Some(200));
            report.truncates_acknowledged += 1;
            clients
                .iter_mut()
                .for_each(|model| model.traces.values_mut().for_each(|entry| entry.committed.clear()));
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let progress = std::sync::Arc::new(Progress::default());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (index, model) in clients.drain(..).enumerate() {
            let grpc = server.grpc().await;
            let client_rng = Rng::new(rng.next_u64());
            let first_id = next_id + (index as i64) * 1_000_000_000;
            let run = ClientRun {
                client: index,
                traces: options.traces_per_client,
                addr: server.addr,
                rng: client_rng,
                next_id: first_id,
                stop: stop_rx.clone(),
                progress: progress.clone(),
                done: done.clone(),
                tolerate_unavailable: false,
            };
            tasks.push(tokio::spawn(run_client(run, model, grpc)));
        }
        next_id += (options.clients as i64) * 1_000_000_000;
        progress.kill_point(&mut rng, &done, options.clients).await;
        server.kill9();
        let _ = stop_tx.send(true);
        for task in tasks {
            let (model, problems) = task.await.unwrap();
            max_tso = max_tso.max(model.max_tso);
            report.problems.extend(problems);
            clients.push(model);
        }
        report.cycles += 1;
    }
    // The last restart's check.
    let server = Server::start(&options.data_dir, &args);
    check(&server, &mut clients, truncate_pending, &mut report);
    let last = tso(&server).await;
    if last <= max_tso {
        report.problems.push(format!("final TSO {last} is not above {max_tso}"));
    }
    for model in &clients {
        report.events_acknowledged += model.acknowledged;
        report.batches_acknowledged += model.batches;
        report.deletes_acknowledged += model.deletes;
    }
    drop(server);
    // The whole store, offline, after every kill: records, first-seen order,
    // counters and the span index all agree with what is stored.
    let store = crate::harness::bucket_for(&options.data_dir).unwrap_or_else(|| options.data_dir.display().to_string());
    verify_offline(&store, &mut report);
    report
}

/// `tracekeep-dump verify` of the store at `location` (a directory or a
/// bucket URL), after the last cycle; what it finds goes to `report`.
pub(crate) fn verify_offline(location: &str, report: &mut CrashReport) {
    let verify = std::process::Command::new(crate::harness::binary("tracekeep-dump"))
        .arg("verify")
        .arg(location)
        .stdin(std::process::Stdio::null())
        .output();
    match verify {
        Ok(output) if output.status.success() => {}
        Ok(output) => report.problems.push(format!(
            "tracekeep-dump verify {location} after the last cycle: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(error) => report
            .problems
            .push(format!("running tracekeep-dump verify failed: {error}")),
    }
}
