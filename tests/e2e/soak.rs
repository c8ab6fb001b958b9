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
