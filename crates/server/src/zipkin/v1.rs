//! Zipkin's v1 span model and its conversion to v2, following the rules of
//! Zipkin's own `V1SpanConverter`: core annotations (`cs`, `sr`, `ss`, `cr`,
//! `ms`, `mr`, `ws`, `wr`) give kind, timestamp and duration; the endpoint of
//! each annotation decides which v2 span it belongs to (a v1 span holding both
//! the client and the server side becomes two v2 spans, the server one
//! `shared`); string binary annotations become tags (`lc` gives the local
//! service); `ca`, `sa` and `ma` give remote endpoints.

use super::model::{Annotation, Endpoint, Kind, ZipkinSpan, span_time};

/// A v1 annotation: a timestamped value, usually with the host that logged it.
#[derive(Clone, Debug, PartialEq)]
pub struct V1Annotation {
    /// Epoch microseconds, as sent (Zipkin keeps any int64).
    pub timestamp: i64,
    /// The value (`cs`, `sr`, ... or free text).
    pub value: String,
    /// The host that logged it.
    pub endpoint: Option<Endpoint>,
}

/// What a v1 binary annotation carries.
#[derive(Clone, Debug, PartialEq)]
pub enum V1Value {
    /// A string: becomes a tag.
    Text(String),
    /// A `true` boolean on `ca`, `sa` or `ma`: the annotation's endpoint is an address.
    Address,
}

/// A v1 binary annotation.
#[derive(Clone, Debug, PartialEq)]
pub struct V1BinaryAnnotation {
    /// The key.
    pub key: String,
    /// The value.
    pub value: V1Value,
    /// The host that logged it.
    pub endpoint: Option<Endpoint>,
}

/// A v1 span, IDs already validated and normalised.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct V1Span {
    /// 16 or 32 lowercase hex digits.
    pub trace_id: String,
    /// The span's name.
    pub name: String,
    /// 16 lowercase hex digits.
    pub id: String,
    /// 16 lowercase hex digits, if not a root span.
    pub parent_id: Option<String>,
    /// Annotations, in the order sent.
    pub annotations: Vec<V1Annotation>,
    /// Binary annotations, in the order sent.
    pub binary_annotations: Vec<V1BinaryAnnotation>,
    /// Sampling override.
    pub debug: bool,
    /// Epoch microseconds, 0 when absent.
    pub timestamp: u64,
    /// Microseconds, 0 when absent.
    pub duration: u64,
}

/// The time from `begin` to `end` as a span's duration (0 when negative).
fn elapsed(begin: &V1Annotation, end: &V1Annotation) -> u64 {
    span_time(end.timestamp.saturating_sub(begin.timestamp))
}

fn same_service(left: &Endpoint, right: &Endpoint) -> bool {
    left.service_name.to_lowercase() == right.service_name.to_lowercase()
}

/// The core annotations found in a v1 span.
#[derive(Default)]
struct Core {
    cs: Option<V1Annotation>,
    sr: Option<V1Annotation>,
    ss: Option<V1Annotation>,
    cr: Option<V1Annotation>,
    ms: Option<V1Annotation>,
    mr: Option<V1Annotation>,
    ws: Option<V1Annotation>,
    wr: Option<V1Annotation>,
}

/// The v2 spans one v1 span becomes; the first always exists.
struct Converter<'a> {
    source: &'a V1Span,
    spans: Vec<ZipkinSpan>,
}

impl<'a> Converter<'a> {
    fn new_span(source: &V1Span, local: Option<Endpoint>) -> ZipkinSpan {
        ZipkinSpan {
            trace_id: source.trace_id.clone(),
            parent_id: source.parent_id.clone(),
            id: source.id.clone(),
            name: source.name.clone(),
            debug: source.debug,
            local_endpoint: local,
            ..ZipkinSpan::default()
        }
    }

    /// The span an endpoint's data belongs to: the first one without an
    /// endpoint or with the same service, else a new one.
    fn for_endpoint(&mut self, endpoint: Option<&Endpoint>) -> usize {
        let Some(endpoint) = endpoint else { return 0 };
        for (index, span) in self.spans.iter_mut().enumerate() {
            match &span.local_endpoint {
                None => {
                    span.local_endpoint = Some(endpoint.clone());
                    return index;
                }
                Some(local) if same_service(local, endpoint) => return index,
                Some(_) => {}
            }
        }
        self.fork(endpoint)
    }

    fn fork(&mut self, endpoint: &Endpoint) -> usize {
        self.spans.push(Self::new_span(self.source, Some(endpoint.clone())));
        self.spans.len() - 1
    }

    fn annotate(&mut self, index: usize, annotation: &V1Annotation) {
        self.spans[index].annotations.push(Annotation {
            timestamp: annotation.timestamp,
            value: annotation.value.clone(),
        });
    }

