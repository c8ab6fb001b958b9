//! Span tracing in the CockroachDB/KaiwuDB tracer model.
//!
//! - A [`Tracer`] starts [`Span`]s. A span nobody records is a **noop**: a
//!   `Span(None)`, so starting, tagging, logging and finishing it is a branch
//!   and allocates nothing; a child of a noop is a noop.
//! - A span started *recordable* is real but a **black hole** until recording
//!   starts: its own tags stick, its logs are dropped, its children are noops.
//! - [`start_recording`] (single node or snowball) makes a span collect: its
//!   logs from then on are kept, and spans started as its children from then on
//!   join its recording (or, with `separate_recording`, start their own of the
//!   same type). [`recording`] returns the span and every descendant still
//!   recording, plus imported remote spans, in start order; an unfinished span
//!   reports its elapsed time and a tag `unfinished` with an empty value.
//!   [`stop_recording`] empties the span's recording; children that are still
//!   recording keep going.
//! - **Snowball** recording puts baggage and tag `sb=1` on the span; a remote
//!   process that extracts such a context records the span it starts there
//!   automatically, and its recording can be brought back with
//!   [`import_remote_spans`].
//! - [`Tracer::inject`] / [`Tracer::extract`] carry a [`SpanContext`] across
//!   processes in HTTP headers, gRPC metadata or a text map (see [`carrier`]).
//! - With a [`ZipkinShadow`] ([`Tracer::with_zipkin_shadow`]), every span is
//!   real and every finished one is reported to a Zipkin collector, as
//!   KaiwuDB's shadow tracer does (see [`shadow`]).

pub mod carrier;
pub mod exporter;
pub mod render;
pub mod shadow;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub use carrier::{Extractor, Injector};
pub use shadow::{ZipkinShadow, ZipkinShadowConfig};

/// Logs kept per span; later ones are counted in the tag `dropped_logs`.
pub const MAX_LOGS_PER_SPAN: usize = 1_000;
/// The baggage key (and tag) that marks snowball recording.
pub const SNOWBALL_KEY: &str = "sb";

/// How a recording collects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingType {
    /// Spans of this process only.
    SingleNode,
    /// Also spans of remote processes that receive the context (`sb=1`).
    Snowball,
}

/// Why a span operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// The carrier holds tracer keys whose values do not parse.
    #[error("corrupted span context: {0}")]
    CorruptedContext(String),
    /// A value cannot be carried in an HTTP header.
    #[error("{0:?} cannot be carried in an HTTP header")]
    Unencodable(String),
    /// The span is not recording.
    #[error("the span is not recording")]
    NotRecording,
}

/// One log entry: when, and its key/value fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Wall-clock time of the entry.
    pub time: SystemTime,
    /// The fields, in the order given.
    pub fields: Vec<(String, String)>,
}

/// A span as a recording reports it (and as it crosses processes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedSpan {
    /// The trace it belongs to.
    pub trace_id: u64,
    /// Its own ID.
    pub span_id: u64,
    /// Its parent's ID, 0 for a root.
    pub parent_span_id: u64,
    /// The operation name.
    pub operation: String,
    /// Wall-clock start.
    pub start: SystemTime,
    /// Its duration, or the time elapsed so far if unfinished.
    pub duration: Duration,
    /// Tags (`unfinished` = "" while it runs).
    pub tags: BTreeMap<String, String>,
    /// Logs kept while it was recording.
    pub logs: Vec<LogRecord>,
    /// Its baggage.
    pub baggage: BTreeMap<String, String>,
}

/// What crosses a process boundary: the IDs, the baggage, the recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace ID; 0 in a noop context.
    pub trace_id: u64,
    /// The span ID; 0 in a noop context.
    pub span_id: u64,
    /// A copy of the span's baggage.
    pub baggage: BTreeMap<String, String>,
    /// The recording the span belongs to, if it is recording.
    pub recording: Option<RecordingType>,
}

impl SpanContext {
    /// The context of a noop span: it carries nothing.
    pub fn noop() -> SpanContext {
        SpanContext::default()
    }

    /// Whether this is the noop context.
    pub fn is_noop(&self) -> bool {
        self.trace_id == 0 && self.span_id == 0
    }
}

struct Recording {
    kind: RecordingType,
    children: Vec<Arc<SpanInner>>,
    remote: Vec<RecordedSpan>,
}

