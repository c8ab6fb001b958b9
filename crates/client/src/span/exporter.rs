//! [`SpanExporter`]: ships finished, recorded spans to tracekeep over
//! `UploadSpans`, where they are stored as events of kind 3 under their trace
//! ID as 16 lowercase hex digits. Exporting never blocks the traced code: a
//! bounded queue (drops counted and logged), batches, retries with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tonic::transport::Channel;
use tracekeep_proto::pb;
use tracekeep_proto::pb::tracer_client::TracerClient;

use super::{RecordedSpan, SpanSink};
use crate::dm::ClientError;
use crate::upload::{Answer, Attempt, until_answered};

/// How the exporter batches and retries.
#[derive(Clone, Debug)]
pub struct SpanExporterConfig {
    /// The server, e.g. `http://127.0.0.1:8263`.
    pub endpoint: String,
    /// Upload once this many spans are queued.
    pub batch_size: usize,
    /// Upload whatever is queued at least this often.
    pub flush_interval: Duration,
    /// Spans queued before exporting starts to drop.
    pub queue_capacity: usize,
    /// First retry delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl SpanExporterConfig {
    /// Defaults for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> SpanExporterConfig {
        SpanExporterConfig {
            endpoint: endpoint.into(),
            batch_size: 100,
            flush_interval: Duration::from_millis(200),
            queue_capacity: 10_000,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// What a span exporter did: this one, or the Zipkin shadow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans accepted into the queue.
    pub queued: u64,
    /// Spans the receiver (tracekeep, or the Zipkin collector) acknowledged.
    pub sent: u64,
    /// Spans dropped because the queue was full.
    pub dropped: u64,
    /// Spans the receiver refused.
    pub refused: u64,
}

/// The live counts behind [`ExportStats`], shared with the sending task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) refused: AtomicU64,
}

impl Counters {
    /// The counts now.
    pub(crate) fn stats(&self) -> ExportStats {
        ExportStats {
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

// Spans are nearly every item; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Item {
    Span(pb::Span),
    Flush(oneshot::Sender<()>),
}

/// Ships spans to tracekeep; give it to [`super::Tracer::with_sink`].
#[derive(Debug)]
pub struct SpanExporter {
    items: mpsc::Sender<Item>,
    counters: Arc<Counters>,
}

/// A span as tracekeep stores it: trace and span IDs as 16 lowercase hex digits.
pub fn to_span_event(span: &RecordedSpan) -> pb::Span {
    let unix_nanos = |time: std::time::SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .map_or(0, |since| i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    };
    pb::Span {
        base: Some(pb::BaseEvent {
            trace_id: format!("{:016x}", span.trace_id),
            tso: unix_nanos(span.start),
            r#type: pb::TraceType::SpanEvent as i32,
            ..Default::default()
        }),
        span_id: format!("{:016x}", span.span_id),
        parent_span_id: if span.parent_span_id == 0 {
            String::new()
        } else {
            format!("{:016x}", span.parent_span_id)
        },
        operation: span.operation.clone(),
        duration: i64::try_from(span.duration.as_nanos()).unwrap_or(i64::MAX),
        tags: span.tags.clone(),
        logs: span
            .logs
            .iter()
            .map(|log| pb::SpanLog {
                time: unix_nanos(log.time),
                fields: log
                    .fields
                    .iter()
                    .map(|(key, value)| pb::SpanLogField {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            })
            .collect(),
        baggage: span.baggage.clone(),
        ..Default::default()
    }
}

impl SpanExporter {
    /// Starts exporting on the current tokio runtime; connecting is lazy.
    pub fn start(config: SpanExporterConfig) -> Result<Arc<SpanExporter>, ClientError> {
        let rpc = crate::upload::connect_lazy(&config.endpoint)?;
        let (items, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(config, rpc, receiver, counters.clone()));
        Ok(Arc::new(SpanExporter { items, counters }))
    }

    /// Waits until every span exported before this call was answered by the server.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (done, answered) = oneshot::channel();
        self.items
            .send(Item::Flush(done))
            .await
            .map_err(|_| ClientError::Closed)?;
        answered.await.map_err(|_| ClientError::Closed)
    }

    /// What the exporter did so far.
    pub fn stats(&self) -> ExportStats {
        self.counters.stats()
    }
}

impl SpanSink for SpanExporter {
    fn export(&self, span: RecordedSpan) {
        match self.items.try_send(Item::Span(to_span_event(&span))) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => crate::upload::count_drop(&self.counters.dropped, "span export"),
        }
    }
}

async fn upload(
    config: &SpanExporterConfig,
    rpc: &TracerClient<Channel>,
    counters: &Counters,
    batch: &mut Vec<pb::Span>,
) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    let count = spans.len() as u64;
    let answer = until_answered(
        config.backoff_min,
        config.backoff_max,
        |_| {},
        || {
            let mut rpc = rpc.clone();
            let request = pb::UploadSpansRequest { spans: spans.clone() };
            async move { Attempt::from_reply(rpc.upload_spans(request).await) }
        },
    )
    .await;
    match answer {
        Answer::Acknowledged => counters.sent.fetch_add(count, Ordering::Relaxed),
        Answer::Refused(message) => {
            tracing::warn!(count, %message, "the server refused a batch of spans; dropped");
            counters.refused.fetch_add(count, Ordering::Relaxed)
        }
    };
}

async fn run(
    config: SpanExporterConfig,
    rpc: TracerClient<Channel>,
    mut items: mpsc::Receiver<Item>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::new();
    let mut tick = tokio::time::interval(config.flush_interval);
    loop {
        tokio::select! {
            item = items.recv() => match item {
                Some(Item::Span(span)) => {
                    batch.push(span);
                    if batch.len() >= config.batch_size {
                        upload(&config, &rpc, &counters, &mut batch).await;
                    }
                }
                Some(Item::Flush(done)) => {
                    upload(&config, &rpc, &counters, &mut batch).await;
                    let _ = done.send(());
                }
                None => {
                    upload(&config, &rpc, &counters, &mut batch).await;
                    return;
                }
            },
            _ = tick.tick() => upload(&config, &rpc, &counters, &mut batch).await,
        }
    }
}
