//! The soak: 8 concurrent uploaders, query and scan readers and a deleter
//! against one server for a bounded time, sampling the server's RSS.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracekeep_proto::pb;

use crate::crash::Rng;
use crate::harness::{Server, encode, metric_sample, try_http};

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub duration: Duration,
    pub uploaders: usize,
    pub sample_every: Duration,
    pub args: Vec<String>,
    /// Run the server with `--max-disk-bytes` (0: no bound).
    pub max_disk_bytes: u64,
    /// Bytes of noise appended to each event's SQL (0: none), so a short
    /// run writes enough to pass a disk bound; LZ4 cannot shrink it.
    pub sql_padding: usize,
    /// Run the deleter (one delete every 50 ms).
    pub deleter: bool,
    /// Batches of 10 events each uploader sends per second (0: as fast as
    /// the server answers), so what a run writes does not depend on the
    /// machine's speed.
    pub batches_per_second: u32,
}

/// Counters shared by the workers.
#[derive(Debug, Default)]
struct Counts {
    batches: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    queries: AtomicU64,
    scans: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    pub seconds: f64,
    pub events: u64,
    pub batches: u64,
    pub megabytes: f64,
    pub queries: u64,
    pub scans: u64,
    pub deletes: u64,
    pub errors: u64,
    /// (seconds since start, RSS in KiB).
    pub rss_kib: Vec<(f64, u64)>,
    /// (seconds since start, bytes in the data directory), every 250 ms.
    pub disk_bytes: Vec<(f64, u64)>,
    /// The bound the server ran with (0: none).
    pub max_disk_bytes: u64,
    /// Disk bound passes that deleted (the server's
    /// `tracekeep_disk_bound_passes_total` at the end).
    pub disk_bound_passes: u64,
    /// The server's log lines about those passes.
    pub disk_bound_log: Vec<String>,
    pub first_error: Option<String>,
}

impl SoakReport {
    /// The largest data directory size sampled.
    pub fn peak_disk_bytes(&self) -> u64 {
        self.disk_bytes.iter().map(|(_, bytes)| *bytes).max().unwrap_or(0)
    }

    /// Whether every sample stayed within 10% over the bound (no bound: true).
    pub fn within_disk_bound(&self) -> bool {
        self.max_disk_bytes == 0 || self.peak_disk_bytes() <= self.max_disk_bytes + self.max_disk_bytes / 10
    }

    /// The disk samples as CSV (`seconds,bytes`), for plotting.
    pub fn disk_csv(&self) -> String {
        let mut csv = String::from("seconds,bytes\n");
        for (at, bytes) in &self.disk_bytes {
            csv.push_str(&format!("{at:.2},{bytes}\n"));
        }
        csv
    }

    /// The largest RSS in the last third of the run over the largest in the middle third.
    pub fn late_growth(&self) -> f64 {
        let n = self.rss_kib.len();
        if n < 3 {
            return 1.0;
        }
        let middle = self.rss_kib[n / 3..2 * n / 3]
            .iter()
            .map(|(_, kib)| *kib)
            .max()
            .unwrap_or(1);
        let late = self.rss_kib[2 * n / 3..].iter().map(|(_, kib)| *kib).max().unwrap_or(1);
        late as f64 / middle.max(1) as f64
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_second = |count: u64| count as f64 / self.seconds.max(0.001);
        writeln!(f, "duration        {:.1} s", self.seconds)?;
        writeln!(
            f,
            "ingest          {} events in {} batches: {:.0} events/s, {:.2} MB/s",
            self.events,
            self.batches,
            per_second(self.events),
            self.megabytes / self.seconds.max(0.001)
        )?;
        writeln!(
            f,
            "queries         {} ({:.0}/s)",
            self.queries,
            per_second(self.queries)
        )?;
        writeln!(f, "scans           {} ({:.0}/s)", self.scans, per_second(self.scans))?;
        writeln!(f, "deletes         {}", self.deletes)?;
        writeln!(f, "errors          {}", self.errors)?;
        if let Some(error) = &self.first_error {
            writeln!(f, "first error     {error}")?;
        }
        let samples: Vec<String> = self
            .rss_kib
            .iter()
            .map(|(at, kib)| format!("{at:.0}s:{}MB", kib / 1024))
            .collect();
        writeln!(f, "server RSS      {}", samples.join(" "))?;
        if self.max_disk_bytes > 0 {
            // One figure per tenth of the run: the largest sample in it.
            let tenth = (self.disk_bytes.len() / 10).max(1);
            let curve: Vec<String> = self
                .disk_bytes
                .chunks(tenth)
                .map(|chunk| {
                    let at = chunk.last().map_or(0.0, |(at, _)| *at);
                    let peak = chunk.iter().map(|(_, bytes)| *bytes).max().unwrap_or(0);
                    format!("{at:.0}s:{:.1}MB", peak as f64 / 1e6)
                })
                .collect();
            writeln!(f, "data directory  {}", curve.join(" "))?;
            writeln!(
                f,
                "disk bound      {:.1} MB; peak {:.1} MB ({:.1}% of the bound) in {} samples: {}; {} passes deleted",
                self.max_disk_bytes as f64 / 1e6,
                self.peak_disk_bytes() as f64 / 1e6,
                self.peak_disk_bytes() as f64 * 100.0 / self.max_disk_bytes as f64,
                self.disk_bytes.len(),
                if self.within_disk_bound() {
                    "within 10%"
                } else {
                    "OVER the bound by more than 10%"
                },
                self.disk_bound_passes
            )?;
            for line in &self.disk_bound_log {
                writeln!(f, "  {line}")?;
            }
        }
        write!(
            f,
            "RSS late growth {:.2}x (max of the last third over max of the middle third)",
            self.late_growth()
        )
    }
}