struct SpanData {
    finished: Option<Duration>,
    /// Whether the span went to the sink: a second `finish` updates the
    /// duration but does not export it again.
    exported: bool,
    /// Whether the span went to the Zipkin shadow (once, like `exported`).
    shadowed: bool,
    /// Every log, recording or not, for the Zipkin shadow (only with one).
    shadow_logs: Vec<LogRecord>,
    tags: BTreeMap<String, String>,
    logs: Vec<LogRecord>,
    dropped_logs: u64,
    baggage: BTreeMap<String, String>,
    recording: Option<Recording>,
}

struct SpanInner {
    tracer: Arc<TracerInner>,
    trace_id: u64,
    span_id: u64,
    parent_span_id: u64,
    operation: String,
    start: SystemTime,
    started: Instant,
    data: Mutex<SpanData>,
}

impl SpanInner {
    fn data(&self) -> MutexGuard<'_, SpanData> {
        // A panic while the lock is held leaves plain data behind; keep going.
        self.data.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The span as a recording reports it, with `logs` (its recorded logs, or
    /// the shadow's, which the caller gives so that neither is copied in vain).
    fn snapshot(&self, data: &SpanData, logs: Vec<LogRecord>) -> RecordedSpan {
        let mut tags = data.tags.clone();
        let duration = match data.finished {
            Some(duration) => duration,
            None => {
                tags.insert("unfinished".into(), String::new());
                self.started.elapsed()
            }
        };
        if data.dropped_logs > 0 {
            tags.insert("dropped_logs".into(), data.dropped_logs.to_string());
        }
        RecordedSpan {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            operation: self.operation.clone(),
            start: self.start,
            duration,
            tags,
            logs,
            baggage: data.baggage.clone(),
        }
    }

    /// This span and its recording descendants, then imported remote spans.
    fn collect(&self, into: &mut Vec<RecordedSpan>) {
        let data = self.data();
        let Some(recording) = &data.recording else { return };
        into.push(self.snapshot(&data, data.logs.clone()));
        into.extend(recording.remote.iter().cloned());
        let children = recording.children.clone();
        drop(data);
        for child in children {
            child.collect(into);
        }
    }
}

/// Receives finished, recorded spans (the tracekeep exporter); must not block.
pub trait SpanSink: Send + Sync + 'static {
    /// Takes one finished span.
    fn export(&self, span: RecordedSpan);
}

struct TracerInner {
    prefix: String,
    sink: Option<Arc<dyn SpanSink>>,
    shadow: Option<Arc<ZipkinShadow>>,
}

impl TracerInner {
    /// A real span of this tracer: it exports through this tracer's sink.
    fn real(
        self: &Arc<Self>,
        operation: &str,
        trace_id: u64,
        parent_span_id: u64,
        tags: BTreeMap<String, String>,
        baggage: BTreeMap<String, String>,
        recording: Option<RecordingType>,
    ) -> Arc<SpanInner> {
        let mut data = SpanData {
            finished: None,
            exported: false,
            shadowed: false,
            shadow_logs: Vec::new(),
            tags,
            logs: Vec::new(),
            dropped_logs: 0,
            baggage,
            recording: None,
        };
        if let Some(kind) = recording {
            begin_recording(&mut data, kind);
        }
        Arc::new(SpanInner {
            tracer: self.clone(),
            trace_id,
            span_id: new_id(),
            parent_span_id,
            operation: operation.to_owned(),
            start: SystemTime::now(),
            started: Instant::now(),
            data: Mutex::new(data),
        })
    }
}

/// A random non-zero 63-bit ID, as CockroachDB's tracer draws them
/// (`rand.Int63`): independent between tracers and processes.
fn new_id() -> u64 {
    loop {
        let id = rand::random::<u64>() >> 1;
        if id != 0 {
            return id;
        }
    }
}

/// Starts spans. Cheap to clone.
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<TracerInner>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer::new()
    }
}

impl Tracer {
    /// A tracer with the `crdb` header prefix and no exporter.
    pub fn new() -> Tracer {
        Tracer::with_prefix("crdb")
    }

    /// A tracer whose inject/extract use `prefix` (`crdb`, `kwdb`, ...).
    pub fn with_prefix(prefix: impl Into<String>) -> Tracer {
        Tracer {
            inner: Arc::new(TracerInner {
                prefix: prefix.into(),
                sink: None,
                shadow: None,
            }),
        }
    }

