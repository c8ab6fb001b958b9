//! `tracekeep-dump`: inspect and verify a tracekeep data directory, or the
//! bucket a server keeps its data in, offline.
//!
//! Every read goes through the store crate (opened read-only), so the dump
//! tool decodes nothing on its own and never changes the data. It works on a
//! stopped store and on one a running server has open. A bucket is named by
//! its URL, as the server's `bucket` setting names it.
//!
//! Exit codes: 0 fine; 1 `verify` found problems or a read failed; 2 bad
//! usage, or the directory is missing or not a tracekeep store.

mod otlp;
mod progress;
mod render;
mod time;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Map, Value, json};
use tracekeep_proto::json::{TraceSummaryJson, event_go_line, events_go_string, to_go_string, trace_page_value};
use tracekeep_store::{Cursor, ListOrder, Store, StoreError, StoredEvent, TraceFilter};

use crate::progress::{Progress, Total};
use crate::time::format_tso;

#[derive(Debug, Parser)]
#[command(
    name = "tracekeep-dump",
    version,
    about = "Inspect and verify a tracekeep data directory or bucket"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Traces, events per kind, bytes on disk, format version, TSO mark, event time range.
    Stats {
        /// The data directory, or the bucket URL the server's `bucket` names.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Trace IDs in first-seen order, with event counts and first and last TSO.
    List {
        /// The data directory, or the bucket URL the server's `bucket` names.
        dir: PathBuf,
        /// Only traces whose ID starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Most traces to print.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Continue after this cursor (printed at the end of the previous page).
        #[arg(long)]
        after: Option<Cursor>,
        /// Only DM traces (whose first event is a binlog or job event).
        #[arg(long)]
        dm: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One trace's events as a timeline, or with --json exactly as the HTTP API returns them.
    Show {
        /// The data directory, or the bucket URL the server's `bucket` names.
        dir: PathBuf,
        /// The trace ID.
        trace_id: String,
        /// Print the JSON of `/events/query`.
        #[arg(long)]
        json: bool,
    },
    /// Check every record's CRC, every index entry and the metadata; exit 1 on any problem.
    Verify {
        /// The data directory, or the bucket URL the server's `bucket` names.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Services that recorded spans (from the span index); with --service,
    /// that service's span names and the remote services it called.
    Services {
        /// The data directory, or the bucket URL the server's `bucket` names.
        dir: PathBuf,
        /// One service's span names and remote services.
        #[arg(long)]
        service: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every event as one JSON object per line (with trace_id and type), streamed;
    /// with --format otlp, every trace's spans as one OTLP JSON request per line.
    Export {
        /// The data directory, or the bucket URL the server's `bucket` names.
        dir: PathBuf,
        /// `events`: the events as `/events/query` shows them; `otlp`: spans as
        /// OTLP JSON `ExportTraceServiceRequest`s, OTLP-ingested ones exactly as sent.
        #[arg(long, value_enum, default_value_t = ExportFormat::Events)]
        format: ExportFormat,
    },
}

/// What `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// Every event as one JSON object per line.
    Events,
    /// Spans as OTLP JSON, one `ExportTraceServiceRequest` per trace and line.
    Otlp,
}

/// A failure, with the exit code it deserves.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = match error.downcast_ref::<StoreError>() {
            Some(StoreError::NotAStore { .. } | StoreError::NewerFormat { .. }) => 2,
            _ => 1,
        };
        Failure { code, error }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure {
            code: 1,
            error: anyhow::Error::new(error).context("write output"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, error }) => {
            // A closed pipe (`| head`) is not an error worth reporting.
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("tracekeep-dump: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn open_failure(error: StoreError) -> Failure {
    let code = match error {
        StoreError::NotAStore { .. } | StoreError::NewerFormat { .. } | StoreError::Io { .. } => 2,
        _ => 1,
    };
    Failure {
        code,
        error: anyhow::Error::new(error),
    }
}

fn open(dir: &Path) -> Result<Store, Failure> {
    open_store(dir).map_err(open_failure)
}

/// A data directory, or a bucket when `location` is a URL (`s3://...`,
/// `file:///...`: what the server's `bucket` names).
fn open_store(location: &Path) -> Result<Store, StoreError> {
    match location.to_str() {
        Some(url) if url.contains("://") => Store::open_bucket_read_only(url),
        _ => Store::open_read_only(location),
    }
}

fn run(command: Command) -> Result<u8, Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match command {
        Command::Stats { dir, json } => stats(&open(&dir)?, &dir, json, &mut out)?,
        Command::List {
            dir,
            prefix,
            limit,
            after,
            dm,
            json,
        } => {
            let filter = TraceFilter { prefix, dm_only: dm };
            list(&open(&dir)?, &filter, limit, after, json, &mut out)?
        }
        Command::Show { dir, trace_id, json } => show(&open(&dir)?, &trace_id, json, &mut out)?,
        Command::Verify { dir, json } => match open_store(&dir) {
            // Damage that stops the store from opening at all is verify's to report.
            Err(StoreError::Corrupted { key, reason }) => {
                let problem = tracekeep_store::Problem {
                    key,
                    description: reason,
                };
                report_problems(&[problem], None, json, &mut out)?;
                1
            }
            other => verify(&other.map_err(open_failure)?, json, &mut out)?,
        },
        Command::Services { dir, service, json } => services(&open(&dir)?, service.as_deref(), json, &mut out)?,
        Command::Export {
            dir,
            format: ExportFormat::Events,
        } => export(&open(&dir)?, &mut out)?,
        Command::Export {
            dir,
            format: ExportFormat::Otlp,
        } => export_otlp(&open(&dir)?, &mut out)?,
    };
    out.flush()?;
    Ok(code)
}

/// One database's figures, as `stats` prints them.
struct Figures {
    stats: tracekeep_store::Stats,
    range: Option<(i64, i64)>,
    arrivals: Option<(i64, i64)>,
}

impl Figures {
    fn of(store: &Store) -> anyhow::Result<Figures> {
        Ok(Figures {
            stats: store.stats().context("read stats")?,
            range: store.tso_range().context("read the event time range")?,
            arrivals: store.arrival_range().context("read when the traces arrived")?,
        })
    }

    /// The nodes' figures together: counts and bytes summed (a trace whose
    /// events arrived at several nodes counts once per node), ranges
    /// widened, marks the highest.
    fn sum(nodes: &[(String, Figures)]) -> Option<Figures> {
        let mut nodes = nodes.iter().map(|(_, figures)| figures);
        let first = nodes.next()?;
        let mut total = Figures {
            stats: first.stats.clone(),
            range: first.range,
            arrivals: first.arrivals,
        };
        for figures in nodes {
            let (into, from) = (&mut total.stats, &figures.stats);
            into.format_version = into.format_version.min(from.format_version);
            into.traces += from.traces;
            for ((_, count), (_, more)) in into.events_by_kind.iter_mut().zip(&from.events_by_kind) {
                *count += more;
            }
            into.bytes_on_disk += from.bytes_on_disk;
            into.tso_mark = into.tso_mark.max(from.tso_mark);
            into.next_seq = into.next_seq.max(from.next_seq);
            total.range = widen(total.range, figures.range);
            total.arrivals = widen(total.arrivals, figures.arrivals);
        }
        Some(total)
    }
}

fn widen(a: Option<(i64, i64)>, b: Option<(i64, i64)>) -> Option<(i64, i64)> {
    match (a, b) {
        (Some((a_low, a_high)), Some((b_low, b_high))) => Some((a_low.min(b_low), a_high.max(b_high))),
        (one, None) | (None, one) => one,
    }
}

/// `stats`: the store's figures; for a prefix of several nodes, their sum
/// and each node's line.
fn stats(store: &Store, dir: &Path, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let nodes = store.each_node(|_, node| Figures::of(node))?;
    let figures = match Figures::sum(&nodes) {
        Some(total) => total,
        None => Figures::of(store)?,
    };
    let Figures { stats, range, arrivals } = &figures;
    let (range, arrivals) = (*range, *arrivals);
    if json {
        let by_kind: Map<String, Value> = stats
            .events_by_kind
            .iter()
            .map(|(kind, count)| (kind.name().to_owned(), Value::from(*count)))
            .collect();
        let value = json!({
            "data_dir": dir.display().to_string(),
            "format_version": stats.format_version,
            "traces": stats.traces,
            "events": stats.events(),
            "events_by_kind": by_kind,
            "bytes_on_disk": stats.bytes_on_disk,
            "tso_mark": stats.tso_mark,
            "oldest_event_tso": range.map(|(oldest, _)| oldest),
            "newest_event_tso": range.map(|(_, newest)| newest),
            "next_seq": stats.next_seq,
            "oldest_trace_arrived_unix_nanos": arrivals.map(|(oldest, _)| oldest),
            "newest_trace_arrived_unix_nanos": arrivals.map(|(_, newest)| newest),
        });
        let mut value = value;
        if !nodes.is_empty()
            && let Value::Object(fields) = &mut value
        {
            let listed: Vec<Value> = nodes
                .iter()
                .map(|(node_id, node)| {
                    json!({
                        "node_id": node_id,
                        "traces": node.stats.traces,
                        "events": node.stats.events(),
                        "bytes_on_disk": node.stats.bytes_on_disk,
                        "next_seq": node.stats.next_seq,
                    })
                })
                .collect();
            fields.insert("nodes".into(), Value::Array(listed));
        }
        writeln!(out, "{}", to_go_string(&value))?;
        return Ok(0);
    }
    let by_kind: Vec<_> = stats
        .events_by_kind
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect();
    writeln!(out, "data directory  {}", dir.display())?;
    writeln!(out, "format version  {}", stats.format_version)?;
    writeln!(out, "traces          {}", stats.traces)?;
    writeln!(out, "events          {} ({})", stats.events(), by_kind.join(", "))?;
    writeln!(out, "bytes on disk   {}", stats.bytes_on_disk)?;
    writeln!(
        out,
        "TSO mark        {} ({})",
        stats.tso_mark,
        format_tso(stats.tso_mark)
    )?;
    match range {
        Some((oldest, newest)) => {
            writeln!(out, "oldest event    {} ({oldest})", format_tso(oldest))?;
            writeln!(out, "newest event    {} ({newest})", format_tso(newest))?;
        }
        None => writeln!(out, "oldest event    -\nnewest event    -")?,
    }
    // Retention's horizon: arrival times, to the minute.
    match arrivals {
        Some((oldest, newest)) => {
            writeln!(out, "oldest trace    arrived {}", format_tso(oldest))?;
            writeln!(out, "newest trace    arrived {}", format_tso(newest))?;
        }
        None => writeln!(out, "arrivals        unknown (empty, or stored before clock marks)")?,
    }
    writeln!(out, "next seq        {}", stats.next_seq)?;
    if !nodes.is_empty() {
        writeln!(
            out,
            "nodes           {} (traces and events summed over them: a trace stored at several counts at each)",
            nodes.len()
        )?;
        for (node_id, node) in &nodes {
            writeln!(
                out,
                "  {node_id:<20}  {} traces, {} events, {} bytes, next seq {}",
                node.stats.traces,
                node.stats.events(),
                node.stats.bytes_on_disk,
                node.stats.next_seq
            )?;
        }
    }
    Ok(0)
}

fn services(store: &Store, service: Option<&str>, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let Some(service) = service else {
        let services = store.span_services().context("list services")?;
        if json {
            writeln!(out, "{}", to_go_string(&json!({ "services": services })))?;
        } else {
            for service in services {
                writeln!(out, "{service}")?;
            }
        }
        return Ok(0);
    };
    let names = store.span_names(service).context("list span names")?;
    let remote = store.span_remote_services(service).context("list remote services")?;
    if json {
        let value = json!({ "service": service.to_lowercase(), "span_names": names, "remote_services": remote });
        writeln!(out, "{}", to_go_string(&value))?;
        return Ok(0);
    }
    writeln!(out, "span names of {}:", service.to_lowercase())?;
    for name in names {
        writeln!(out, "  {name}")?;
    }
    writeln!(out, "remote services:")?;
    for name in remote {
        writeln!(out, "  {name}")?;
    }
    Ok(0)
}

fn list(
    store: &Store,
    filter: &TraceFilter,
    limit: u64,
    after: Option<Cursor>,
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let (summaries, next) = store
        .list_traces_filtered(ListOrder::OldestFirst, after, limit, filter)
        .context("list traces")?;
    if json {
        let value = trace_page_value(
            summaries.iter().map(TraceSummaryJson::from),
            next.map(|next| next.to_string()),
        );
        writeln!(out, "{}", to_go_string(&value))?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:>10}  {:>8}  {:<30}  {:<30}  TRACE_ID",
        "CURSOR", "EVENTS", "FIRST", "LAST"
    )?;
    for summary in &summaries {
        writeln!(
            out,
            "{:>10}  {:>8}  {:<30}  {:<30}  {:?}",
            summary.cursor,
            summary.events,
            format_tso(summary.min_tso),
            format_tso(summary.max_tso),
            summary.trace_id
        )?;
    }
    match next {
        Some(next) => writeln!(out, "more: --after {next}")?,
        None => writeln!(out, "({} traces, end)", summaries.len())?,
    }
    Ok(0)
}

