//! The span tracer's cost on the traced thread: a noop span, a recorded one,
//! and a span with the Zipkin shadow (the enqueue alone).

use std::hint::black_box;
use std::time::Instant;

use tracekeep_client::span::{RecordingType, Tracer, ZipkinShadow, ZipkinShadowConfig, start_recording};

/// Passes per case; the best is reported. The machine is shared and its
/// speed drifts by 2x between seconds; the fastest pass is the code's cost,
/// the slower ones are the neighbours'.
const PASSES: u32 = 5;

/// ns per span of `rounds` x `one_span`, best of [`PASSES`].
fn best_of(rounds: u32, mut one_span: impl FnMut(u32)) -> f64 {
    (0..PASSES)
        .map(|_| {
            let started = Instant::now();
            for n in 0..rounds {
                one_span(n);
            }
            started.elapsed().as_nanos() as f64 / f64::from(rounds)
        })
        .fold(f64::INFINITY, f64::min)
}

/// A collector on a free loopback port that reads each request and answers
/// `202 Accepted`; its address.
fn sink_collector() -> String {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
        return "127.0.0.1:9".to_owned();
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| "127.0.0.1:9".to_owned(), |addr| addr.to_string());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .into_inner()
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    address
}

/// Prints ns per span for start + tag + log + finish.
pub fn run() {
    let tracer = Tracer::new();
    let noop = best_of(2_000_000, |n| {
        let span = tracer.start_span(black_box("op"));
        span.set_tag("k", black_box(n));
        span.log("x", black_box(n));
        span.finish();
        black_box(&span);
    });

    let recorded = best_of(200_000, |n| {
        let span = tracer.start_recordable_span(black_box("op"));
        start_recording(&span, RecordingType::SingleNode);
        span.set_tag("k", black_box(n));
        span.log("x", black_box(n));
        span.finish();
        black_box(&span);
    });

    // The Zipkin shadow's cost on the traced thread: the span is real and is
    // queued for the reporter thread, which batches it to a collector here
    // that answers 202 at once (so the queue stays short, as in steady state).
    let shadow_rounds = 200_000u32;
    let collector = sink_collector();
    let shadowed = match ZipkinShadow::start(ZipkinShadowConfig {
        queue_capacity: 1_000_000,
        ..ZipkinShadowConfig::new(collector)
    }) {
        Ok(shadow) => {
            let tracer = Tracer::new().with_zipkin_shadow(shadow.clone());
            let cost = best_of(shadow_rounds, |n| {
                let span = tracer.start_span(black_box("op"));
                span.set_tag("k", black_box(n));
                span.log("x", black_box(n));
                span.finish();
                black_box(&span);
            });
            let dropped = shadow.stats().dropped;
            if dropped == 0 {
                format!("{cost:.0}")
            } else {
                format!("{cost:.0} ({dropped} dropped: the reporter fell behind)")
            }
        }
        Err(error) => format!("(shadow did not start: {error})"),
    };
    println!("## Span tracer (start + tag + log + finish, one thread, best of {PASSES} passes)\n");
    println!("| span | ns per span |");
    println!("|---|---|");
    println!("| noop | {noop:.1} |");
    println!("| recorded (single node) | {recorded:.0} |");
    println!("| with the Zipkin shadow (not recording; enqueue only) | {shadowed} |\n");
}
