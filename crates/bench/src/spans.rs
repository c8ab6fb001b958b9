//! The span tracer's cost: a noop span and a recorded one.

use std::hint::black_box;
use std::time::Instant;

use tracekeep_client::span::{RecordingType, Tracer, ZipkinShadow, ZipkinShadowConfig, start_recording};

/// Prints ns per span for start + tag + log + finish.
pub fn run() {
    let tracer = Tracer::new();
    let noop_rounds = 2_000_000u32;
    let started = Instant::now();
    for n in 0..noop_rounds {
        let span = tracer.start_span(black_box("op"));
        span.set_tag("k", black_box(n));
        span.log("x", black_box(n));
        span.finish();
        black_box(&span);
    }
    let noop = started.elapsed().as_nanos() as f64 / f64::from(noop_rounds);

    let recorded_rounds = 200_000u32;
    let started = Instant::now();
    for n in 0..recorded_rounds {
        let span = tracer.start_recordable_span(black_box("op"));
        start_recording(&span, RecordingType::SingleNode);
        span.set_tag("k", black_box(n));
        span.log("x", black_box(n));
        span.finish();
        black_box(&span);
    }
    let recorded = started.elapsed().as_nanos() as f64 / f64::from(recorded_rounds);

    // The Zipkin shadow's cost on the traced thread: the span becomes real and
    // is queued for the reporter thread. The collector is a closed port, so the
    // reporter sends nothing and the queue, sized for every span, never drops:
    // this is the enqueue alone.
    let shadow_rounds = 200_000u32;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or_else(|_| "127.0.0.1:9".to_owned(), |addr| addr.to_string());
    let shadowed = match ZipkinShadow::start(ZipkinShadowConfig {
        queue_capacity: shadow_rounds as usize + 1,
        batch_size: usize::MAX,
        ..ZipkinShadowConfig::new(closed)
    }) {
        Ok(shadow) => {
            let tracer = Tracer::new().with_zipkin_shadow(shadow.clone());
            let started = Instant::now();
            for n in 0..shadow_rounds {
                let span = tracer.start_span(black_box("op"));
                span.set_tag("k", black_box(n));
                span.log("x", black_box(n));
                span.finish();
                black_box(&span);
            }
            let cost = started.elapsed().as_nanos() as f64 / f64::from(shadow_rounds);
            assert_eq!(shadow.stats().dropped, 0, "the queue was sized to drop nothing");
            format!("{cost:.0}")
        }
        Err(error) => format!("(shadow did not start: {error})"),
    };
    println!("## Span tracer (start + tag + log + finish, one thread)\n");
    println!("| span | ns per span |");
    println!("|---|---|");
    println!("| noop | {noop:.1} |");
    println!("| recorded (single node) | {recorded:.0} |");
    println!("| with the Zipkin shadow (not recording; enqueue only) | {shadowed} |\n");
}
