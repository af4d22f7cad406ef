#!/usr/bin/env python3
"""console-pages.py [WHARF_BIN] — how fast the web console's pages answer on a large store.

Fills a fresh `wharf serve` (its defaults: SQLite, encryption and the audit log on) with REPOS repositories (default
10,000) of TAGS tags each (default 10, so 100,000 tags): per repository a layer shared by all of them, a config of its
own and one manifest PUT that names all its tags (`?tag=`), from 8 client threads over keep-alive connections. Then
requests each page ROUNDS times (default 50) one after the other, as one signed-in browser would, and prints the
median, 95th percentile and slowest answer in milliseconds. The console's target: every page under 50 ms.

Env: REPOS, TAGS, ROUNDS, WHARF_BIN (or the first argument; default .build/release/wharf), KEEP=1 keeps the data.
"""

import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "E2E"))
from conftest import Server  # noqa: E402
from images import sha256 as digest  # noqa: E402

REPOS = int(os.environ.get("REPOS", "10000"))
TAGS = int(os.environ.get("TAGS", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "50"))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WHARF_BIN", str(ROOT / ".build/release/wharf"))


class Client:
    """One keep-alive connection."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None):
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        data = response.read()
        return response.status, response.headers, data


def fill(port: int):
    layer = os.urandom(4096)
    layer_digest = digest(layer)
    tags = "&".join(f"tag=v{t}" for t in range(1, TAGS))
    failures = []

    def worker(first: int):
        client = Client(port)
        for index in range(first, REPOS, 8):
            repo = f"bench/repo-{index:05d}"
            config = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo}).encode()
            for data in (layer, config):
                status, _, _ = client.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", data,
                                              {"Content-Type": "application/octet-stream"})
                if status != 201:
                    failures.append((repo, status))
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                            "size": len(layer)}],
            }).encode()
            status, _, _ = client.request("PUT", f"/v2/{repo}/manifests/v0?{tags}", manifest,
                                          {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            if status != 201:
                failures.append((repo, status))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"filling failed: {failures[:5]}")


def main():
    data = Path(tempfile.mkdtemp(prefix="wharf-console-bench-"))
    os.environ["WHARF_BIN"] = BIN
    server = Server(data / "storage")
    port = server.port
    try:
        started = time.monotonic()
        fill(port)
        print(f"filled {REPOS} repositories, {REPOS * TAGS} tags in {time.monotonic() - started:.0f} s")

        client = Client(port)
        _, headers, _ = client.request("GET", "/ui/repositories")
        cookie = headers["Set-Cookie"].split(";")[0]
        middle = f"bench/repo-{REPOS // 2:05d}"
        _, _, body = client.request("GET", f"/v2/{middle}/manifests/v0", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json"})
        pages = {
            "overview": "/ui/",
            "repositories": "/ui/repositories",
            "repositories, page in the middle": f"/ui/repositories?last={middle}",
            "repositories, search": "/ui/repositories?q=repo-0999",
            "repository (10 tags)": f"/ui/repositories/{middle}",
            "manifest": f"/ui/repositories/{middle}/-/manifests/{digest(body)}",
            "audit": "/ui/audit",
            "audit, filtered": f"/ui/audit?repository={middle}",
            "replication": "/ui/replication",
            "p2p": "/ui/p2p",
        }
        print(f"{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        worst = 0.0
        for name, path in pages.items():
            timings = []
            for _ in range(ROUNDS):
                begun = time.perf_counter()
                status, _, _ = client.request("GET", path, headers={"Cookie": cookie})
                timings.append((time.perf_counter() - begun) * 1000)
                if status != 200:
                    sys.exit(f"{path}: {status}")
            timings.sort()
            p95 = timings[int(len(timings) * 0.95) - 1]
            worst = max(worst, p95)
            print(f"{name:36} {statistics.median(timings):8.1f} {p95:8.1f} {timings[-1]:8.1f}")
        print(f"slowest p95: {worst:.1f} ms ({'under' if worst < 50 else 'OVER'} the 50 ms target)")
    finally:
        server.stop()
        if not os.environ.get("KEEP"):
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
