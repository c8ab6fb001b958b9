//! Configuration: dm-tracer's TOML keys plus tracekeep's own, and the command line.
//!
//! Precedence: built-in defaults, then the `--config` file, then flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use serde::Deserialize;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The server's configuration, as read from TOML (kebab-case keys).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// `debug`, `info`, `warn`, `error` (dm-tracer's `fatal` means `error`), or a
    /// `tracing` filter such as `info,tracekeep_store=debug`.
    pub log_level: String,
    /// Log to this file (appending); empty means stderr.
    pub log_file: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Listen address for gRPC and HTTP: `host:port`, or Go's `:port` for every interface.
    pub tracer_addr: String,
    /// A second listener serving only Zipkin's API (ingest and queries), on
    /// Zipkin's port by default so Zipkin clients need no port change; empty
    /// disables it. The main port serves Zipkin's API either way.
    pub zipkin_addr: String,
    /// A listener serving only OTLP/gRPC trace export, on OpenTelemetry's
    /// gRPC port by default; empty disables it. The main port serves it too.
    pub otlp_grpc_addr: String,
    /// A listener serving only OTLP/HTTP (`POST /v1/traces`), on
    /// OpenTelemetry's HTTP port by default; empty disables it. The main port
    /// serves it too.
    pub otlp_http_addr: String,
    /// dm-tracer's key; accepted for compatibility, no effect on the server (DM
    /// workers read it to decide whether to trace).
    pub enable: bool,
    /// dm-tracer's key; accepted for compatibility, no effect on the server (DM
    /// workers read it to decide whether to checksum job arguments).
    pub checksum: bool,
    /// Where the store keeps its data.
    pub data_dir: PathBuf,
    /// fsync the WAL on every commit: acknowledged events then survive power
    /// loss, not only a crash of the process.
    pub sync: bool,
    /// RocksDB block cache in bytes.
    pub block_cache_size: usize,
    /// Refuse uploads while the data directory's filesystem has fewer free
    /// bytes than this (0: never); deletes and truncates still work.
    pub min_free_disk_bytes: u64,
    /// Bound on the data directory's size (0: none): past it, the oldest
    /// traces are deleted until it is under 90% of it. Never refuses ingest.
    /// With a bucket it bounds the disk cache instead and deletes nothing.
    pub max_disk_bytes: u64,
    /// Keep the data in this object-storage bucket (`s3://bucket/prefix`,
    /// `gs://`, `az://`, `file:///path`) instead of `data-dir`; empty: none.
    pub bucket: String,
    /// With a bucket: the least milliseconds between two writes of the log
    /// to the bucket. A write goes out as soon as the previous one is done
    /// and this long after it began; an acknowledgement waits for it.
    pub bucket_flush_interval_ms: u64,
    /// With a bucket: this node's name in the cluster on that bucket; empty:
    /// the host name. Its data goes under `nodes/<node-id>/` in the bucket.
    pub node_id: String,
    /// With a bucket: adopt a node of the cluster whose lease has not been
    /// renewed for this many seconds (its data then keeps expiring with
    /// this node's retention); 0: never.
    pub adopt_after_seconds: u64,
    /// Largest gRPC request accepted, in bytes; larger ones get `OUT_OF_RANGE`.
    pub max_request_size: usize,
    /// Most traces one `/events/scan` page may ask for.
    pub max_scan_limit: u64,
    /// Uploads processed at once; more wait, their bodies unread, so memory
    /// stays bounded however many clients send.
    pub max_concurrent_uploads: usize,
    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish.
    pub shutdown_timeout_secs: u64,
    /// How long a new connection may take to show which protocol it speaks
    /// (one byte of an HTTP/1 request, or the whole 24-byte HTTP/2 preface)
    /// before it is closed.
    pub handshake_timeout_secs: u64,
    /// Tag keys whose values Zipkin's `/api/v2/autocompleteValues` lists
    /// (Zipkin's `AUTOCOMPLETE_KEYS`); empty lists none.
    pub autocomplete_keys: Vec<String>,
    /// Where `POST /api/tracekeep/checkpoint` writes its backups; empty means
    /// beside the data directory (`<data-dir>.backups`), on the same
    /// filesystem so a checkpoint is hard links, not copies.
    pub backup_dir: PathBuf,
    /// Bearer tokens, one per line (re-read on SIGHUP); empty turns access
    /// control off. When set, deletes, truncates and checkpoints need
    /// `Authorization: Bearer <token>`.
    pub auth_token_file: PathBuf,
    /// With `auth-token-file`: ingest (gRPC and HTTP) needs a token too. DM
    /// workers send none, so leave it off where they upload.
    pub auth_ingest: bool,
    /// Most client connections open at once, over every listener; beyond it
    /// new connections wait unaccepted until one closes.
    pub max_connections: usize,
    /// How long an HTTP/1 client may take to send a request's head (and an
    /// idle keep-alive connection may wait for its next request) before the
    /// connection is closed.
    pub header_read_timeout_secs: u64,
    /// How much lower than the rest of the server the threads serving
    /// HTTP/2 connections (gRPC uploads) and the store's writer run, as a
    /// nice value from 0 (the same) to 19 (only what is left over): with
    /// both cores busy, queries and the UI get the CPU first.
    pub ingest_nice: i32,
    /// How long a request's body may take to arrive once the server starts
    /// reading it (gRPC and HTTP alike); past it the request is answered 408
    /// (gRPC `DEADLINE_EXCEEDED`) and nothing of it is stored.
    pub body_read_timeout_secs: u64,
    /// A PEM certificate chain: with `tls-key-file`, every listener serves
    /// TLS only (ALPN `h2` and `http/1.1`); both empty: plain TCP.
    pub tls_cert_file: PathBuf,
    /// The PEM private key of `tls-cert-file`.
    pub tls_key_file: PathBuf,
    /// Traces whose newest event arrived longer ago than this are deleted
    /// (`72h`, `7d`, `30m`, `90s`; `0` keeps everything).
    pub retention: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: "info".into(),
            log_file: String::new(),
            log_format: LogFormat::Text,
            tracer_addr: ":8263".into(),
            zipkin_addr: ":9411".into(),
            otlp_grpc_addr: ":4317".into(),
            otlp_http_addr: ":4318".into(),
            enable: false,
            checksum: false,
            data_dir: PathBuf::from("./data"),
            sync: false,
            block_cache_size: 64 << 20,
            min_free_disk_bytes: 64 << 20,
            max_disk_bytes: 0,
            bucket: String::new(),
            bucket_flush_interval_ms: 20,
            node_id: String::new(),
            adopt_after_seconds: 600,
            max_request_size: 16 << 20,
            max_scan_limit: 10_000,
            max_concurrent_uploads: 32,
            shutdown_timeout_secs: 10,
            handshake_timeout_secs: 10,
            autocomplete_keys: Vec::new(),
            backup_dir: PathBuf::new(),
            auth_token_file: PathBuf::new(),
            auth_ingest: false,
            max_connections: 1024,
            header_read_timeout_secs: 30,
            ingest_nice: 0,
            body_read_timeout_secs: 60,
            tls_cert_file: PathBuf::new(),
            tls_key_file: PathBuf::new(),
            retention: "7d".into(),
        }
    }
}

