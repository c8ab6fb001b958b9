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
    };
    println!(
        "soak: {} s, {} uploaders, 2 readers, 1 deleter, sync={}",
        args.seconds, args.uploaders, args.sync
    );
    let report = soak(&scratch.path().join("data"), &options).await;
    println!("{report}");
    if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
