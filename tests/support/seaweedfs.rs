//! The SeaweedFS processes `tests/bucket/run-on-seaweedfs.sh` started: find
//! and signal them, for the tests and loops that take SeaweedFS nodes away.
#![allow(clippy::unwrap_used, missing_docs)]

/// Sends `signal` (`STOP`, `CONT`, `KILL`) to a SeaweedFS process, and with
/// `group` to its whole process group (its session, as the script starts it).
pub fn signal_seaweedfs(pid: &str, signal: &str, group: bool) {
    let target = if group { format!("-{pid}") } else { pid.to_owned() };
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &target])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} -- {target}");
}

/// A running process's command line.
pub fn command_line(pid: &str) -> Vec<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    cmdline
        .split(|byte| *byte == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// A flag's value in a running process's command line (`-flag=value`).
pub fn flag_of(pid: &str, flag: &str) -> String {
    let prefix = format!("-{flag}=");
    command_line(pid)
        .iter()
        .find_map(|arg| arg.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("{pid} has no -{flag}"))
}

/// Which of `candidates` (SeaweedFS node processes) holds volumes now, as the
/// masters' leader reports them: with replication 001 every volume is on two
/// nodes, so at least one node besides the first holds some.
pub fn node_holding_volumes(candidates: &[&str]) -> String {
    let first = std::env::var("TRACEKEEP_SEAWEEDFS_PID").unwrap();
    let master: std::net::SocketAddr = format!("127.0.0.1:{}", flag_of(&first, "master.port")).parse().unwrap();
    // HTTP/1.0, so the master answers with a plain body, not chunks.
    let mut connection = std::net::TcpStream::connect(master).unwrap();
    std::io::Write::write_all(&mut connection, b"GET /vol/status HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut connection, &mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    let layout: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut holders = Vec::new();
    for racks in layout["Volumes"]["DataCenters"].as_object().unwrap().values() {
        for servers in racks.as_object().unwrap().values() {
            for (url, volumes) in servers.as_object().unwrap() {
                if volumes.as_array().is_some_and(|volumes| !volumes.is_empty()) {
                    holders.push(url.clone());
                }
            }
        }
    }
    candidates
        .iter()
        .find(|pid| holders.contains(&format!("127.0.0.1:{}", flag_of(pid, "volume.port"))))
        .unwrap_or_else(|| panic!("no node but the first holds volumes: {holders:?}"))
        .to_string()
}