impl Config {
    /// Parses a TOML document; an unknown key is an error that names it.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read config file {}", path.display()))?;
        Config::from_toml(&text).with_context(|| format!("parse config file {}", path.display()))
    }

    /// The tokens of `auth-token-file`, or `None` when unset.
    pub fn tokens(&self) -> Result<Option<crate::auth::Tokens>, crate::auth::TokenFileError> {
        if self.auth_token_file.as_os_str().is_empty() {
            return Ok(None);
        }
        crate::auth::Tokens::load(&self.auth_token_file).map(Some)
    }

    /// TLS from `tls-cert-file` and `tls-key-file`, or `None` when unset.
    pub fn tls(&self) -> anyhow::Result<Option<crate::tls::Tls>> {
        if self.tls_cert_file.as_os_str().is_empty() {
            return Ok(None);
        }
        Ok(Some(crate::tls::Tls::from_pem_files(
            &self.tls_cert_file,
            &self.tls_key_file,
        )?))
    }

    /// How long traces are kept, `None` for ever (`retention = "0"`).
    pub fn retention(&self) -> Option<std::time::Duration> {
        parse_duration(&self.retention)
            .ok()
            .filter(|retention| !retention.is_zero())
    }

    /// The directory backups go to: `backup-dir`, or `<data-dir>.backups`.
    pub fn backup_dir(&self) -> PathBuf {
        if !self.backup_dir.as_os_str().is_empty() {
            return self.backup_dir.clone();
        }
        let mut beside = self.data_dir.clone().into_os_string();
        beside.push(".backups");
        PathBuf::from(beside)
    }

    /// What `--check-config` checks beyond parsing and `Config::validate`:
    /// every listen address resolves, and the data directory, if it exists,
    /// is a directory.
    pub fn check(&self) -> anyhow::Result<()> {
        crate::addr::check_named("tracer-addr", &self.tracer_addr)?;
        for (name, addr) in [
            ("zipkin-addr", &self.zipkin_addr),
            ("otlp-grpc-addr", &self.otlp_grpc_addr),
            ("otlp-http-addr", &self.otlp_http_addr),
        ] {
            if !addr.trim().is_empty() {
                crate::addr::check_named(name, addr)?;
            }
        }
        self.tokens()?;
        self.tls()?;
        if self.data_dir.exists() {
            anyhow::ensure!(
                self.data_dir.is_dir(),
                "data-dir {} exists and is not a directory",
                self.data_dir.display()
            );
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_request_size > 0, "max-request-size must be positive");
        anyhow::ensure!(self.max_scan_limit > 0, "max-scan-limit must be positive");
        anyhow::ensure!(
            self.max_concurrent_uploads > 0,
            "max-concurrent-uploads must be positive"
        );
        anyhow::ensure!(self.block_cache_size > 0, "block-cache-size must be positive");
        anyhow::ensure!(self.max_connections > 0, "max-connections must be positive");
        anyhow::ensure!(
            (1..=10_000).contains(&self.bucket_flush_interval_ms),
            "bucket-flush-interval-ms must be 1 to 10000"
        );
        if !self.node_id.is_empty() {
            tracekeep_store::check_node_id(&self.node_id)
                .map_err(|reason| anyhow::anyhow!("node-id {:?}: {reason}", self.node_id))?;
        }
        anyhow::ensure!(
            self.max_disk_bytes == 0 || self.max_disk_bytes >= MIN_DISK_BOUND,
            "max-disk-bytes must be 0 (no bound) or at least {MIN_DISK_BOUND} (16 MiB): the store's own files take a few MiB"
        );
        parse_duration(&self.retention)
            .map_err(|reason| anyhow::anyhow!("retention {:?}: {reason}", self.retention))?;
        anyhow::ensure!(
            self.tls_cert_file.as_os_str().is_empty() == self.tls_key_file.as_os_str().is_empty(),
            "tls-cert-file and tls-key-file go together: set both or neither"
        );
        anyhow::ensure!(
            self.header_read_timeout_secs > 0,
            "header-read-timeout-secs must be positive"
        );
        anyhow::ensure!((0..=19).contains(&self.ingest_nice), "ingest-nice must be 0 to 19");
        anyhow::ensure!(
            self.body_read_timeout_secs > 0,
            "body-read-timeout-secs must be positive"
        );
        anyhow::ensure!(
            !self.auth_ingest || !self.auth_token_file.as_os_str().is_empty(),
            "auth-ingest needs auth-token-file"
        );
        anyhow::ensure!(
            self.handshake_timeout_secs > 0,
            "handshake-timeout-secs must be positive"
        );
        Ok(())
    }

    /// The defaults, overridden by the `--config` file if given, then by the flags.
    pub fn load(args: &Args) -> anyhow::Result<Config> {
        let mut config = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(addr) = &args.tracer_addr {
            config.tracer_addr = addr.clone();
        }
        if let Some(addr) = &args.zipkin_addr {
            config.zipkin_addr = addr.clone();
        }
        if let Some(addr) = &args.otlp_grpc_addr {
            config.otlp_grpc_addr = addr.clone();
        }
        if let Some(addr) = &args.otlp_http_addr {
            config.otlp_http_addr = addr.clone();
        }
        if let Some(keys) = &args.autocomplete_keys {
            config.autocomplete_keys = keys
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(level) = &args.log_level {
            config.log_level = level.clone();
        }
        if let Some(file) = &args.log_file {
            config.log_file = file.clone();
        }
        if let Some(format) = args.log_format {
            config.log_format = format;
        }
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
        if args.sync {
            config.sync = true;
        }
        if let Some(retention) = &args.retention {
            config.retention = retention.clone();
        }
        if let Some(bytes) = args.max_disk_bytes {
            config.max_disk_bytes = bytes;
        }
        if let Some(interval) = args.bucket_flush_interval_ms {
            config.bucket_flush_interval_ms = interval;
        }
        if let Some(bucket) = &args.bucket {
            config.bucket = bucket.clone();
        }
        if let Some(node_id) = &args.node_id {
            config.node_id = node_id.clone();
        }
        if let Some(seconds) = args.adopt_after_seconds {
            config.adopt_after_seconds = seconds;
        }
        config.validate()?;
        Ok(config)
    }
}