    /// The same tracer, shipping every finished recorded span to `sink`.
    pub fn with_sink(self, sink: Arc<dyn SpanSink>) -> Tracer {
        Tracer {
            inner: Arc::new(TracerInner {
                prefix: self.inner.prefix.clone(),
                sink: Some(sink),
                shadow: self.inner.shadow.clone(),
            }),
        }
    }

    /// The same tracer with KaiwuDB's Zipkin shadow: every span is then real
    /// (no noops, as in Go when a collector is configured), every finished
    /// span goes to `shadow` once, with all its logs, and injected contexts
    /// carry B3 headers too, so a Zipkin-instrumented peer joins the trace.
    pub fn with_zipkin_shadow(self, shadow: Arc<ZipkinShadow>) -> Tracer {
        Tracer {
            inner: Arc::new(TracerInner {
                prefix: self.inner.prefix.clone(),
                sink: self.inner.sink.clone(),
                shadow: Some(shadow),
            }),
        }
    }

    /// The header prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// A root span nobody records: a noop, or with a Zipkin shadow a real
    /// span that records nothing but is reported to Zipkin when finished.
    #[inline]
    pub fn start_span(&self, operation: &str) -> Span {
        if self.inner.shadow.is_none() {
            return Span(None);
        }
        self.start_shadowed_root(operation)
    }

    /// The shadow's real root span, out of line so the noop path stays a
    /// branch the caller inlines.
    #[inline(never)]
    fn start_shadowed_root(&self, operation: &str) -> Span {
        Span(Some(self.inner.real(
            operation,
            new_id(),
            0,
            BTreeMap::new(),
            BTreeMap::new(),
            None,
        )))
    }

    /// A real root span that records nothing until [`start_recording`]: its
    /// tags stick, its logs are dropped, its children are noops.
    pub fn start_recordable_span(&self, operation: &str) -> Span {
        let trace_id = new_id();
        Span(Some(self.inner.real(
            operation,
            trace_id,
            0,
            BTreeMap::new(),
            BTreeMap::new(),
            None,
        )))
    }

    /// A child of `parent`: a noop unless the parent is recording; it then
    /// joins the parent's recording, or starts its own of the same type with
    /// `separate_recording`. `log_tags` become the child's tags. The child
    /// belongs to the parent's tracer (its sink), as in Go, whichever tracer
    /// starts it.
    pub fn start_child_span(
        &self,
        operation: &str,
        parent: &Span,
        log_tags: &[(&str, &str)],
        separate_recording: bool,
    ) -> Span {
        let Some(parent) = &parent.0 else { return Span(None) };
        let tags: BTreeMap<String, String> = log_tags
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let mut parent_data = parent.data();
        let Some(parent_recording) = &mut parent_data.recording else {
            // Not recording: a noop, unless a Zipkin shadow wants every span.
            if parent.tracer.shadow.is_none() {
                return Span(None);
            }
            let baggage = parent_data.baggage.clone();
            drop(parent_data);
            return Span(Some(parent.tracer.real(
                operation,
                parent.trace_id,
                parent.span_id,
                tags,
                baggage,
                None,
            )));
        };
        let kind = parent_recording.kind;
        let child = parent.tracer.real(
            operation,
            parent.trace_id,
            parent.span_id,
            tags,
            parent_data.baggage.clone(),
            Some(kind),
        );
        if !separate_recording && let Some(recording) = &mut parent_data.recording {
            recording.children.push(child.clone());
        }
        Span(Some(child))
    }

    /// A child-of span with no log tags, joining the parent's recording.
    pub fn start_span_child_of(&self, operation: &str, parent: &Span) -> Span {
        self.start_child_span(operation, parent, &[], false)
    }

    /// A follows-from span: like a child, it joins the parent's recording.
    pub fn start_span_follows_from(&self, operation: &str, parent: &Span) -> Span {
        self.start_child_span(operation, parent, &[], false)
    }

