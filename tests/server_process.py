"""Starts a real tracekeep-server for the Python-driven tests (interop,
browser, contract) and reads the ports it bound from its log, so every test
binds port 0.

Scripts under tests/*/ import it with their parent directory on sys.path.
"""

import queue
import re
import subprocess
import sys
import threading

DEADLINE_SECONDS = 30
# What the server logs once per listener, by name.
LISTENERS = {
    "main": r"listening on [\d.]+:(\d+)",
    "zipkin": r"Zipkin API alone on [\d.]+:(\d+)",
    "otlp_grpc": r"OTLP/gRPC alone on [\d.]+:(\d+)",
    "otlp_http": r"OTLP/HTTP alone on [\d.]+:(\d+)",
}


def start(binary, data_dir, listeners=("main",), extra=()):
    """Starts `binary` on `data_dir` with the named listeners on free loopback
    ports (the others off); returns (process, {listener: port}). Exits the
    test with a reason when the server does not say where it listens in time."""
    addr = {name: ("127.0.0.1:0" if name in listeners else "") for name in LISTENERS}
    process = subprocess.Popen(
        [binary, "--tracer-addr", "127.0.0.1:0", "--zipkin-addr", addr["zipkin"],
         "--otlp-grpc-addr", addr["otlp_grpc"], "--otlp-http-addr", addr["otlp_http"],
         "--data-dir", data_dir, *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    ports = {}
    while len(ports) < len(listeners):
        try:
            line = lines.get(timeout=DEADLINE_SECONDS)
        except queue.Empty:
            process.kill()
            sys.exit("FAILED: the server did not say where it listens")
        for name in listeners:
            found = re.search(LISTENERS[name], line)
            if found:
                ports[name] = int(found.group(1))
    return process, ports