    fn timestamp_duration(&mut self, begin: &V1Annotation, end: Option<&V1Annotation>) {
        let index = self.for_endpoint(begin.endpoint.as_ref());
        let span = &mut self.spans[index];
        if self.source.timestamp != 0 && self.source.duration != 0 {
            span.timestamp = self.source.timestamp;
            span.duration = self.source.duration;
        } else {
            span.timestamp = span_time(begin.timestamp);
            if let Some(end) = end {
                span.duration = elapsed(begin, end);
            }
        }
    }

    fn end_reflects_duration(&self, end: Option<&V1Annotation>) -> bool {
        end.is_some_and(|end| {
            self.source.timestamp != 0
                && self.source.duration != 0
                && i64::try_from(self.source.timestamp.saturating_add(self.source.duration)) == Ok(end.timestamp)
        })
    }

    fn annotations(&mut self) -> Core {
        let source = self.source;
        let mut core = Core::default();
        for annotation in &source.annotations {
            let index = self.for_endpoint(annotation.endpoint.as_ref());
            // Core annotations need an endpoint; without one they are plain annotations.
            if annotation.endpoint.is_none() || annotation.value.len() != 2 {
                self.annotate(index, annotation);
                continue;
            }
            let span = &mut self.spans[index];
            match annotation.value.as_str() {
                "cs" => (span.kind, core.cs) = (Some(Kind::Client), Some(annotation.clone())),
                "sr" => (span.kind, core.sr) = (Some(Kind::Server), Some(annotation.clone())),
                "ss" => (span.kind, core.ss) = (Some(Kind::Server), Some(annotation.clone())),
                "cr" => (span.kind, core.cr) = (Some(Kind::Client), Some(annotation.clone())),
                "ms" => (span.kind, core.ms) = (Some(Kind::Producer), Some(annotation.clone())),
                "mr" => (span.kind, core.mr) = (Some(Kind::Consumer), Some(annotation.clone())),
                "ws" => core.ws = Some(annotation.clone()),
                "wr" => core.wr = Some(annotation.clone()),
                _ => self.annotate(index, annotation),
            }
        }
        core
    }

    fn rpc(&mut self, core: &mut Core) {
        let source = self.source;
        // Bridged from an event model, a span may miss its start annotation.
        if core.cs.is_none() && self.end_reflects_duration(core.cr.as_ref()) {
            core.cs = core.cr.as_ref().map(|cr| V1Annotation {
                timestamp: i64::try_from(source.timestamp).unwrap_or(i64::MAX),
                value: "cs".into(),
                endpoint: cr.endpoint.clone(),
            });
        }
        if core.sr.is_none() && self.end_reflects_duration(core.ss.as_ref()) {
            core.sr = core.ss.as_ref().map(|ss| V1Annotation {
                timestamp: i64::try_from(source.timestamp).unwrap_or(i64::MAX),
                value: "sr".into(),
                endpoint: ss.endpoint.clone(),
            });
        }
        match (&core.cs, &core.sr) {
            (Some(cs), Some(sr)) => {
                // A shared span: the client side owns the span's timestamp and duration.
                self.timestamp_duration(cs, core.cr.as_ref());
                let client = self.for_endpoint(cs.endpoint.as_ref());
                let server = match (&cs.endpoint, &sr.endpoint) {
                    // Loopback: the server side needs its own span.
                    (Some(left), Some(right)) if same_service(left, right) => {
                        self.spans[client].kind = Some(Kind::Client);
                        let server = self.fork(right);
                        self.spans[server].kind = Some(Kind::Server);
                        server
                    }
                    _ => self.for_endpoint(sr.endpoint.as_ref()),
                };
                let span = &mut self.spans[server];
                span.shared = true;
                span.timestamp = span_time(sr.timestamp);
                if let Some(ss) = &core.ss {
                    span.duration = elapsed(sr, ss);
                }
                if core.cr.is_none() && source.duration == 0 {
                    self.spans[client].duration = 0;
                }
            }
            (Some(cs), None) if core.cr.is_some() => self.timestamp_duration(cs, core.cr.as_ref()),
            (None, Some(sr)) if core.ss.is_some() => self.timestamp_duration(sr, core.ss.as_ref()),
            _ => self.incomplete_rpc(core),
        }
        // v1 had no shared flag: an absent timestamp on a server-only span meant shared.
        if core.cs.is_none()
            && let Some(sr) = &core.sr
            && (source.timestamp == 0 || (core.ss.is_some() && source.duration == 0))
        {
            let index = self.for_endpoint(sr.endpoint.as_ref());
            self.spans[index].shared = true;
        }
    }

    fn incomplete_rpc(&mut self, core: &Core) {
        for span in &mut self.spans {
            let (begin, end) = match span.kind {
                Some(Kind::Client) => (&core.cs, &core.cr),
                Some(Kind::Server) => (&core.sr, &core.ss),
                _ => continue,
            };
            if let Some(begin) = begin {
                span.timestamp = span_time(begin.timestamp);
            }
            if let Some(end) = end {
                span.annotations.push(Annotation {
                    timestamp: end.timestamp,
                    value: end.value.clone(),
                });
            }
        }
        if self.source.timestamp != 0 {
            self.spans[0].timestamp = self.source.timestamp;
            self.spans[0].duration = self.source.duration;
        }
    }