fn show(store: &Store, trace_id: &str, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let events = store
        .query(trace_id)
        .with_context(|| format!("read trace {trace_id:?}"))?;
    if json {
        writeln!(out, "{}", events_go_string(events.iter().map(|stored| &stored.event)))?;
        return Ok(0);
    }
    writeln!(out, "trace {trace_id:?}: {} events", events.len())?;
    for stored in &events {
        writeln!(out, "{}", render::timeline_entry(&stored.event))?;
    }
    Ok(0)
}

/// `verify`: every record of the store; for a prefix of several nodes,
/// every node's database, each problem's key naming its node.
fn verify(store: &Store, json: bool, out: &mut impl Write) -> Result<u8, Failure> {
    let mut problems = Vec::new();
    let reports = store.each_node(|node_id, node| verify_one(node, Some(node_id), &mut problems))?;
    let report = if reports.is_empty() {
        verify_one(store, None, &mut problems)?
    } else {
        let mut total = tracekeep_store::VerifyReport::default();
        for (_, report) in reports {
            total.records += report.records;
            total.events += report.events;
            total.traces += report.traces;
            total.problems += report.problems;
        }
        total
    };
    report_problems(&problems, Some(&report), json, &mut *out)?;
    Ok(if report.problems == 0 { 0 } else { 1 })
}

