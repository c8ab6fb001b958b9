//! The span tracer's cost: a noop span and a recorded one.

use std::hint::black_box;
use std::time::Instant;

use tracekeep_client::span::{RecordingType, Tracer, start_recording};

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
    println!("## Span tracer (start + tag + log + finish, one thread)\n");
    println!("| span | ns per span |");
    println!("|---|---|");
    println!("| noop | {noop:.1} |");
    println!("| recorded (single node) | {recorded:.0} |\n");
}
