//! Zipkin request bodies for tests: a TBinaryProtocol writer for v1 Thrift
//! spans, and gzip.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write as _;

/// A v1 Thrift endpoint.
pub struct ThriftEndpoint<'a> {
    pub ipv4: i32,
    pub port: i16,
    pub service_name: &'a str,
}

/// A v1 Thrift annotation or binary annotation, as the writer takes them.
pub enum ThriftAnnotation<'a> {
    Annotation {
        timestamp: i64,
        value: &'a str,
        host: Option<ThriftEndpoint<'a>>,
    },
    /// A string binary annotation (type 6).
    Tag {
        key: &'a str,
        value: &'a str,
        host: Option<ThriftEndpoint<'a>>,
    },
}

/// A v1 Thrift span.
pub struct ThriftSpan<'a> {
    pub trace_id: i64,
    pub trace_id_high: i64,
    pub name: &'a str,
    pub id: i64,
    pub parent_id: Option<i64>,
    pub annotations: Vec<ThriftAnnotation<'a>>,
    pub timestamp: Option<i64>,
    pub duration: Option<i64>,
}

/// Writes TBinaryProtocol values.
#[derive(Default)]
pub struct ThriftWriter(pub Vec<u8>);

impl ThriftWriter {
    fn field(&mut self, kind: u8, id: i16) {
        self.0.push(kind);
        self.0.extend(id.to_be_bytes());
    }

    fn string(&mut self, text: &[u8]) {
        self.0.extend(i32::try_from(text.len()).unwrap().to_be_bytes());
        self.0.extend(text);
    }

    fn i64_field(&mut self, id: i16, value: i64) {
        self.field(10, id);
        self.0.extend(value.to_be_bytes());
    }

    fn endpoint(&mut self, id: i16, endpoint: &ThriftEndpoint<'_>) {
        self.field(12, id);
        self.field(8, 1);
        self.0.extend(endpoint.ipv4.to_be_bytes());
        self.field(6, 2);
        self.0.extend(endpoint.port.to_be_bytes());
        self.field(11, 3);
        self.string(endpoint.service_name.as_bytes());
        self.0.push(0);
    }

    fn span(&mut self, span: &ThriftSpan<'_>) {
        self.i64_field(1, span.trace_id);
        self.field(11, 3);
        self.string(span.name.as_bytes());
        self.i64_field(4, span.id);
        if let Some(parent) = span.parent_id {
            self.i64_field(5, parent);
        }
        let (annotations, tags): (Vec<_>, Vec<_>) = span
            .annotations
            .iter()
            .partition(|annotation| matches!(annotation, ThriftAnnotation::Annotation { .. }));
        self.field(15, 6);
        self.0.push(12);
        self.0.extend(i32::try_from(annotations.len()).unwrap().to_be_bytes());
        for annotation in annotations {
            if let ThriftAnnotation::Annotation { timestamp, value, host } = annotation {
                self.i64_field(1, *timestamp);
                self.field(11, 2);
                self.string(value.as_bytes());
                if let Some(host) = host {
                    self.endpoint(3, host);
                }
                self.0.push(0);
            }
        }
        self.field(15, 8);
        self.0.push(12);
        self.0.extend(i32::try_from(tags.len()).unwrap().to_be_bytes());
        for tag in tags {
            if let ThriftAnnotation::Tag { key, value, host } = tag {
                self.field(11, 1);
                self.string(key.as_bytes());
                self.field(11, 2);
                self.string(value.as_bytes());
                self.field(8, 3);
                self.0.extend(6i32.to_be_bytes());
                if let Some(host) = host {
                    self.endpoint(4, host);
                }
                self.0.push(0);
            }
        }
        if let Some(timestamp) = span.timestamp {
            self.i64_field(10, timestamp);
        }
        if let Some(duration) = span.duration {
            self.i64_field(11, duration);
        }
        if span.trace_id_high != 0 {
            self.i64_field(12, span.trace_id_high);
        }
        self.0.push(0);
    }
}

/// A TBinaryProtocol `list<Span>`, as zipkin-go-opentracing posts it.
pub fn thrift_spans(spans: &[ThriftSpan<'_>]) -> Vec<u8> {
    let mut writer = ThriftWriter::default();
    writer.0.push(12);
    writer.0.extend(i32::try_from(spans.len()).unwrap().to_be_bytes());
    for span in spans {
        writer.span(span);
    }
    writer.0
}

/// `bytes`, gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