    fn messaging(&mut self, core: &Core) {
        match (&core.ms, &core.mr) {
            (Some(ms), Some(mr)) => {
                let producer = self.for_endpoint(ms.endpoint.as_ref());
                let consumer = match (&ms.endpoint, &mr.endpoint) {
                    (Some(left), Some(right)) if same_service(left, right) => {
                        self.spans[producer].kind = Some(Kind::Producer);
                        let consumer = self.fork(right);
                        self.spans[consumer].kind = Some(Kind::Consumer);
                        consumer
                    }
                    _ => self.for_endpoint(mr.endpoint.as_ref()),
                };
                let span = &mut self.spans[consumer];
                span.shared = true;
                match &core.wr {
                    Some(wr) => {
                        span.timestamp = span_time(wr.timestamp);
                        span.duration = elapsed(wr, mr);
                    }
                    None => span.timestamp = span_time(mr.timestamp),
                }
                let span = &mut self.spans[producer];
                span.timestamp = span_time(ms.timestamp);
                span.duration = core.ws.as_ref().map_or(0, |ws| elapsed(ms, ws));
            }
            (Some(ms), None) => self.timestamp_duration(ms, core.ws.as_ref()),
            (None, Some(mr)) => match &core.wr {
                Some(wr) => self.timestamp_duration(wr, Some(mr)),
                None => self.timestamp_duration(mr, None),
            },
            (None, None) => {
                for annotation in [&core.ws, &core.wr].into_iter().flatten() {
                    let index = self.for_endpoint(annotation.endpoint.as_ref());
                    self.annotate(index, annotation);
                }
            }
        }
    }

    fn binary_annotations(&mut self, core: &Core) {
        let (mut ca, mut sa, mut ma) = (None, None, None);
        for binary in &self.source.binary_annotations {
            let text = match &binary.value {
                V1Value::Address => {
                    match binary.key.as_str() {
                        "ca" => ca = binary.endpoint.clone(),
                        "sa" => sa = binary.endpoint.clone(),
                        "ma" => ma = binary.endpoint.clone(),
                        _ => {}
                    }
                    continue;
                }
                V1Value::Text(text) => text,
            };
            let index = self.for_endpoint(binary.endpoint.as_ref());
            // An empty "lc" only marks the local component; it is not a tag.
            if binary.key == "lc" && text.is_empty() {
                continue;
            }
            self.spans[index].tags.insert(binary.key.clone(), text.clone());
        }

        let no_core = core.cs.is_none() && core.cr.is_none() && core.ss.is_none() && core.sr.is_none();
        if no_core && (ca.is_some() || sa.is_some()) {
            match (ca, sa) {
                (Some(ca), Some(sa)) => {
                    let index = self.for_endpoint(Some(&ca));
                    self.spans[index].remote_endpoint = Some(sa);
                }
                // "sa" alone is a remote address, not a reason to call the span a client.
                (None, Some(sa)) => self.spans[0].remote_endpoint = Some(sa),
                (Some(ca), None) => {
                    self.spans[0].kind = Some(Kind::Server);
                    self.spans[0].remote_endpoint = Some(ca);
                }
                (None, None) => {}
            }
            return;
        }
        if let Some(mut ca) = ca
            && let Some(server) = core.sr.as_ref().or(core.ss.as_ref())
            && server.endpoint.as_ref() != Some(&ca)
        {
            // Finagle's "ca" on a server span carries the server's own service name:
            // dropping it avoids a loopback link.
            if server
                .endpoint
                .as_ref()
                .is_some_and(|endpoint| same_service(&ca, endpoint))
            {
                ca.service_name.clear();
            }
            let index = self.for_endpoint(server.endpoint.as_ref());
            self.spans[index].remote_endpoint = ca.non_empty();
        }
        if let Some(sa) = sa
            && let Some(client) = core.cs.as_ref().or(core.cr.as_ref())
        {
            let index = self.for_endpoint(client.endpoint.as_ref());
            self.spans[index].remote_endpoint = Some(sa);
        }
        if let Some(ma) = ma {
            for side in [&core.ms, &core.mr].into_iter().flatten() {
                let index = self.for_endpoint(side.endpoint.as_ref());
                self.spans[index].remote_endpoint = Some(ma.clone());
            }
        }
    }
}

/// The v2 spans a v1 span becomes (one, or two for a shared client+server span).
pub fn to_v2(source: &V1Span) -> Vec<ZipkinSpan> {
    let mut converter = Converter {
        source,
        spans: vec![Converter::new_span(source, None)],
    };
    let mut core = converter.annotations();
    converter.rpc(&mut core);
    converter.messaging(&core);
    converter.binary_annotations(&core);
    converter.spans
}