    /// A span in this process whose parent is in another (an extracted
    /// context). A noop unless the context asks for snowball recording
    /// (baggage `sb=1`); then it records automatically, tagged `sb=1`.
    pub fn start_remote_span(&self, operation: &str, context: &SpanContext) -> Span {
        let snowball = context.baggage.get(SNOWBALL_KEY).is_some_and(|value| value == "1");
        if context.is_noop() || (!snowball && self.inner.shadow.is_none()) {
            return Span(None);
        }
        if !snowball {
            // Only for the Zipkin shadow: real, not recording.
            return Span(Some(self.inner.real(
                operation,
                context.trace_id,
                context.span_id,
                BTreeMap::new(),
                context.baggage.clone(),
                None,
            )));
        }
        // Tagged `sb=1` like the span that asked for it (Go's remote spans
        // show the tag; local children, which inherit the baggage, do not).
        let tags = BTreeMap::from([(SNOWBALL_KEY.to_owned(), "1".to_owned())]);
        Span(Some(self.inner.real(
            operation,
            context.trace_id,
            context.span_id,
            tags,
            context.baggage.clone(),
            Some(RecordingType::Snowball),
        )))
    }

    /// Writes `context` into `carrier` (see [`carrier`]); a noop context writes nothing.
    pub fn inject(&self, context: &SpanContext, carrier: &mut impl Injector) -> Result<(), SpanError> {
        carrier::inject(&self.inner.prefix, context, carrier)?;
        if self.inner.shadow.is_some() {
            carrier::inject_zipkin(&self.inner.prefix, context, carrier)?;
        }
        Ok(())
    }

    /// Reads a context from `carrier`; a carrier without the tracer's IDs gives
    /// the noop context (see [`carrier`] for the rules).
    pub fn extract(&self, carrier: &impl Extractor) -> Result<SpanContext, SpanError> {
        carrier::extract(&self.inner.prefix, carrier)
    }
}

fn begin_recording(data: &mut SpanData, kind: RecordingType) {
    data.recording = Some(Recording {
        kind,
        children: Vec::new(),
        remote: Vec::new(),
    });
    // Go's `setBaggageItemLocked`: setting `sb=1` also tags the span, but is a
    // no-op when the baggage (inherited from a local parent) already has it.
    if kind == RecordingType::Snowball && data.baggage.get(SNOWBALL_KEY).is_none_or(|value| value != "1") {
        data.baggage.insert(SNOWBALL_KEY.into(), "1".into());
        data.tags.insert(SNOWBALL_KEY.into(), "1".into());
    }
}

/// A span: a noop (`Span(None)`) or a real one. Cloning shares the span.
#[derive(Clone, Default)]
pub struct Span(Option<Arc<SpanInner>>);

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Span(noop)"),
            Some(inner) => f
                .debug_struct("Span")
                .field("operation", &inner.operation)
                .field("trace_id", &format_args!("{:x}", inner.trace_id))
                .field("span_id", &format_args!("{:x}", inner.span_id))
                .finish_non_exhaustive(),
        }
    }
}

impl Span {
    /// A noop span.
    pub fn noop() -> Span {
        Span(None)
    }

    /// Whether this is a noop span.
    pub fn is_noop(&self) -> bool {
        self.0.is_none()
    }

    /// Whether the span is recording now.
    pub fn is_recording(&self) -> bool {
        self.0.as_ref().is_some_and(|inner| inner.data().recording.is_some())
    }

    /// The trace ID (0 for a noop).
    pub fn trace_id(&self) -> u64 {
        self.0.as_ref().map_or(0, |inner| inner.trace_id)
    }

    /// The span ID (0 for a noop).
    pub fn span_id(&self) -> u64 {
        self.0.as_ref().map_or(0, |inner| inner.span_id)
    }

    /// The operation name ("" for a noop).
    pub fn operation(&self) -> &str {
        self.0.as_ref().map_or("", |inner| inner.operation.as_str())
    }

    /// What to inject to continue this span elsewhere.
    pub fn context(&self) -> SpanContext {
        let Some(inner) = &self.0 else {
            return SpanContext::noop();
        };
        let data = inner.data();
        SpanContext {
            trace_id: inner.trace_id,
            span_id: inner.span_id,
            baggage: data.baggage.clone(),
            recording: data.recording.as_ref().map(|recording| recording.kind),
        }
    }

    /// Sets a tag (kept on every real span, recording or not). The value is
    /// formatted before the span's lock is taken, so a value whose `Display`
    /// reads this span cannot deadlock.
    pub fn set_tag(&self, key: &str, value: impl std::fmt::Display) {
        if let Some(inner) = &self.0 {
            let value = value.to_string();
            inner.data().tags.insert(key.to_owned(), value);
        }
    }

    /// Sets a baggage item; children started afterwards inherit it.
    pub fn set_baggage_item(&self, key: &str, value: &str) {
        if let Some(inner) = &self.0 {
            inner.data().baggage.insert(key.to_owned(), value.to_owned());
        }
    }

