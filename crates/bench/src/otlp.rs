//! OTLP ingest: 16 clients export 100-span requests (10 attributes and 1
//! event per span, 10 spans per trace, one service per client) over OTLP/gRPC
//! and OTLP/HTTP protobuf, beside Zipkin proto3 ingest of spans of the same
//! shape, each on a fresh server in the same run.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message as _;
use tracekeep_e2e::harness::Server;

use crate::http::KeepAlive;
use crate::pre_encoded::PreEncoded;
use crate::zipkin::{self, CLIENTS, ClientTotals, SPANS_PER_REQUEST};

const SPANS_PER_TRACE: u64 = 10;
/// Epoch nanoseconds the spans start from.
const EPOCH_NANOS: u64 = 1_763_855_000_000_000_000;
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

fn text(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// Span `n` of `client`: the Zipkin bench's tags as attributes (the status
/// code an integer), one event, the error status on one trace in 100.
fn otlp_span(client: usize, n: u64) -> Span {
    let trace = ((client as u64 + 1) << 40) | (n / SPANS_PER_TRACE);
    let start = EPOCH_NANOS + n * 50_000;
    let mut attributes = vec![
        text("http.method", "GET".into()),
        text("http.route", format!("/api/orders/{}", n % 977)),
        KeyValue {
            key: "http.status_code".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(200)),
            }),
            ..Default::default()
        },
        text(
            "url.full",
            format!("http://orders.internal:8080/api/orders/{}", n % 977),
        ),
        text("component", "net/http".into()),
        text("peer.service", "orders".into()),
        text("db.system", "mysql".into()),
        text(
            "db.statement",
            "SELECT id, state, total FROM orders WHERE id = ?".into(),
        ),
        text("cloud.region", "eu-west-1".into()),
        text("service.version", "2.14.3".into()),
    ];
    let error = (n / SPANS_PER_TRACE).is_multiple_of(100) && n % SPANS_PER_TRACE == 3;
    if error {
        attributes.push(text("error.type", "timeout".into()));
    }
    Span {
        trace_id: [[0; 8], trace.to_be_bytes()].concat(),
        span_id: (n + 1).to_be_bytes().to_vec(),
        parent_span_id: if n.is_multiple_of(SPANS_PER_TRACE) {
            Vec::new()
        } else {
            (n - n % SPANS_PER_TRACE + 1).to_be_bytes().to_vec()
        },
        name: format!("get /api/orders/{{id}} {}", n % 7),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_200_000 + (n % 500) * 1000,
        attributes,
        events: vec![span::Event {
            time_unix_nano: start + 10_000,
            name: "request sent".into(),
            ..Default::default()
        }],
        status: error.then(|| opentelemetry_proto::tonic::trace::v1::Status {
            message: "upstream timeout".into(),
            code: 2,
        }),
        ..Default::default()
    }
}

/// One export request: spans `first..first + 100` of `client`, one resource.
fn request(client: usize, first: u64) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", format!("frontend-{}", client % 5)),
                    text("host.name", format!("frontend-{client}")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "bench".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans: (first..first + SPANS_PER_REQUEST)
                    .map(|n| otlp_span(client, n))
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// The transports measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Grpc,
    Http,
}

async fn grpc_client(
    addr: std::net::SocketAddr,
    requests: Vec<Vec<u8>>,
    client: usize,
    deadline: Instant,
) -> anyhow::Result<ClientTotals> {
    let channel = crate::grpc_channel(addr).await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    let mut requests = requests.into_iter();
    let (mut spans, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
    while Instant::now() < deadline {
        let body = Bytes::from(requests.next().unwrap_or_else(|| request(client, spans)));
        let size = body.len() as u64;
        let sent = Instant::now();
        grpc.ready().await.context("wait for the channel")?;
        let reply = grpc
            .unary(
                tonic::Request::new(body),
                tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
                PreEncoded::<ExportTraceServiceResponse>::default(),
            )
            .await
            .context("export over gRPC")?
            .into_inner();
        anyhow::ensure!(reply.partial_success.is_none(), "spans refused: {reply:?}");
        latencies.push(sent.elapsed());
        spans += SPANS_PER_REQUEST;
        bytes += size;
    }
    Ok((spans, bytes, latencies))
}

fn http_client(
    addr: std::net::SocketAddr,
    requests: Vec<Vec<u8>>,
    client: usize,
    deadline: Instant,
) -> anyhow::Result<ClientTotals> {
    let mut connection = KeepAlive::connect(addr)?;
    let mut requests = requests.into_iter();
    let (mut spans, mut bytes, mut latencies) = (0u64, 0u64, Vec::new());
    while Instant::now() < deadline {
        let body = requests.next().unwrap_or_else(|| request(client, spans));
        let sent = Instant::now();
        let (status, text) = connection
            .post("/v1/traces", "application/x-protobuf", &body)
            .context("export over HTTP")?;
        anyhow::ensure!(status == 200, "{status}: {text}");
        latencies.push(sent.elapsed());
        spans += SPANS_PER_REQUEST;
        bytes += body.len() as u64;
    }
    Ok((spans, bytes, latencies))
}

async fn measure(transport: Transport, run_for: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("make a data directory")?;
    let server = Server::start(&dir.path().join("data"), &[]);
    let addr = server.addr;
    let prebuilt = zipkin::prebuild(run_for, request).await?;
    let cpu_before = server.cpu_seconds().context("read the server's CPU time")?;
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    for (client, requests) in prebuilt.into_iter().enumerate() {
        tasks.push(match transport {
            Transport::Grpc => tokio::spawn(grpc_client(addr, requests, client, deadline)),
            Transport::Http => tokio::task::spawn_blocking(move || http_client(addr, requests, client, deadline)),
        });
    }
    let label = match transport {
        Transport::Grpc => "OTLP gRPC",
        Transport::Http => "OTLP HTTP",
    };
    zipkin::report_row(label, tasks, started, &server, cpu_before).await
}

/// OTLP ingest over gRPC and HTTP, after Zipkin proto3 ingest for comparison.
pub async fn run(run_for: Duration) -> anyhow::Result<()> {
    println!(
        "\nOTLP ingest: {CLIENTS} clients x {SPANS_PER_REQUEST} spans per request, {SPANS_PER_TRACE} spans per trace, \
         10 attributes + 1 event each (Zipkin: 10 tags + 2 annotations), one connection per client, \
         requests built before the clock, sync off"
    );
    println!("| protocol      | spans/s   | bytes/span  | server CPU us/span | p50 ms   | p99 ms   |");
    println!("|---------------|-----------|-------------|------------|----------|----------|");
    zipkin::measure_labelled(zipkin::Format::Proto3, "Zipkin proto3", run_for).await?;
    measure(Transport::Grpc, run_for).await?;
    measure(Transport::Http, run_for).await?;
    Ok(())
}