/// Verifies one database, adding its problems to `problems` (keys prefixed
/// with `node`'s ID when given).
fn verify_one(
    store: &Store,
    node: Option<&str>,
    problems: &mut Vec<tracekeep_store::Problem>,
) -> anyhow::Result<tracekeep_store::VerifyReport> {
    let total = Total::About(store.engine_figures().estimated_keys);
    let what = match node {
        Some(node_id) => format!("verify {node_id}"),
        None => "verify".to_owned(),
    };
    let mut progress = Progress::stderr(&what, "records", total);
    let report = store
        .verify(
            |problem| {
                let mut problem = problem.clone();
                if let Some(node_id) = node {
                    problem.key = format!("node {node_id}: {}", problem.key);
                }
                problems.push(problem);
            },
            |records| progress.set(records),
        )
        .context("verify")?;
    progress.finish();
    Ok(report)
}

/// Prints verify's findings; `report` is `None` when the store could not be opened.
fn report_problems(
    problems: &[tracekeep_store::Problem],
    report: Option<&tracekeep_store::VerifyReport>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let report = report.cloned().unwrap_or_default();
    let count = problems.len();
    if json {
        let listed: Vec<Value> = problems
            .iter()
            .map(|problem| json!({ "key": problem.key, "description": problem.description }))
            .collect();
        let value = json!({
            "records": report.records,
            "events": report.events,
            "traces": report.traces,
            "problems": listed,
        });
        writeln!(out, "{}", to_go_string(&value))?;
    } else {
        for problem in problems {
            writeln!(out, "PROBLEM {}: {}", problem.key, problem.description)?;
        }
        writeln!(
            out,
            "checked {} records ({} events, {} traces): {count} problems",
            report.records, report.events, report.traces
        )?;
    }
    Ok(())
}

