//! `tracekeep-crash-test`: the crash loop for people (scripts/crash-test.sh).
//! Exits 1 if any acknowledged event was lost or any check failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracekeep_e2e::cluster_crash::cluster_crash_loop;
use tracekeep_e2e::crash::{CrashOptions, crash_loop};

/// Kill -9 the server in a loop under concurrent load; check nothing acknowledged is lost.
#[derive(Debug, Parser)]
#[command(name = "tracekeep-crash-test")]
struct Args {
    /// Kill/restart cycles to run.
    #[arg(long, default_value_t = 20)]
    cycles: u32,
    /// Concurrent uploading clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Traces each client writes to.
    #[arg(long, default_value_t = 6)]
    traces: usize,
    /// Run the server with --sync (fsync every commit).
    #[arg(long)]
    sync: bool,
    /// Seed for the random schedule (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Data directory (default: a fresh temporary one).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Nodes on one bucket (more than 1 needs a bucket: scripts/crash-test.sh --cluster).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64)
    });
    let scratch = match tempfile::tempdir() {
        Ok(scratch) => scratch,
        Err(error) => {
            eprintln!("tracekeep-crash-test: create a scratch directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = args.data_dir.unwrap_or_else(|| scratch.path().join("data"));
    println!(
        "crash test: {} cycles, {} clients, {} traces each, sync={}, nodes={}, seed={seed}",
        args.cycles, args.clients, args.traces, args.sync, args.nodes
    );
    let options = CrashOptions {
        data_dir,
        cycles: args.cycles,
        clients: args.clients,
        traces_per_client: args.traces,
        sync: args.sync,
        seed,
    };
    let report = if args.nodes > 1 {
        cluster_crash_loop(&options, args.nodes).await
    } else {
        crash_loop(&options).await
    };
    for problem in &report.problems {
        println!("PROBLEM {problem}");
    }
    println!("{report}");
    if report.events_lost == 0 && report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
