//! What an operator's tooling reads: probes and metrics.

use tracekeep_e2e::harness::*;

#[test]
fn ready_answers_200_while_writes_are_taken_and_health_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "READY");
    assert_eq!(server.get("/health").json()["status"], "UP");
}

#[test]
fn ready_answers_503_with_the_reason_while_the_disk_reserve_refuses_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    // A reserve no disk has: every upload is refused for space.
    std::fs::write(&config, "min-free-disk-bytes = 1152921504606846976\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let ready = server.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body = ready.json();
    assert_eq!(body["status"], "NOT_READY");
    assert!(
        body["reason"].as_str().unwrap().contains("min-free-disk-bytes"),
        "{body}"
    );
    // Alive all the same: a liveness probe must not restart it for a full disk.
    let health = server.get("/health");
    assert_eq!((health.status, health.json()["status"].clone()), (200, "UP".into()));
}
