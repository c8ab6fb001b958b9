//! [`ZipkinShadow`]: KaiwuDB's "shadow" tracer. A [`super::Tracer`] given one
//! ships every finished real span (recording or not) to a Zipkin collector
//! over HTTP, as KaiwuDB does when `trace.zipkin.collector` is set: v2 JSON
//! (`POST /api/v2/spans`) by default, or v1 Thrift (`POST /api/v1/spans`,
//! what KaiwuDB's zipkin-go-opentracing collector sends).
//!
//! Reporting never blocks the traced code on the collector: spans go into a
//! bounded queue (drops counted), a background thread batches them and POSTs each batch,
//! retrying a failed POST with exponential backoff until the collector
//! answers. A batch the collector refuses (4xx) is dropped and counted.
//! The thread needs no async runtime.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::exporter::{Counters, ExportStats};
use super::{LogRecord, RecordedSpan};

/// The wire format the shadow sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZipkinFormat {
    /// Zipkin v2 JSON to `/api/v2/spans`.
    #[default]
    V2Json,
    /// Zipkin v1 Thrift (TBinaryProtocol `list<Span>`) to `/api/v1/spans`.
    V1Thrift,
}

/// How the shadow reports.
#[derive(Clone, Debug)]
pub struct ZipkinShadowConfig {
    /// The collector: `host:port` (KaiwuDB's `trace.zipkin.collector` form) or
    /// `http://host:port`.
    pub collector: String,
    /// `localEndpoint.serviceName` of every span (KaiwuDB sends `kwbase`).
    pub service_name: String,
    /// The wire format.
    pub format: ZipkinFormat,
    /// POST once this many spans are queued.
    pub batch_size: usize,
    /// POST whatever is queued at least this often.
    pub flush_interval: Duration,
    /// Spans queued before reporting starts to drop.
    pub queue_capacity: usize,
    /// First retry delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl ZipkinShadowConfig {
    /// Defaults for `collector`, service `kwbase`, v2 JSON.
    pub fn new(collector: impl Into<String>) -> ZipkinShadowConfig {
        ZipkinShadowConfig {
            collector: collector.into(),
            service_name: "kwbase".into(),
            format: ZipkinFormat::V2Json,
            batch_size: 100,
            flush_interval: Duration::from_millis(200),
            queue_capacity: 10_000,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// What the traced threads and the reporter thread share. Reporting a span
/// is a push under this lock; the reporter is woken only when a batch is
/// full, a flush is asked for, or the shadow is dropped (otherwise it wakes
/// on its own every `flush_interval`), so a span costs no thread wake-up.
#[derive(Debug, Default)]
struct Queue {
    spans: Vec<RecordedSpan>,
    /// Flushes asked for so far, and answered so far.
    flushes_asked: u64,
    flushes_done: u64,
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the reporter.
    work: Condvar,
    /// Wakes flush callers.
    flushed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why the shadow cannot start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShadowError {
    /// The collector address is not `host:port` or `http://host:port`.
    #[error("bad Zipkin collector address {0:?}: use host:port or http://host:port")]
    BadCollector(String),
    /// The background thread could not be started.
    #[error("cannot start the shadow reporter: {0}")]
    Thread(String),
}

/// Reports finished spans to a Zipkin collector; give it to
/// [`super::Tracer::with_zipkin_shadow`].
#[derive(Debug)]
pub struct ZipkinShadow {
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    service_name: String,
    batch_size: usize,
    queue_capacity: usize,
}

impl ZipkinShadow {
    /// Starts the reporting thread. Connecting is lazy: an absent collector
    /// is not an error here.
    pub fn start(config: ZipkinShadowConfig) -> Result<Arc<ZipkinShadow>, ShadowError> {
        let collector = Collector::parse(&config.collector, config.format)?;
        let shared = Arc::new(Shared::default());
        let counters = Arc::new(Counters::default());
        let (worker_shared, worker_counters) = (shared.clone(), counters.clone());
        let shadow = ZipkinShadow {
            shared,
            counters,
            service_name: config.service_name.clone(),
            batch_size: config.batch_size.max(1),
            queue_capacity: config.queue_capacity.max(1),
        };
        std::thread::Builder::new()
            .name("zipkin-shadow".into())
            .spawn(move || run(&config, &collector, &worker_shared, &worker_counters))
            .map_err(|error| ShadowError::Thread(error.to_string()))?;
        Ok(Arc::new(shadow))
    }

    /// Queues a finished span; never blocks on the collector (a full queue
    /// drops it, counted).
    pub fn report(&self, span: RecordedSpan) {
        let mut queue = self.shared.lock();
        if queue.spans.len() >= self.queue_capacity {
            drop(queue);
            crate::upload::count_drop(&self.counters.dropped, "Zipkin shadow");
            return;
        }
        queue.spans.push(span);
        let full = queue.spans.len() == self.batch_size;
        drop(queue);
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if full {
            self.shared.work.notify_one();
        }
    }

    /// Blocks until every span reported before this call was answered by the
    /// collector (sent or refused), or `timeout` passes; false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.lock();
        queue.flushes_asked += 1;
        let ticket = queue.flushes_asked;
        self.shared.work.notify_one();
        while queue.flushes_done < ticket {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self
                .shared
                .flushed
                .wait_timeout(queue, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }

    /// What the shadow did so far.
    pub fn stats(&self) -> ExportStats {
        self.counters.stats()
    }

    /// The service name spans are reported under.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }
}

/// Where and how batches are POSTed.
#[derive(Clone, Debug)]
struct Collector {
    /// `host:port`, for connecting and the Host header.
    authority: String,
    path: &'static str,
    content_type: &'static str,
    format: ZipkinFormat,
}

impl Collector {
    fn parse(text: &str, format: ZipkinFormat) -> Result<Collector, ShadowError> {
        let trimmed = text.trim();
        let authority = trimmed.strip_prefix("http://").unwrap_or(trimmed);
        let authority = authority.split('/').next().unwrap_or_default();
        if authority.is_empty() || !authority.contains(':') || trimmed.starts_with("https://") {
            return Err(ShadowError::BadCollector(text.to_owned()));
        }
        let (path, content_type) = match format {
            ZipkinFormat::V2Json => ("/api/v2/spans", "application/json"),
            ZipkinFormat::V1Thrift => ("/api/v1/spans", "application/x-thrift"),
        };
        Ok(Collector {
            authority: authority.to_owned(),
            path,
            content_type,
            format,
        })
    }

    /// One POST; the status code, or why there is none.
    fn post(&self, body: &[u8]) -> std::io::Result<u16> {
        let address = self
            .authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the collector's name resolves to nothing"))?;
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.authority,
            self.content_type,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let status_line = answer.split(|byte| *byte == b'\n').next().unwrap_or_default();
        std::str::from_utf8(status_line)
            .ok()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other("the collector's answer has no status line"))
    }
}

impl Drop for ZipkinShadow {
    /// Lets the reporter send what is queued and stop.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_one();
    }
}

fn run(config: &ZipkinShadowConfig, collector: &Collector, shared: &Shared, counters: &Counters) {
    let batch_size = config.batch_size.max(1);
    loop {
        let mut queue = shared.lock();
        let deadline = Instant::now() + config.flush_interval;
        // Sleep until a batch is full, a flush is asked for, the shadow is
        // dropped, or the flush interval passes.
        while queue.spans.len() < batch_size && queue.flushes_done == queue.flushes_asked && !queue.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            queue = shared
                .work
                .wait_timeout(queue, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        let mut batch = std::mem::take(&mut queue.spans);
        let (flush_ticket, closed) = (queue.flushes_asked, queue.closed);
        drop(queue);
        for chunk in batch.chunks(batch_size) {
            send(config, collector, counters, chunk);
        }
        batch.clear();
        let mut queue = shared.lock();
        if queue.flushes_done < flush_ticket {
            queue.flushes_done = flush_ticket;
            shared.flushed.notify_all();
        }
        if closed && queue.spans.is_empty() {
            return;
        }
    }
}

/// POSTs the batch until the collector answers: 2xx counts as sent, 4xx as
/// refused (retrying would not help); anything else is retried with backoff.
fn send(config: &ZipkinShadowConfig, collector: &Collector, counters: &Counters, spans: &[RecordedSpan]) {
    if spans.is_empty() {
        return;
    }
    let count = spans.len() as u64;
    let body = match collector.format {
        ZipkinFormat::V2Json => v2_json(spans, &config.service_name),
        ZipkinFormat::V1Thrift => v1_thrift(spans, &config.service_name),
    };
    let mut delay = config.backoff_min;
    loop {
        match collector.post(&body) {
            Ok(status) if (200..300).contains(&status) => {
                counters.sent.fetch_add(count, Ordering::Relaxed);
                return;
            }
            Ok(status) if (400..500).contains(&status) => {
                tracing::warn!(count, status, "the Zipkin collector refused a batch of spans; dropped");
                counters.refused.fetch_add(count, Ordering::Relaxed);
                return;
            }
            Ok(status) => tracing::debug!(status, "the Zipkin collector failed; retrying"),
            Err(error) => tracing::debug!(%error, "reaching the Zipkin collector failed; retrying"),
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(config.backoff_max);
    }
}

fn micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// A log entry as an annotation value: `key=value` pairs joined by spaces,
/// exactly as tracekeep's Zipkin API shows span-tracer logs.
fn log_text(log: &LogRecord) -> String {
    tracekeep_proto::span::fields_text(log.fields.iter().map(|(key, value)| (key.as_str(), value.as_str())))
}

/// The batch as Zipkin v2 JSON.
fn v2_json(spans: &[RecordedSpan], service_name: &str) -> Vec<u8> {
    let list: Vec<serde_json::Value> = spans
        .iter()
        .map(|span| {
            let mut value = serde_json::json!({
                "traceId": format!("{:016x}", span.trace_id),
                "id": format!("{:016x}", span.span_id),
                "name": span.operation,
                "timestamp": micros(span.start),
                "duration": u64::try_from(span.duration.as_micros()).unwrap_or(u64::MAX).max(1),
                "localEndpoint": {"serviceName": service_name},
                "tags": span.tags,
                "annotations": span.logs.iter().map(|log| serde_json::json!({
                    "timestamp": micros(log.time),
                    "value": log_text(log),
                })).collect::<Vec<_>>(),
            });
            if span.parent_span_id != 0 {
                value["parentId"] = format!("{:016x}", span.parent_span_id).into();
            }
            value
        })
        .collect();
    serde_json::Value::Array(list).to_string().into_bytes()
}

/// Thrift TBinaryProtocol writing, just what zipkinCore.thrift's spans need.
struct Thrift(Vec<u8>);

impl Thrift {
    const I16: u8 = 6;
    const I32: u8 = 8;
    const I64: u8 = 10;
    const STRING: u8 = 11;
    const STRUCT: u8 = 12;
    const LIST: u8 = 15;

    fn field(&mut self, kind: u8, id: i16) {
        self.0.push(kind);
        self.0.extend_from_slice(&id.to_be_bytes());
    }

    fn i64_field(&mut self, id: i16, value: i64) {
        self.field(Self::I64, id);
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    fn bytes_field(&mut self, id: i16, value: &[u8]) {
        self.field(Self::STRING, id);
        self.0
            .extend_from_slice(&i32::try_from(value.len()).unwrap_or(i32::MAX).to_be_bytes());
        self.0.extend_from_slice(value);
    }

    fn list_header(&mut self, id: i16, element: u8, len: usize) {
        self.field(Self::LIST, id);
        self.0.push(element);
        self.0
            .extend_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes());
    }

    fn stop(&mut self) {
        self.0.push(0);
    }

    /// `Endpoint { ipv4: 0, port: 0, service_name }` as field `id`, as
    /// KaiwuDB's collector sends it.
    fn endpoint_field(&mut self, id: i16, service_name: &str) {
        self.field(Self::STRUCT, id);
        self.field(Self::I32, 1);
        self.0.extend_from_slice(&0i32.to_be_bytes());
        self.field(Self::I16, 2);
        self.0.extend_from_slice(&0i16.to_be_bytes());
        self.bytes_field(3, service_name.as_bytes());
        self.stop();
    }
}

/// Zipkin's string annotation type (`AnnotationType.STRING`).
const ANNOTATION_STRING: i32 = 6;

/// The batch as a TBinaryProtocol `list<Span>` of zipkinCore.thrift, shaped
/// like KaiwuDB's local spans: an `lc` binary annotation names the service,
/// tags are string binary annotations, logs are annotations.
fn v1_thrift(spans: &[RecordedSpan], service_name: &str) -> Vec<u8> {
    let mut out = Thrift(Vec::new());
    out.0.push(Thrift::STRUCT);
    out.0
        .extend_from_slice(&i32::try_from(spans.len()).unwrap_or(i32::MAX).to_be_bytes());
    for span in spans {
        let signed = |value: u64| i64::from_ne_bytes(value.to_ne_bytes());
        out.i64_field(1, signed(span.trace_id));
        out.bytes_field(3, span.operation.as_bytes());
        out.i64_field(4, signed(span.span_id));
        if span.parent_span_id != 0 {
            out.i64_field(5, signed(span.parent_span_id));
        }
        out.list_header(6, Thrift::STRUCT, span.logs.len());
        for log in &span.logs {
            out.i64_field(1, signed(micros(log.time)));
            out.bytes_field(2, log_text(log).as_bytes());
            out.endpoint_field(3, service_name);
            out.stop();
        }
        let binary: Vec<(&str, &str)> = std::iter::once(("lc", ""))
            .chain(span.tags.iter().map(|(key, value)| (key.as_str(), value.as_str())))
            .collect();
        out.list_header(8, Thrift::STRUCT, binary.len());
        for (key, value) in binary {
            out.bytes_field(1, key.as_bytes());
            out.bytes_field(2, value.as_bytes());
            out.field(Thrift::I32, 3);
            out.0.extend_from_slice(&ANNOTATION_STRING.to_be_bytes());
            out.endpoint_field(4, service_name);
            out.stop();
        }
        out.i64_field(10, signed(micros(span.start)));
        out.i64_field(11, i64::try_from(span.duration.as_micros()).unwrap_or(i64::MAX).max(1));
        out.stop();
    }
    out.0
}

#[cfg(test)]
#[path = "shadow_tests.rs"]
mod tests;
