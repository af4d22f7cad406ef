#!/usr/bin/env python3
"""startup.py [WHARF_BIN] — how long `wharf serve` takes to answer its first request on a large store (issue 19).

Builds the store through the API of a first `wharf serve` (its defaults: SQLite, encryption and the audit log on):
BLOBS blobs (default 100,000) of 64 bytes, in REPOS repositories (default 1,000), and TAGS tags (default 1,000,000),
as manifests of one blob each that name TAGS_PER_PUT tags (`?tag=`, default 100) per PUT; 8 client threads over
keep-alive connections. Stops it (SIGTERM), starts it again on the same data, and times from the exec until the first
`GET /v2/` answers, ROUNDS times (default 5); prints each time, the median, and the resident memory after the first
answer. The target: under 1 s.

Env: BLOBS, REPOS, TAGS, TAGS_PER_PUT, ROUNDS, WHARF_BIN (or the first argument; default .build/release/wharf),
DATA (reuse a store built before: skips the build), KEEP=1 keeps the data.
"""

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "E2E"))
from conftest import Server, free_port  # noqa: E402
from images import sha256 as digest  # noqa: E402

BLOBS = int(os.environ.get("BLOBS", "100000"))
REPOS = int(os.environ.get("REPOS", "1000"))
TAGS = int(os.environ.get("TAGS", "1000000"))
PER_PUT = int(os.environ.get("TAGS_PER_PUT", "100"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WHARF_BIN", str(ROOT / ".build/release/wharf"))


def request(connection, method, path, body=None, headers=None):
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read()
    return response.status


def serve(data: Path, port: int, log):
    """`wharf serve` without waiting for it: the restarts time its first answer themselves."""
    return subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                             "--log-level", "warning"], stdout=log, stderr=log)


def first_answer(port: int, deadline: float) -> float:
    """Seconds until `GET /v2/` answers 200, polling every millisecond."""
    begun = time.monotonic()
    while time.monotonic() - begun < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if request(connection, "GET", "/v2/") == 200:
                return time.monotonic() - begun
        except OSError:
            time.sleep(0.001)
    sys.exit(f"no answer within {deadline} s")


def build(port: int):
    failures = []
    puts = TAGS // PER_PUT

    def worker(first: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        config = b"{}"
        for repo in range(first, REPOS, 8):
            request(connection, "POST", f"/v2/big/r{repo:04d}/blobs/uploads/?digest={digest(config)}", config)
        for index in range(first, max(BLOBS, puts), 8):
            repo = f"big/r{index % REPOS:04d}"
            blob = f"blob {index:08d} ".encode().ljust(64, b".")
            if index < BLOBS:
                status = request(connection, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(blob)}", blob)
                if status != 201:
                    failures.append((repo, status))
            if index < puts:
                manifest = json.dumps({
                    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                               "size": len(config)},
                    "layers": [{"mediaType": "application/octet-stream", "digest": digest(blob), "size": len(blob)}],
                }).encode()
                tags = "&".join(f"tag=t{index:06d}-{n:03d}" for n in range(1, PER_PUT))
                status = request(connection, "PUT", f"/v2/{repo}/manifests/t{index:06d}-000?{tags}", manifest,
                                 {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
                if status != 201:
                    failures.append((repo, status))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"building the store failed: {failures[:5]}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    base = Path(os.environ.get("DATA") or tempfile.mkdtemp(prefix="wharf-startup-"))
    data = base / "storage"
    log = open(base / "wharf.log", "a")
    port = free_port()
    try:
        if not os.environ.get("DATA"):
            os.environ["WHARF_BIN"] = BIN
            server = Server(data, port=port)
            begun = time.monotonic()
            build(port)
            print(f"built {BLOBS} blobs, {TAGS // PER_PUT * PER_PUT} tags in {REPOS} repositories "
                  f"in {time.monotonic() - begun:.0f} s")
            server.stop()
        times = []
        for _ in range(ROUNDS):
            server = serve(data, port, log)
            times.append(first_answer(port, 60))
            memory = rss_mib(server.pid)
            server.terminate()
            server.wait()
            print(f"first answer after {times[-1] * 1000:.0f} ms, resident {memory:.0f} MiB")
        print(f"median {statistics.median(times) * 1000:.0f} ms ({'under' if statistics.median(times) < 1 else 'OVER'} "
              f"the 1 s target)")
    finally:
        if not os.environ.get("KEEP") and not os.environ.get("DATA"):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
