//! A few seconds of the soak (the long one is scripts/soak.sh).

use std::time::Duration;

use tracekeep_e2e::soak::{SoakOptions, soak};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_runs_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let options = SoakOptions {
        duration: Duration::from_secs(3),
        uploaders: 8,
        sample_every: Duration::from_secs(1),
        args: Vec::new(),
        max_disk_bytes: 0,
        sql_padding: 0,
        deleter: true,
    };
    let report = soak(&dir.path().join("data"), &options).await;
    println!("{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(
        report.events > 0 && report.queries > 0 && report.scans > 0 && report.deletes > 0,
        "{report}"
    );
    assert!(report.rss_kib.len() >= 2, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_stays_within_its_disk_bound() {
    if tracekeep_e2e::harness::rocksdb_only("the disk bound deletes traces only where the directory holds them") {
        return;
    }
    // About 1.1 to 1.6 MB/s of ingest (less while other tests share the
    // cores), the bound filled about 1.6 times over: a pass (a compaction of
    // everything, slow in a debug build, slower beside other tests) takes a
    // second or two, and ingest must not write much of the bound meanwhile.
    // (With 24 MiB, format 5's directory, which grows about 0.8 MB/s here,
    // reached the bound only near the end, and a run could see one pass.)
    // The 10-minute version against 200 MB is scripts/soak.sh --max-disk-bytes.
    let dir = tempfile::tempdir().unwrap();
    let bound = 20 << 20;
    let options = SoakOptions {
        duration: Duration::from_secs(30),
        uploaders: 2,
        sample_every: Duration::from_secs(1),
        args: Vec::new(),
        max_disk_bytes: bound,
        // About 500 bytes of noise per event.
        sql_padding: 500,
        // Only the bound deletes.
        deleter: false,
    };
    let report = soak(&dir.path().join("data"), &options).await;
    println!("{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(
        report.disk_bound_passes >= 2,
        "the run passed its bound less than twice: {report}"
    );
    assert!(
        report.megabytes * 1e6 > 1.2 * bound as f64,
        "ingest wrote less than 1.2 times the bound: {report}"
    );
    assert!(report.within_disk_bound(), "{report}");
}