/// The smallest disk bound: below it memtables, logs and RocksDB's own files
/// would take most of it.
pub const MIN_DISK_BOUND: u64 = 16 << 20;

/// A duration as `retention` takes it: a whole number and a unit (`s`, `m`,
/// `h`, `d`), or `0`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| "a whole number and a unit (s, m, h, d) is required, e.g. 72h or 7d".to_owned())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unit {unit:?} not known: use s, m, h or d")),
    };
    number
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| "too long".to_owned())
}

/// The command line. dm-tracer's own start line
/// (`--tracer-addr=:PORT --log-file=PATH --config=PATH`) works unchanged.
#[derive(Debug, Parser)]
// A flag given twice takes its last value, as Go's flag package (dm-tracer's) does;
// scripts/run.sh relies on it to let its caller's flags replace its defaults.
#[command(
    name = "tracekeep-server",
    version = crate::VERSION_LINE,
    about = "Durable drop-in for DM's dm-tracer",
    args_override_self = true
)]
pub struct Args {
    /// Path to a TOML config file (dm-tracer's keys plus tracekeep's).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address for gRPC and HTTP, e.g. `:8263` or `127.0.0.1:8263`.
    #[arg(long, value_name = "ADDR")]
    pub tracer_addr: Option<String>,
    /// Listen address for Zipkin's API alone, e.g. `:9411`; empty disables it.
    #[arg(long, value_name = "ADDR")]
    pub zipkin_addr: Option<String>,
    /// Listen address for OTLP/gRPC alone, e.g. `:4317`; empty disables it.
    #[arg(long, value_name = "ADDR")]
    pub otlp_grpc_addr: Option<String>,
    /// Listen address for OTLP/HTTP alone, e.g. `:4318`; empty disables it.
    #[arg(long, value_name = "ADDR")]
    pub otlp_http_addr: Option<String>,
    /// Tag keys for Zipkin's autocomplete, comma-separated, e.g. `http.method,env`.
    #[arg(long, value_name = "KEYS")]
    pub autocomplete_keys: Option<String>,
    /// Log level: debug, info, warn, error (fatal means error).
    #[arg(short = 'L', long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log file path (stderr when absent).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<String>,
    /// Log format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// fsync the WAL on every commit (survives power loss).
    #[arg(long)]
    pub sync: bool,
    /// How long traces are kept after their newest event arrived, e.g. `72h`,
    /// `7d`; `0` keeps everything.
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    /// Bound on the data directory in bytes: past it the oldest traces are
    /// deleted until it is under 90% of it; `0` for none. With a bucket: the
    /// bound of the disk cache (16 GiB when 0).
    #[arg(long, value_name = "BYTES")]
    pub max_disk_bytes: Option<u64>,
    /// Keep the data in this object-storage bucket instead of the data
    /// directory: `s3://bucket/prefix` (endpoint and credentials from the
    /// `AWS_*` variables), `gs://...`, `az://...` or `file:///path`.
    #[arg(long, value_name = "URL")]
    pub bucket: Option<String>,
    /// The least time between two writes of the log to the bucket, in
    /// milliseconds (1 to 10000): bounds the bucket's PUTs per second.
    #[arg(long, value_name = "MS")]
    pub bucket_flush_interval_ms: Option<u64>,
    /// With a bucket: this node's name in the cluster on that bucket
    /// (default: the host name); its data goes under `nodes/<node-id>/`.
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// With a bucket: adopt a node whose lease has not been renewed for
    /// this many seconds (0: never; default 600).
    #[arg(long, value_name = "SECONDS")]
    pub adopt_after_seconds: Option<u64>,
    /// Check the configuration (file and flags) and exit: 0 when it would
    /// start, 2 with the reason when not. Opens and binds nothing.
    #[arg(long)]
    pub check_config: bool,
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
