//! Zipkin ingest: 16 clients POST 100-span requests of realistic spans (10
//! tags, 2 annotations, 10 spans per trace) as v2 JSON and as proto3.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use tracekeep_e2e::harness::Server;
use tracekeep_proto::zipkin_proto3 as z;

use crate::http::KeepAlive;
use crate::percentiles;

pub(crate) const CLIENTS: usize = 16;
pub(crate) const SPANS_PER_REQUEST: u64 = 100;
const SPANS_PER_TRACE: u64 = 10;

/// Which body format a run sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Proto3,
}

/// Epoch microseconds the ingest rows' spans start from.
const INGEST_EPOCH_MICROS: u64 = 1_763_855_000_000_000;

/// Span `n` of `client`, starting at `epoch + n * 50` µs. One trace in 100
/// has an `error` tag, on its fourth span (service `frontend-3`).
fn span(client: usize, n: u64, epoch: u64) -> z::Span {
    let trace = ((client as u64 + 1) << 40) | (n / SPANS_PER_TRACE);
    let start = epoch + n * 50;
    let tags = [
        ("http.method", "GET".to_owned()),
        ("http.path", format!("/api/orders/{}", n % 977)),
        ("http.status_code", "200".to_owned()),
        (
            "http.url",
            format!("http://orders.internal:8080/api/orders/{}", n % 977),
        ),
        ("component", "net/http".to_owned()),
        ("peer.hostname", "orders-7f9c6d".to_owned()),
        ("db.type", "mysql".to_owned()),
        (
            "db.statement",
            "SELECT id, state, total FROM orders WHERE id = ?".to_owned(),
        ),
        ("region", "eu-west-1".to_owned()),
        ("version", "2.14.3".to_owned()),
    ];
    let mut tags: Vec<(&str, String)> = tags.into();
    if (n / SPANS_PER_TRACE).is_multiple_of(100) && n % SPANS_PER_TRACE == 3 {
        tags.push(("error", "upstream timeout".to_owned()));
    }
    z::Span {
        trace_id: trace.to_be_bytes().to_vec(),
        parent_id: if n.is_multiple_of(SPANS_PER_TRACE) {
            Vec::new()
        } else {
            (n - n % SPANS_PER_TRACE + 1).to_be_bytes().to_vec()
        },
        id: (n + 1).to_be_bytes().to_vec(),
        kind: z::span::Kind::Client as i32,
        name: format!("get /api/orders/{{id}} {}", n % 7),
        timestamp: start,
        duration: 1200 + n % 500,
        local_endpoint: Some(z::Endpoint {
            service_name: format!("frontend-{}", n % 5),
            ipv4: vec![10, 0, (n % 200) as u8, 7],
            port: 8080,
            ..Default::default()
        }),
        remote_endpoint: Some(z::Endpoint {
            service_name: "orders".into(),
            ipv4: vec![10, 0, 3, 9],
            port: 3306,
            ..Default::default()
        }),
        annotations: vec![
            z::Annotation {
                timestamp: start + 10,
                value: "ws".into(),
            },
            z::Annotation {
                timestamp: start + 1100,
                value: "wr".into(),
            },
        ],
        tags: tags.into_iter().map(|(key, value)| (key.to_owned(), value)).collect(),
        ..Default::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn json_span(span: &z::Span) -> serde_json::Value {
    let endpoint = |endpoint: &z::Endpoint| {
        serde_json::json!({
            "serviceName": endpoint.service_name,
            "ipv4": endpoint.ipv4.iter().map(u8::to_string).collect::<Vec<_>>().join("."),
            "port": endpoint.port,
        })
    };
    let mut value = serde_json::json!({
        "traceId": hex(&span.trace_id), "id": hex(&span.id), "kind": "CLIENT", "name": span.name,
        "timestamp": span.timestamp, "duration": span.duration,
        "localEndpoint": span.local_endpoint.as_ref().map(endpoint),
        "remoteEndpoint": span.remote_endpoint.as_ref().map(endpoint),
        "annotations": span.annotations.iter()
            .map(|a| serde_json::json!({"timestamp": a.timestamp, "value": a.value})).collect::<Vec<_>>(),
        "tags": span.tags,
    });
    if !span.parent_id.is_empty() {
        value["parentId"] = hex(&span.parent_id).into();
    }
    value
}

/// One request's body: spans `first..first + 100` of `client`.
pub(crate) fn body(format: Format, client: usize, first: u64, epoch: u64) -> Vec<u8> {
    let spans: Vec<z::Span> = (first..first + SPANS_PER_REQUEST)
        .map(|n| span(client, n, epoch))
        .collect();
    match format {
        Format::Proto3 => z::ListOfSpans { spans }.encode_to_vec(),
        Format::Json => serde_json::Value::Array(spans.iter().map(json_span).collect())
            .to_string()
            .into_bytes(),
    }
}

/// Spans per second the prebuilt bodies are sized for; a client that runs out
/// builds the rest on the fly, which only makes the figure pessimistic.
pub(crate) const PREBUILT_RATE: u64 = 180_000;

/// Each client's request bodies, built before the clock starts: the load
/// generator shares this 2-core machine with the server, and a remote client's
/// encoding cost is not the server's. `build(client, first)` encodes the
/// request of that client's spans `first..first + 100`.
pub(crate) async fn prebuild(
    run_for: Duration,
    build: impl Fn(usize, u64) -> Vec<u8> + Copy + Send + 'static,
) -> anyhow::Result<Vec<Vec<Vec<u8>>>> {
    let per_client = (PREBUILT_RATE as f64 * run_for.as_secs_f64()) as u64 / CLIENTS as u64 / SPANS_PER_REQUEST;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        tasks.push(tokio::task::spawn_blocking(move || {
            (0..per_client)
                .map(|request| build(client, request * SPANS_PER_REQUEST))
                .collect::<Vec<_>>()
        }));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        bodies.push(task.await.context("build a client's requests")?);
    }
    Ok(bodies)
}

async fn measure(format: Format, run_for: Duration) -> anyhow::Result<()> {
    measure_labelled(format, &format!("{format:?}"), run_for).await
}

/// [`measure`], its row labelled `label` (the OTLP table compares against it).
pub(crate) async fn measure_labelled(format: Format, label: &str, run_for: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("make a data directory")?;
    let server = Server::start(&dir.path().join("data"), &[]);
    let addr = server.addr;
    let content_type = match format {
        Format::Json => "application/json",
        Format::Proto3 => "application/x-protobuf",
    };
    let prebuilt = prebuild(run_for, move |client, first| {
        body(format, client, first, INGEST_EPOCH_MICROS)
    })
    .await?;
    let cpu_before = server.cpu_seconds().context("read the server's CPU time")?;
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    for (client, bodies) in prebuilt.into_iter().enumerate() {
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut connection = KeepAlive::connect(addr)?;
            let mut bodies = bodies.into_iter();
            let (mut spans, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let body = bodies
                    .next()
                    .unwrap_or_else(|| body(format, client, spans, INGEST_EPOCH_MICROS));
                let sent = Instant::now();
                let (status, text) = connection
                    .post("/api/v2/spans", content_type, &body)
                    .context("post spans")?;
                anyhow::ensure!(status == 202, "{status}: {text}");
                latencies.push(sent.elapsed());
                spans += SPANS_PER_REQUEST;
                bytes += body.len() as u64;
            }
            anyhow::Ok((spans, bytes, latencies))
        }));
    }
    report_row(label, tasks, started, &server, cpu_before).await
}

