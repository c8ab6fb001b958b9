//! The Zipkin shadow against a minimal HTTP listener.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use super::super::{RecordingType, Tracer, start_recording};
use super::*;

/// One request the listener received.
#[derive(Debug)]
struct Posted {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A collector on a free port answering `statuses` in turn (then 202s).
fn collector(statuses: Vec<u16>) -> (String, mpsc::Receiver<Posted>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (posted, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
            let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = statuses.next().unwrap_or(202);
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let _ = posted.send(Posted {
                path,
                content_type: headers.get("content-type").cloned().unwrap_or_default(),
                body,
            });
        }
    });
    (address, received)
}

fn quick(collector: &str, format: ZipkinFormat) -> ZipkinShadowConfig {
    ZipkinShadowConfig {
        format,
        flush_interval: Duration::from_millis(20),
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..ZipkinShadowConfig::new(collector)
    }
}

#[test]
fn every_finished_span_goes_to_zipkin_once_as_v2_json_retrying_a_failed_post() {
    let (address, posted) = collector(vec![503]);
    let shadow = ZipkinShadow::start(quick(&address, ZipkinFormat::V2Json)).unwrap();
    let tracer = Tracer::with_prefix("kwdb").with_zipkin_shadow(shadow.clone());

    // Not recording, yet real: the shadow wants every span.
    let root = tracer.start_span("txn");
    assert!(!root.is_noop() && !root.is_recording());
    root.set_tag("node", 1);
    root.log("event", "begin");
    let child = tracer.start_child_span("kv.get", &root, &[("range", "r7")], false);
    assert!(!child.is_noop());
    child.finish();
    child.finish();
    root.finish();
    assert!(shadow.flush(Duration::from_secs(10)));
    assert_eq!(shadow.stats().sent, 2, "{:?}", shadow.stats());

    // The 503 was retried: the same body arrived twice, then nothing else.
    let first = posted.recv_timeout(Duration::from_secs(5)).unwrap();
    let second = posted.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first.body, second.body);
    assert_eq!(
        (first.path.as_str(), first.content_type.as_str()),
        ("/api/v2/spans", "application/json")
    );
    let spans: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
    let spans = spans.as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let (child_json, root_json) = (&spans[0], &spans[1]);
    assert_eq!(root_json["traceId"], format!("{:016x}", root.trace_id()));
    assert_eq!(root_json["id"], format!("{:016x}", root.span_id()));
    assert_eq!(child_json["parentId"], root_json["id"]);
    assert_eq!(child_json["name"], "kv.get");
    assert_eq!(child_json["tags"]["range"], "r7");
    assert_eq!(root_json["tags"]["node"], "1");
    assert_eq!(root_json["localEndpoint"]["serviceName"], "kwbase");
    assert_eq!(root_json["annotations"][0]["value"], "event=begin");
    assert!(root_json["duration"].as_u64().unwrap() >= 1);
    assert!(posted.try_recv().is_err(), "each span went once");
}

#[test]
fn v1_thrift_goes_to_the_v1_endpoint_as_a_list_of_spans() {
    let (address, posted) = collector(Vec::new());
    let shadow = ZipkinShadow::start(quick(&address, ZipkinFormat::V1Thrift)).unwrap();
    let tracer = Tracer::new().with_zipkin_shadow(shadow.clone());
    tracer.start_span("op").finish();
    assert!(shadow.flush(Duration::from_secs(10)));
    let post = posted.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (post.path.as_str(), post.content_type.as_str()),
        ("/api/v1/spans", "application/x-thrift")
    );
    // list<struct> of one element.
    assert_eq!(&post.body[..5], &[12, 0, 0, 0, 1]);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    // Nothing listens there: the first batch is retried forever.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let shadow = ZipkinShadow::start(ZipkinShadowConfig {
        batch_size: 1,
        queue_capacity: 2,
        ..quick(&closed, ZipkinFormat::V2Json)
    })
    .unwrap();
    let tracer = Tracer::new().with_zipkin_shadow(shadow.clone());
    for _ in 0..10 {
        tracer.start_span("op").finish();
    }
    // At most two wait in the queue and two went to the stuck reporter.
    let stats = shadow.stats();
    assert_eq!(stats.queued + stats.dropped, 10);
    assert!(stats.dropped >= 6, "{stats:?}");
    assert!(!shadow.flush(Duration::from_millis(50)), "the collector never answers");
}

#[test]
fn injected_contexts_carry_b3_headers_for_zipkin_peers() {
    let (address, _posted) = collector(Vec::new());
    let shadow = ZipkinShadow::start(quick(&address, ZipkinFormat::V2Json)).unwrap();
    let tracer = Tracer::with_prefix("kwdb").with_zipkin_shadow(shadow);
    let span = tracer.start_span("rpc");
    start_recording(&span, RecordingType::SingleNode);
    let mut headers = HashMap::new();
    tracer.inject(&span.context(), &mut headers).unwrap();
    assert_eq!(headers["x-b3-traceid"], format!("{:016x}", span.trace_id()));
    assert_eq!(headers["x-b3-spanid"], format!("{:016x}", span.span_id()));
    assert_eq!(headers["x-b3-sampled"], "1");
    assert_eq!(headers["kwdb-tracer-shadowtype"], "zipkin");
    // Our own keys still lead: the other side extracts the same span.
    let context = tracer.extract(&headers).unwrap();
    assert_eq!(context.span_id, span.span_id());
}

#[test]
fn a_bad_collector_address_is_refused() {
    for bad in ["", "localhost", "https://zipkin:9411"] {
        assert!(matches!(
            ZipkinShadow::start(ZipkinShadowConfig::new(bad)),
            Err(ShadowError::BadCollector(_))
        ));
    }
}