fn job_event(trace: &str, tso: i64, padding: usize) -> pb::SyncerJobEvent {
    let mut sql = format!(
        "INSERT INTO `db`.`orders` (`id`,`customer`,`amount`,`note`) VALUES ({tso},'c-{}',{}.50,'soak')",
        tso % 977,
        tso % 10_000
    );
    let mut noise = (tso as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..padding {
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        sql.push(char::from(b'a' + (noise % 26) as u8));
    }
    pb::SyncerJobEvent {
        base: Some(pb::BaseEvent {
            filename: "/dm/syncer/syncer.go".into(),
            line: 1130,
            tso,
            trace_id: trace.into(),
            group_id: "soak-group".into(),
            r#type: pb::TraceType::JobEvent as i32,
        }),
        op_type: 2,
        pos: Some(pb::MySqlPosition {
            name: "bin|000001.000004".into(),
            pos: (tso % 1_000_000) as u32,
        }),
        sql,
        queue_bucket: format!("q_{}", tso % 16),
        state: pb::SyncerJobState::Success as i32,
        ..Default::default()
    }
}

fn note_error(counts: &Counts, first: &std::sync::Mutex<Option<String>>, error: String) {
    counts.errors.fetch_add(1, Ordering::Relaxed);
    let mut first = first.lock().unwrap();
    if first.is_none() {
        *first = Some(error);
    }
}

/// Runs the soak against a fresh server on `data_dir`.
pub async fn soak(data_dir: &std::path::Path, options: &SoakOptions) -> SoakReport {
    let mut args: Vec<String> = options.args.clone();
    if options.max_disk_bytes > 0 {
        args.extend(["--max-disk-bytes".to_owned(), options.max_disk_bytes.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(data_dir, &args);
    let addr = server.addr;
    let counts = Arc::new(Counts::default());
    let first_error = Arc::new(std::sync::Mutex::new(None));
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut tasks = Vec::new();

    for uploader in 0..options.uploaders {
        let mut client = server.grpc().await;
        let (counts, first_error) = (counts.clone(), first_error.clone());
        let padding = options.sql_padding;
        let mut pace = (options.batches_per_second > 0).then(|| {
            let mut pace = tokio::time::interval(Duration::from_secs(1) / options.batches_per_second);
            // Behind (a slow machine): go on at the pace, never in a burst.
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            pace
        });
        tasks.push(tokio::spawn(async move {
            let mut n: i64 = 0;
            while Instant::now() < deadline {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let trace = format!("soak.u{uploader}.{}", n / 200);
                let events: Vec<_> = (0..10).map(|i| job_event(&trace, n + i + 1, padding)).collect();
                let bytes: usize = events.iter().map(prost::Message::encoded_len).sum();
                n += 10;
                match client
                    .upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events })
                    .await
                {
                    Ok(reply) if reply.get_ref().result => {
                        counts.batches.fetch_add(1, Ordering::Relaxed);
                        counts.events.fetch_add(10, Ordering::Relaxed);
                        counts.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                    }
                    Ok(reply) => note_error(&counts, &first_error, reply.into_inner().msg),
                    Err(status) => note_error(&counts, &first_error, status.to_string()),
                }
            }
        }));
    }
    // Readers and the deleter use blocking HTTP: run them on blocking threads.
    for reader in 0..2u64 {
        let (counts, first_error) = (counts.clone(), first_error.clone());
        let uploaders = options.uploaders as u64;
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut rng = Rng::new(0xC0FFEE + reader);
            while Instant::now() < deadline {
                let trace = format!("soak.u{}.{}", rng.below(uploaders), rng.below(3));
                let path = format!("/events/query?trace_id={}", encode(&trace));
                match try_http(addr, "GET", &path, &[], b"") {
                    Ok(response) if response.status == 200 || response.status == 404 => {
                        counts.queries.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => note_error(&counts, &first_error, format!("query: {}", response.status)),
                    Err(error) => note_error(&counts, &first_error, format!("query: {error}")),
                }
                let path = if rng.below(2) == 0 {
                    format!("/events/scan?offset={}&limit=5", rng.below(20))
                } else {
                    format!("/events/scan?after={}&limit=5", rng.below(100_000))
                };
                match try_http(addr, "GET", &path, &[], b"") {
                    Ok(response) if response.status == 200 || response.status == 404 => {
                        counts.scans.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => note_error(&counts, &first_error, format!("scan: {}", response.status)),
                    Err(error) => note_error(&counts, &first_error, format!("scan: {error}")),
                }
            }
        }));
    }
    if options.deleter {
        let (counts, first_error) = (counts.clone(), first_error.clone());
        let uploaders = options.uploaders as u64;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0xDE1E7E);
            // One delete every 50 ms, walking each uploader's traces from the oldest.
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let mut round = 0u64;
            while Instant::now() < deadline {
                tick.tick().await;
                round += 1;
                let trace = format!("soak.u{}.{}", rng.below(uploaders), round / 4);
                let path = format!("/events/delete?trace_id={}", encode(&trace));
                let reply = tokio::task::spawn_blocking(move || try_http(addr, "POST", &path, &[], b""))
                    .await
                    .unwrap();
                match reply {
                    Ok(response) if response.status == 200 => {
                        counts.deletes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => note_error(&counts, &first_error, format!("delete: {}", response.status)),
                    Err(error) => note_error(&counts, &first_error, format!("delete: {error}")),
                }
            }
        }));
    }
    let disk_sampler = {
        let data_dir = data_dir.to_path_buf();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            while Instant::now() < deadline {
                tick.tick().await;
                samples.push((started.elapsed().as_secs_f64(), directory_bytes(&data_dir)));
            }
            samples
        })
    };
    let mut rss = Vec::new();
    let mut sample = tokio::time::interval(options.sample_every);
    while Instant::now() < deadline {
        sample.tick().await;
        if let Some(kib) = server.rss_kib() {
            rss.push((started.elapsed().as_secs_f64(), kib));
        }
    }
    let disk_bytes = disk_sampler.await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    if let Some(kib) = server.rss_kib() {
        rss.push((started.elapsed().as_secs_f64(), kib));
    }
    let seconds = started.elapsed().as_secs_f64();
    let disk_bound_passes = try_http(addr, "GET", "/metrics", &[], b"").map_or(0.0, |response| {
        metric_sample(&response.body, "tracekeep_disk_bound_passes_total")
    }) as u64;
    let (_, log) = server.terminate();
    let disk_bound_log = log
        .into_iter()
        .filter(|line| line.contains("over max-disk-bytes"))
        .collect();
    SoakReport {
        seconds,
        events: counts.events.load(Ordering::Relaxed),
        batches: counts.batches.load(Ordering::Relaxed),
        megabytes: counts.bytes.load(Ordering::Relaxed) as f64 / 1e6,
        queries: counts.queries.load(Ordering::Relaxed),
        scans: counts.scans.load(Ordering::Relaxed),
        deletes: counts.deletes.load(Ordering::Relaxed),
        errors: counts.errors.load(Ordering::Relaxed),
        rss_kib: rss,
        disk_bytes,
        max_disk_bytes: options.max_disk_bytes,
        disk_bound_passes,
        disk_bound_log,
        first_error: first_error.lock().unwrap().clone(),
    }
}

/// Bytes of the files in `dir` (files vanish mid-listing during compaction:
/// those count as gone).
fn directory_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.metadata().ok())
                .filter(|metadata| metadata.is_file())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}
