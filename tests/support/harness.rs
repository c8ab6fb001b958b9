//! Starting the real binaries and talking to them.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tracekeep_proto::pb;
use tracekeep_proto::pb::tracer_client::TracerClient;

/// How long a server gets to come up or go down before a test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// A built binary of the workspace, in the target directory this executable runs from.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // A test runs from target/<profile>/deps/, a binary from target/<profile>/.
    let mut dir = exe.parent().unwrap();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir = dir.parent().unwrap();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The bucket the server of `data_dir` keeps its data in when the suite runs
/// on one (`TRACEKEEP_TEST_BUCKET`, set by `tests/bucket/seaweedfs.py`): a
/// prefix of its own per data directory, the same for every start, so a
/// restarted server (even with its directory emptied) finds its data.
pub fn bucket_for(data_dir: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let bucket = std::env::var("TRACEKEEP_TEST_BUCKET").ok()?;
    let mut hasher = std::hash::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    Some(format!("{}/{:016x}", bucket.trim_end_matches('/'), hasher.finish()))
}

/// `--bucket` and the bucket of the `--data-dir` in `args`, when the suite
/// runs on a bucket; nothing otherwise.
fn bucket_args(args: &[&str]) -> Vec<String> {
    let data_dir = args
        .iter()
        .position(|arg| *arg == "--data-dir")
        .and_then(|at| args.get(at + 1));
    match data_dir.and_then(|dir| bucket_for(Path::new(dir))) {
        Some(bucket) => {
            let mut args = vec!["--bucket".into(), bucket];
            // The bench's knob for the bucket's group commit.
            if let Ok(interval) = std::env::var("TRACEKEEP_TEST_BUCKET_FLUSH_MS") {
                args.extend(["--bucket-flush-interval-ms".into(), interval]);
            }
            args
        }
        None => Vec::new(),
    }
}

/// Whether the suite runs on a bucket (`TRACEKEEP_TEST_BUCKET`).
pub fn on_bucket() -> bool {
    std::env::var_os("TRACEKEEP_TEST_BUCKET").is_some()
}

/// For a test of what only the embedded RocksDB engine has (table files,
/// checkpoints, the disk bound, a full local disk): `true`, after saying so,
/// when the suite runs on a bucket and the test should end there.
pub fn rocksdb_only(why: &str) -> bool {
    if on_bucket() {
        eprintln!("RocksDB only: {why}");
    }
    on_bucket()
}

/// A running `tracekeep-server`.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Every line the server writes to stderr arrives here...
    stderr: mpsc::Receiver<String>,
    /// ...and is kept here once received.
    seen: std::sync::Mutex<Vec<String>>,
}

/// Where to find the "listening on" line.
pub enum LogTo {
    Stderr,
    File(PathBuf),
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr = rest.split([' ', '"']).next()?;
    let addr: SocketAddr = addr.parse().ok()?;
    // 0.0.0.0 is where it listens; 127.0.0.1 is where we dial.
    Some(SocketAddr::from(([127, 0, 0, 1], addr.port())))
}