/// What one load client measured: spans sent, bytes sent, request latencies.
pub(crate) type ClientTotals = (u64, u64, Vec<Duration>);

/// Joins the clients and prints their row: spans/s, bytes per span, the
/// server's CPU per span, request p50 and p99.
pub(crate) async fn report_row(
    label: &str,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<ClientTotals>>>,
    started: Instant,
    server: &Server,
    cpu_before: f64,
) -> anyhow::Result<()> {
    let (mut spans, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
    for task in tasks {
        let (s, b, l) = task.await.context("join a client")??;
        spans += s;
        bytes += b;
        latencies.extend(l);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds().context("read the server's CPU time")? - cpu_before;
    let (p50, p99) = percentiles(&mut latencies);
    println!(
        "| {:<6} | {:>9.0} | {:>11.0} | {:>10.1} | {:>8.2} | {:>8.2} |",
        label,
        spans as f64 / seconds,
        bytes as f64 / spans.max(1) as f64,
        cpu * 1e6 / spans.max(1) as f64,
        p50 / 1e3,
        p99 / 1e3,
    );
    Ok(())
}

/// Zipkin ingest, v2 JSON and proto3, each on a fresh server.
pub async fn run(run_for: Duration) -> anyhow::Result<()> {
    println!(
        "\nZipkin ingest: {CLIENTS} clients x {SPANS_PER_REQUEST} spans per POST, {SPANS_PER_TRACE} spans per trace, 10 tags + 2 annotations each, kept-alive connections, bodies built before the clock, sync off"
    );
    println!("| format | spans/s   | bytes/span  | server CPU us/span | p50 ms   | p99 ms   |");
    println!("|--------|-----------|-------------|------------|----------|----------|");
    for format in [Format::Json, Format::Proto3] {
        measure(format, run_for).await?;
    }
    Ok(())
}
