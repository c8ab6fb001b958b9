//! A short crash loop (the long one is scripts/crash-test.sh).

use tracekeep_e2e::crash::{CrashOptions, CrashReport, crash_loop};

/// The short loop's options, its data under `dir`.
fn short(dir: &tempfile::TempDir, sync: bool, seed: u64) -> CrashOptions {
    CrashOptions {
        data_dir: dir.path().join("data"),
        cycles: 4,
        clients: 3,
        traces_per_client: 4,
        sync,
        seed,
    }
}

/// Nothing acknowledged lost, nothing else wrong, every cycle run.
fn assert_clean(report: &CrashReport) {
    println!("{report}");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.events_lost, 0);
    assert!(
        report.events_acknowledged > 0,
        "the clients got nothing acknowledged: {report}"
    );
    assert_eq!(report.cycles, 4);
}

async fn short_loop(sync: bool, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    assert_clean(&crash_loop(&short(&dir, sync, seed)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loop_without_sync_loses_no_acknowledged_event() {
    short_loop(false, 0x5eed_0001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loop_with_sync_loses_no_acknowledged_event() {
    short_loop(true, 0x5eed_0002).await;
}

/// Three nodes on one bucket, a random one killed each cycle: on a bucket
/// only (`scripts/test.sh` runs this suite on SeaweedFS too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loop_over_a_cluster_loses_no_acknowledged_event_on_any_node() {
    if !tracekeep_e2e::harness::on_bucket() {
        eprintln!("bucket only: run under tests/bucket/run-on-seaweedfs.sh");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = short(&dir, false, 0x5eed_0003);
    assert_clean(&tracekeep_e2e::cluster_crash::cluster_crash_loop(&options, 3).await);
}