/// Walks every stored event in export order (constant memory). An error from
/// `visit` (output that cannot be written, a span that does not decode) stops
/// the walk and is the result.
fn walk_events(store: &Store, mut visit: impl FnMut(&str, &StoredEvent) -> Result<(), Failure>) -> Result<(), Failure> {
    let events: u64 = store
        .stats()
        .context("read the store's counts")?
        .events_by_kind
        .iter()
        .map(|(_, count)| count)
        .sum();
    let mut progress = Progress::stderr("export", "events", Total::Exact(events));
    let mut done = 0u64;
    let mut failure = None;
    let result = store.export(|trace_id, stored| {
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress.set(done);
        }
        visit(trace_id, stored).map_err(|error| {
            failure = Some(error);
            StoreError::Closed
        })
    });
    progress.set(done);
    progress.finish();
    if let Some(failure) = failure {
        return Err(failure);
    }
    result.context("export")?;
    Ok(())
}

/// Events between two progress updates while exporting: often enough for a
/// smooth bar, rarely enough to cost nothing beside encoding each event.
const PROGRESS_EVERY: u64 = 1_024;

/// `export --format otlp`: one OTLP JSON request per trace with spans. A
/// span whose stored OTLP form is damaged is left out and reported on stderr
/// (exit code 1 at the end), and the export goes on past it.
fn export_otlp(store: &Store, out: &mut impl Write) -> Result<u8, Failure> {
    let mut batch = otlp::TraceBatch::default();
    let mut skipped = 0u64;
    walk_events(store, |trace_id, stored| {
        let added = batch.add(trace_id, &stored.event);
        if let Some(reason) = added.skipped {
            skipped += 1;
            eprintln!("export: left out a damaged span: {reason}");
        }
        if let Some(request) = added.finished {
            write_otlp(out, &request)?;
        }
        Ok(())
    })?;
    if let Some(request) = batch.finish() {
        write_otlp(out, &request)?;
    }
    if skipped > 0 {
        eprintln!("export: {skipped} damaged spans left out; `tracekeep-dump verify` lists every problem");
        return Ok(1);
    }
    Ok(0)
}

/// One request as a JSON line. Encoded first, then written, so a closed pipe
/// stays an I/O error (which `main` treats as a normal end), not a JSON one.
fn write_otlp(out: &mut impl Write, request: &ExportTraceServiceRequest) -> Result<(), Failure> {
    let line = serde_json::to_string(request).context("encode OTLP JSON")?;
    writeln!(out, "{line}")?;
    Ok(())
}

fn export(store: &Store, out: &mut impl Write) -> Result<u8, Failure> {
    walk_events(store, |trace_id, stored| {
        writeln!(out, "{}", event_go_line(&stored.event, Some(trace_id)))?;
        Ok(())
    })?;
    Ok(0)
}