impl Server {
    /// Starts the server on a free loopback port with `data_dir`, plus `args`.
    pub fn start(data_dir: &Path, args: &[&str]) -> Server {
        let mut all = vec!["--tracer-addr", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
        all.extend_from_slice(args);
        Server::start_with(&all, LogTo::Stderr)
    }

    /// Starts node `node_id` of the cluster on `bucket`, with data directory
    /// `data`, on a free loopback port, plus `args`. Its `--bucket` comes
    /// after the harness's own for the data directory, so it wins.
    pub fn start_node(data: &Path, bucket: &str, node_id: &str, args: &[&str]) -> Server {
        let data = data.to_str().unwrap();
        let mut all = vec![
            "--tracer-addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--bucket",
            bucket,
            "--node-id",
            node_id,
        ];
        all.extend_from_slice(args);
        Server::start_with(&all, LogTo::Stderr)
    }

    /// Starts the server with exactly `args` (and, when the suite runs on a
    /// bucket, `--bucket` for its `--data-dir`), waiting for it to answer `/status`.
    pub fn start_with(args: &[&str], log: LogTo) -> Server {
        let mut child = Command::new(binary("tracekeep-server"))
            // No Zipkin or OTLP listener on :9411, :4317, :4318 unless a test asks (a later flag wins):
            // tests run servers side by side and bind port 0 only.
            .args(["--zipkin-addr", "", "--otlp-grpc-addr", "", "--otlp-http-addr", ""])
            .args(bucket_args(args))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut seen = Vec::new();
        let addr = loop {
            assert!(started.elapsed() < DEADLINE, "the server did not say where it listens");
            let found = match &log {
                LogTo::Stderr => match lines_rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(line) => {
                        let found = listening_addr(&line);
                        seen.push(line);
                        found
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        panic!("the server exited early: {:?}", child.wait())
                    }
                },
                LogTo::File(path) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        panic!("the server exited early: {status}");
                    }
                    // Wait for more output (or time) before reading the file again.
                    seen.extend(lines_rx.recv_timeout(Duration::from_millis(50)));
                    std::fs::read_to_string(path)
                        .ok()
                        .and_then(|text| text.lines().find_map(listening_addr))
                }
            };
            if let Some(addr) = found {
                break addr;
            }
        };
        let server = Server {
            child: Some(child),
            addr,
            stderr: lines_rx,
            seen: std::sync::Mutex::new(seen),
        };
        server.wait_ready();
        server
    }

    /// Waits up to `timeout` for the next stderr line, keeping it.
    fn pump(&self, timeout: Duration) {
        if let Ok(line) = self.stderr.recv_timeout(timeout) {
            self.seen.lock().unwrap().push(line);
        }
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            if let Ok(response) = try_http(self.addr, "GET", "/status", &[], b"")
                && response.status == 200
            {
                return;
            }
            assert!(started.elapsed() < DEADLINE, "/status never answered");
            // Poll the next stderr line (or 50 ms) rather than sleeping blind.
            self.pump(Duration::from_millis(50));
        }
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[], b"")
    }

    pub fn post(&self, path: &str) -> HttpResponse {
        http(self.addr, "POST", path, &[], b"")
    }

    pub fn post_form(&self, path: &str, body: &[u8]) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
        )
    }

    pub async fn grpc(&self) -> TracerClient<Channel> {
        TracerClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    /// A gRPC client for the calls the generated one cannot make: raw event
    /// bytes, or several messages in one call.
    pub async fn grpc_raw(&self) -> tonic::client::Grpc<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        tonic::client::Grpc::new(channel)
    }

    /// Waits for the server's next stderr line, or 100 ms: pacing for polls
    /// that wait on the server's state.
    pub fn pace(&self) {
        self.pump(Duration::from_millis(100));
    }

    /// Every stderr line received so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The server's resident memory (`VmRSS`) in KiB, if it can be read.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU time the server process has used so far (user + system, all threads).
    pub fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(&self.pid().to_string())
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits (up to the harness's deadline) for the server to exit by
    /// itself; returns the exit status and every line it wrote to stderr.
    pub fn wait_exit(self) -> (ExitStatus, Vec<String>) {
        self.exit_status("the server did not exit")
    }

    /// Waits for the exit, failing with `what` at the deadline.
    fn exit_status(mut self, what: &str) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // The reader thread ends at EOF, which follows the exit.
                let mut lines = std::mem::take(&mut *self.seen.lock().unwrap());
                lines.extend(self.stderr.iter());
                return (status, lines);
            }
            assert!(started.elapsed() < DEADLINE, "{what}");
            self.pump(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit status and every
    /// line the server wrote to stderr.
    pub fn terminate(self) -> (ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.exit_status("the server did not stop on SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The fields of a `/proc` `stat` file (`/proc/<pid>/stat`,
/// `/proc/<pid>/task/<tid>/stat`) after the command name, from field 3 (the
/// state) on: the name (field 2) may hold spaces and parentheses, so it ends
/// at the last `)`.
pub fn proc_stat_fields(path: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// CPU time (user + system, all threads, live and exited) of process `pid`
/// (a number, or `self`), from `/proc/<pid>/stat`.
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let fields = proc_stat_fields(&format!("/proc/{pid}/stat"))?;
    // utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    Some((utime + stime) as f64 / ticks as f64)
}

/// Runs the server binary to completion (for commands that must fail fast).
pub fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let output = Command::new(binary("tracekeep-server"))
        .args(["--zipkin-addr", "", "--otlp-grpc-addr", "", "--otlp-http-addr", ""])
        .args(bucket_args(args))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    (output.status, text)
}

/// What a run of `tracekeep-dump` printed, and its exit code.
#[derive(Debug)]
pub struct DumpOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tracekeep-dump` with `args` to its end. When the suite runs on a
/// bucket, an argument naming a server's data directory names its bucket
/// instead, so a test reads the store its server wrote either way.
pub fn dump(args: &[&str]) -> DumpOutput {
    let args: Vec<String> = args
        .iter()
        .map(|arg| match bucket_for(Path::new(arg)) {
            Some(bucket) if Path::new(arg).is_dir() => bucket,
            _ => (*arg).to_owned(),
        })
        .collect();
    let output = Command::new(binary("tracekeep-dump")).args(&args).output().unwrap();
    DumpOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body as sent, for binary answers (protobuf).
    pub bytes: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {:?}", String::from_utf8_lossy(&raw))))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let bytes = raw[split + 4..].to_vec();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body,
        bytes,
    })
}

pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    try_http(addr, method, path, headers, body).unwrap()
}

/// Sends `events` as they are, raw bytes, in an `UploadSyncerJobEvent`
/// call: the way a client with a broken encoder would.
pub async fn upload_raw_jobs(
    grpc: &mut tonic::client::Grpc<Channel>,
    events: Vec<Vec<u8>>,
) -> Result<pb::CommonUploadResponse, tonic::Status> {
    use tracekeep_proto::ingest::EncodedEvents;
    grpc.ready().await.unwrap();
    let request = EncodedEvents {
        events: events.into_iter().map(Into::into).collect(),
    };
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/pb.Tracer/UploadSyncerJobEvent");
    let codec = tonic_prost::ProstCodec::<EncodedEvents, pb::CommonUploadResponse>::default();
    grpc.unary(tonic::Request::new(request), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

pub fn base(trace_id: &str, tso: i64) -> Option<pb::BaseEvent> {
    Some(pb::BaseEvent {
        filename: "syncer.go".into(),
        line: 1130,
        tso,
        trace_id: trace_id.into(),
        group_id: String::new(),
        r#type: pb::TraceType::JobEvent as i32,
    })
}

pub fn job(trace_id: &str, tso: i64) -> pb::SyncerJobEvent {
    pb::SyncerJobEvent {
        base: base(trace_id, tso),
        op_type: 2,
        sql: format!("INSERT INTO t VALUES ({tso})"),
        ..Default::default()
    }
}

pub fn binlog(trace_id: &str, tso: i64) -> pb::SyncerBinlogEvent {
    pb::SyncerBinlogEvent {
        base: Some(pb::BaseEvent {
            r#type: pb::TraceType::BinlogEvent as i32,
            ..base(trace_id, tso).unwrap()
        }),
        event_type: 4,
        ..Default::default()
    }
}

pub async fn upload_jobs(
    client: &mut TracerClient<Channel>,
    events: Vec<pb::SyncerJobEvent>,
) -> pb::CommonUploadResponse {
    client
        .upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events })
        .await
        .unwrap()
        .into_inner()
}

pub async fn upload_binlogs(
    client: &mut TracerClient<Channel>,
    events: Vec<pb::SyncerBinlogEvent>,
) -> pb::CommonUploadResponse {
    client
        .upload_syncer_binlog_event(pb::UploadSyncerBinlogEventRequest { events })
        .await
        .unwrap()
        .into_inner()
}

pub async fn tso(client: &mut TracerClient<Channel>) -> i64 {
    let reply = client
        .get_tso(pb::GetTsoRequest { id: "test".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.result, "{}", reply.msg);
    reply.ts
}

/// The `tso` of each event in a `/events/query`-style JSON array.
pub fn tsos(events: &serde_json::Value) -> Vec<i64> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event"]["base"]["tso"].as_i64().unwrap_or(0))
        .collect()
}

/// The sum of every series of the metric `name` (any labels) in a
/// Prometheus text scrape; `None` when the scrape has none.
pub fn metric_total(scrape: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = scrape
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            // `name value` or `name{labels} value`, not a longer name.
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.rsplit_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The value of one series (name and labels, exactly as printed) in a
/// Prometheus text scrape; 0 when it is absent.
pub fn metric_sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}
