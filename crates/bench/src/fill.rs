//! Filling a server with realistic DM traffic: 16 clients, batches of 100
//! events, traces of mixed sizes (a batch spans many small traces, a large
//! trace spans many batches), as DM workers produce them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::Mutex;
use tracekeep_client::dm::{DmTracer, DmTracerConfig};
use tracekeep_e2e::harness::Server;

use crate::{events, percentiles};

/// Senders during a fill.
pub const CLIENTS: u64 = 16;
/// Events per upload.
pub const BATCH: u64 = 100;
/// Trace IDs kept per size and client, for queries afterwards.
const SAMPLES_PER_CLIENT: u64 = 64;

/// Trace sizes and the share of all events each gets (weights).
pub type Mix = &'static [(u64, u64)];

/// What a fill measured.
pub struct Filled {
    /// Events written.
    pub events: u64,
    /// Wall time of the whole fill.
    pub seconds: f64,
    /// Per tenth of the fill: events/s and upload p99 µs.
    pub tenths: Vec<(f64, f64)>,
    /// Largest server RSS seen, in MB.
    pub peak_rss_mb: f64,
    /// Some trace IDs of each size, spread over the fill: (size, IDs).
    pub samples: Vec<(u64, Vec<String>)>,
}

impl Filled {
    /// Sampled trace IDs of `size` events.
    pub fn traces_of(&self, size: u64) -> &[String] {
        self.samples
            .iter()
            .find(|(found, _)| *found == size)
            .map_or(&[], |(_, ids)| ids.as_slice())
    }

    /// The slowest tenth's rate over the first tenth's.
    pub fn last_over_first(&self) -> f64 {
        match (self.tenths.first(), self.tenths.last()) {
            (Some(first), Some(last)) if first.0 > 0.0 => last.0 / first.0,
            _ => 0.0,
        }
    }
}

/// Rate and upload p99 per tenth of the events, from each upload's finish
/// time (since the start), size and latency, in finishing order.
fn tenths(uploads: &[(Duration, u64, Duration)], total: u64) -> Vec<(f64, f64)> {
    let mut result = Vec::new();
    let (mut written, mut tenth_start, mut tenth_events) = (0u64, Duration::ZERO, 0u64);
    let mut slice = Vec::new();
    for &(finished, count, took) in uploads {
        written += count;
        tenth_events += count;
        slice.push(took);
        let boundary = total * (result.len() as u64 + 1) / 10;
        if written >= boundary || written == total {
            let seconds = (finished - tenth_start).as_secs_f64().max(1e-9);
            let (_, p99) = percentiles(&mut slice);
            result.push((tenth_events as f64 / seconds, p99));
            (tenth_start, tenth_events) = (finished, 0);
            slice.clear();
        }
    }
    result
}

/// One client's stream: whole traces one after another, each new trace of the
/// size furthest below its share of the events so far, so the mix holds at any
/// length (a small fill included).
struct Stream {
    client: u64,
    mix: Mix,
    /// Events written so far in traces of each size.
    written: Vec<u64>,
    /// Traces started so far of each size (for naming and sampling).
    started: Vec<u64>,
    /// Sample every this many traces of each size.
    strides: Vec<u64>,
    /// The trace being written: its size's index and events left in it.
    current: Option<(usize, u64)>,
}

impl Stream {
    fn new(client: u64, mix: Mix, total: u64) -> Stream {
        let weights: u64 = mix.iter().map(|(_, weight)| weight).sum::<u64>().max(1);
        let strides = mix
            .iter()
            .map(|&(size, weight)| {
                let traces = total / CLIENTS * weight / weights / size;
                (traces / SAMPLES_PER_CLIENT).max(1)
            })
            .collect();
        Stream {
            client,
            mix,
            written: vec![0; mix.len()],
            started: vec![0; mix.len()],
            strides,
            current: None,
        }
    }

    /// The size index whose events are furthest below its weight's share.
    fn most_behind(&self) -> usize {
        (0..self.mix.len())
            .min_by(|&a, &b| {
                // written[a] / weight[a] < written[b] / weight[b], without division.
                let left = self.written[a] * self.mix[b].1;
                let right = self.written[b] * self.mix[a].1;
                left.cmp(&right)
            })
            .unwrap_or(0)
    }

    /// The next event's trace, and whether it starts a sampled trace.
    fn next(&mut self) -> (String, bool) {
        let (kind, left, first) = match self.current {
            Some((kind, left)) => (kind, left, false),
            None => {
                let kind = self.most_behind();
                self.started[kind] += 1;
                (kind, self.mix[kind].0, true)
            }
        };
        let size = self.mix[kind].0;
        let number = self.started[kind] - 1;
        let id = format!("f{size}.c{}.{number}", self.client);
        self.written[kind] += 1;
        self.current = (left > 1).then_some((kind, left - 1));
        (id, first && number.is_multiple_of(self.strides[kind]))
    }
}

/// Sends `total` events in traces of `mix` sizes to `server`.
pub async fn fill(server: &Server, total: u64, mix: Mix) -> anyhow::Result<Filled> {
    let done = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let samples = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let share = total / CLIENTS + u64::from(client < total % CLIENTS);
        let tracer =
            DmTracer::start(DmTracerConfig::new(format!("http://{}", server.addr), "fill")).context("client")?;
        let (done, latencies, samples) = (done.clone(), latencies.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = Stream::new(client, mix, total);
            let mut sent = 0u64;
            while sent < share {
                let count = (share - sent).min(BATCH);
                let mut batch = Vec::with_capacity(count as usize);
                for i in 0..count {
                    let (trace, sampled) = stream.next();
                    if sampled {
                        let size = trace[1..].split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0);
                        samples.lock().await.push((size, trace.clone()));
                    }
                    batch.push(events::job(&trace, (sent + i) as i64));
                }
                let begun = Instant::now();
                tracer.upload_jobs(batch).await.context("upload")?;
                let took = begun.elapsed();
                sent += count;
                done.fetch_add(count, Ordering::Relaxed);
                latencies.lock().await.push((started.elapsed(), count, took));
            }
            anyhow::Ok(())
        }));
    }
    let mut peak_rss_mb: f64 = 0.0;
    let mut sample = tokio::time::interval(Duration::from_millis(500));
    while tasks.iter().any(|task| !task.is_finished()) {
        sample.tick().await;
        peak_rss_mb = peak_rss_mb.max(server.rss_kib().map_or(0.0, |kib| kib as f64 / 1024.0));
    }
    for task in tasks {
        task.await.context("join a fill task")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut uploads = std::mem::take(&mut *latencies.lock().await);
    uploads.sort_by_key(|(finished, _, _)| *finished);
    let tenths = tenths(&uploads, total);
    let mut by_size: Vec<(u64, Vec<String>)> = mix.iter().map(|(size, _)| (*size, Vec::new())).collect();
    for (size, trace) in std::mem::take(&mut *samples.lock().await) {
        if let Some((_, ids)) = by_size.iter_mut().find(|(found, _)| *found == size) {
            ids.push(trace);
        }
    }
    Ok(Filled {
        events: total,
        seconds,
        tenths,
        peak_rss_mb,
        samples: by_size,
    })
}
