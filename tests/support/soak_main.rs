//! `tracekeep-soak`: load and soak against one server (scripts/soak.sh).
//! Exits 1 on any request error.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracekeep_e2e::soak::{SoakOptions, soak};

/// 8 uploaders, query and scan readers and a deleter against one server; RSS sampled.
#[derive(Debug, Parser)]
#[command(name = "tracekeep-soak")]
struct Args {
    /// How long to run, in seconds (at most 3600).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Concurrent uploaders.
    #[arg(long, default_value_t = 8)]
    uploaders: usize,
    /// Seconds between RSS samples.
    #[arg(long, default_value_t = 5)]
    sample_every: u64,
    /// Run the server with --sync.
    #[arg(long)]
    sync: bool,
    /// Run the server with this disk bound in bytes, sample its data
    /// directory every 250 ms, and fail when it ever exceeds the bound by
    /// more than 10%.
    #[arg(long, default_value_t = 0)]
    max_disk_bytes: u64,
    /// Bytes of incompressible noise added to each event's SQL (0: none).
    #[arg(long, default_value_t = 0)]
    sql_padding: usize,
    /// Write the data directory's size samples here as CSV (seconds,bytes).
    #[arg(long, value_name = "FILE")]
    disk_csv: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let scratch = match tempfile::tempdir() {
        Ok(scratch) => scratch,
        Err(error) => {
            eprintln!("tracekeep-soak: create a scratch directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = SoakOptions {
        duration: Duration::from_secs(args.seconds),
        uploaders: args.uploaders,
        sample_every: Duration::from_secs(args.sample_every.max(1)),
        args: if args.sync { vec!["--sync".into()] } else { Vec::new() },
        max_disk_bytes: args.max_disk_bytes,
        sql_padding: args.sql_padding,
        deleter: true,
        batches_per_second: 0,
    };
    println!(
        "soak: {} s, {} uploaders, 2 readers, 1 deleter, sync={}, max-disk-bytes={}",
        args.seconds, args.uploaders, args.sync, args.max_disk_bytes
    );
    let report = soak(&scratch.path().join("data"), &options).await;
    println!("{report}");
    if let Some(path) = &args.disk_csv
        && let Err(error) = std::fs::write(path, report.disk_csv())
    {
        eprintln!("tracekeep-soak: write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    if report.errors == 0 && report.within_disk_bound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
