//! Tests of `config.rs`.

use super::*;

#[test]
fn the_example_config_parses_and_equals_the_defaults() {
    let example = include_str!("../../../tracekeep.example.toml");
    assert_eq!(Config::from_toml(example).unwrap(), Config::default());
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let error = Config::from_toml("tracer-addr = \":1\"\nno-such-key = 3\n").unwrap_err();
    assert!(format!("{error:#}").contains("no-such-key"), "{error:#}");
}

#[test]
fn dm_tracers_own_config_file_is_accepted() {
    let dm = "log-level = \"debug\"\nlog-file = \"dm-tracer.log\"\ntracer-addr = \":8263\"\nenable = true\nchecksum = true\n";
    let config = Config::from_toml(dm).unwrap();
    assert_eq!((config.log_level.as_str(), config.checksum), ("debug", true));
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracer.toml");
    std::fs::write(
        &path,
        "tracer-addr = \":1111\"\nlog-level = \"warn\"\ndata-dir = \"/from/file\"\n",
    )
    .unwrap();
    let args = Args::try_parse_from([
        "tracekeep-server",
        "--tracer-addr=:2222",
        "--log-file=x.log",
        &format!("--config={}", path.display()),
    ])
    .unwrap();
    let config = Config::load(&args).unwrap();
    assert_eq!(config.tracer_addr, ":2222");
    assert_eq!(config.log_level, "warn");
    assert_eq!(config.log_file, "x.log");
    assert_eq!(config.data_dir, PathBuf::from("/from/file"));
    let args = Args::try_parse_from(["tracekeep-server", "-L", "error", "--log-format", "json"]).unwrap();
    let config = Config::load(&args).unwrap();
    assert_eq!(
        (config.log_level.as_str(), config.log_format),
        ("error", LogFormat::Json)
    );
}

#[test]
fn a_flag_given_twice_takes_its_last_value() {
    // As Go's flag package does; scripts/run.sh passes defaults its caller may replace.
    let args = Args::try_parse_from([
        "tracekeep-server",
        "--tracer-addr",
        ":8263",
        "--data-dir",
        "./data",
        "--tracer-addr",
        "127.0.0.1:0",
    ])
    .unwrap();
    let config = Config::load(&args).unwrap();
    assert_eq!(config.tracer_addr, "127.0.0.1:0");
    assert_eq!(config.data_dir, std::path::PathBuf::from("./data"));
}

#[test]
fn retention_takes_a_number_and_a_unit_or_zero() {
    use std::time::Duration;
    assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    for bad in ["", "7", "d", "7w", "-1d", "1.5h", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
    assert_eq!(Config::default().retention(), Some(Duration::from_secs(7 * 86_400)));
    let off = Config::from_toml("retention = \"0\"\n").unwrap();
    assert_eq!(off.retention(), None);
    let error = Config::from_toml("retention = \"7w\"\n").unwrap_err();
    assert!(format!("{error:#}").contains("retention \"7w\""), "{error:#}");
}

#[test]
fn max_disk_bytes_is_off_by_default_and_at_least_16_mib_when_set() {
    assert_eq!(Config::default().max_disk_bytes, 0);
    let bounded = Config::from_toml("max-disk-bytes = 209715200\n").unwrap();
    assert_eq!(bounded.max_disk_bytes, 200 << 20);
    let error = Config::from_toml("max-disk-bytes = 1000000\n").unwrap_err();
    assert!(format!("{error:#}").contains("max-disk-bytes must be 0"), "{error:#}");
    let args = Args::try_parse_from(["tracekeep-server", "--max-disk-bytes", "16777216"]).unwrap();
    assert_eq!(Config::load(&args).unwrap().max_disk_bytes, 16 << 20);
    let args = Args::try_parse_from(["tracekeep-server", "--max-disk-bytes", "4096"]).unwrap();
    let error = Config::load(&args).unwrap_err();
    assert!(format!("{error:#}").contains("at least 16777216"), "{error:#}");
}

#[test]
fn ingest_nice_is_a_nice_value_from_0_to_19() {
    for good in [0, 19] {
        let config = Config::from_toml(&format!("ingest-nice = {good}\n")).unwrap();
        assert_eq!(config.ingest_nice, good);
    }
    for bad in [-1, 20] {
        let error = Config::from_toml(&format!("ingest-nice = {bad}\n")).unwrap_err();
        assert!(
            format!("{error:#}").contains("ingest-nice must be 0 to 19"),
            "{error:#}"
        );
    }
}