    /// A baggage item.
    pub fn baggage_item(&self, key: &str) -> Option<String> {
        self.0.as_ref().and_then(|inner| inner.data().baggage.get(key).cloned())
    }

    /// Logs one key/value pair (kept only while recording).
    pub fn log(&self, key: &str, value: impl std::fmt::Display) {
        if self.0.is_some() {
            self.log_fields(&[(key, &value)]);
        }
    }

    /// Logs a structured entry (kept only while recording, at most
    /// [`MAX_LOGS_PER_SPAN`] per span).
    pub fn log_fields(&self, fields: &[(&str, &dyn std::fmt::Display)]) {
        let Some(inner) = &self.0 else { return };
        let shadow = inner.tracer.shadow.is_some();
        if !shadow && !self.is_recording() {
            return;
        }
        // Formatted before the lock is taken (see `set_tag`).
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.to_string()))
            .collect();
        let time = SystemTime::now();
        let mut data = inner.data();
        if shadow && data.shadow_logs.len() < MAX_LOGS_PER_SPAN {
            data.shadow_logs.push(LogRecord {
                time,
                fields: fields.clone(),
            });
        }
        if data.recording.is_none() {
            return;
        }
        if data.logs.len() >= MAX_LOGS_PER_SPAN {
            data.dropped_logs += 1;
            return;
        }
        data.logs.push(LogRecord { time, fields });
    }

    /// Finishes the span (finishing again keeps the last duration, as in Go).
    /// A recording span is also shipped to the tracer's sink, if it has one,
    /// once: a second finish does not ship it again.
    #[inline]
    pub fn finish(&self) {
        if let Some(inner) = &self.0 {
            inner.finish();
        }
    }
}

impl SpanInner {
    /// [`Span::finish`] of a real span.
    #[inline(never)]
    fn finish(&self) {
        let inner = self;
        let mut data = inner.data();
        data.finished = Some(inner.started.elapsed());
        let shadow_span = match &inner.tracer.shadow {
            Some(shadow) if !data.shadowed => {
                data.shadowed = true;
                let logs = std::mem::take(&mut data.shadow_logs);
                Some((shadow, inner.snapshot(&data, logs)))
            }
            _ => None,
        };
        let sink_span = match &inner.tracer.sink {
            Some(sink) if data.recording.is_some() && !data.exported => {
                data.exported = true;
                Some((sink, inner.snapshot(&data, data.logs.clone())))
            }
            _ => None,
        };
        drop(data);
        if let Some((shadow, span)) = shadow_span {
            shadow.report(span);
        }
        if let Some((sink, span)) = sink_span {
            sink.export(span);
        }
    }
}

/// Starts recording `span` (no effect on a noop). Snowball adds `sb=1` to
/// its baggage and tags.
pub fn start_recording(span: &Span, kind: RecordingType) {
    if let Some(inner) = &span.0 {
        begin_recording(&mut inner.data(), kind);
    }
}

/// Stops recording `span`: its later logs are dropped and its recording is
/// empty; children that were recording keep recording. A snowball recording
/// also takes back the `sb` baggage item it set (CockroachDB's
/// `disableRecording`), so contexts injected afterwards no longer make remote
/// nodes record.
pub fn stop_recording(span: &Span) {
    if let Some(inner) = &span.0 {
        let mut data = inner.data();
        if data
            .recording
            .take()
            .is_some_and(|recording| recording.kind == RecordingType::Snowball)
        {
            data.baggage.remove(SNOWBALL_KEY);
        }
    }
}

/// Every span of `span`'s recording, in start order (empty if it is not recording).
pub fn recording(span: &Span) -> Vec<RecordedSpan> {
    let Some(inner) = &span.0 else { return Vec::new() };
    let mut spans = Vec::new();
    inner.collect(&mut spans);
    spans.sort_by_key(|recorded| recorded.start);
    spans
}

/// Attaches spans recorded in another process to `span`'s recording.
pub fn import_remote_spans(span: &Span, spans: Vec<RecordedSpan>) -> Result<(), SpanError> {
    let Some(inner) = &span.0 else {
        return Err(SpanError::NotRecording);
    };
    let mut data = inner.data();
    let recording = data.recording.as_mut().ok_or(SpanError::NotRecording)?;
    recording.remote.extend(spans);
    Ok(())
}

#[cfg(test)]
mod tests;
