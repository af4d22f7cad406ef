#!/usr/bin/env python3
"""memory-under-load.py [WHARF_BIN] — resident memory of `wharf serve` while it serves manifest GETs over 100,000
tags (issue 19's target: under 150 MiB, with every in-memory index bounded by configuration).

Builds a store of TAGS tags (default 100,000) with startup.py's builder (BLOBS 1,000 blobs, REPOS 10 repositories,
TAGS_PER_PUT 100), starts `wharf serve` on its defaults (SQLite, encryption and the audit log on, the reference cache at
its default capacity of 100,000), GETs every tag once (8 client threads), so that the cache holds all of them, then for
DURATION seconds (default 30) runs regbench's manifest benchmark at c=64 while the threads go on walking the tags.
Samples the server's resident memory every 50 ms and prints it after the walk and its peak under the load. Needs regbench (REGBENCH, default
~/.cache/regbench/regbench).
"""

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("BLOBS", "1000")
os.environ.setdefault("REPOS", "10")
os.environ.setdefault("TAGS", "100000")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import startup  # noqa: E402
from startup import Server, free_port, request, rss_mib  # noqa: E402

DURATION = float(os.environ.get("DURATION", "30"))
REGBENCH = os.environ.get("REGBENCH", str(Path.home() / ".cache/regbench/regbench"))
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def tag_paths():
    """Every tag startup.py's builder makes, as a manifest path."""
    for index in range(startup.TAGS // startup.PER_PUT):
        repo = f"big/r{index % startup.REPOS:04d}"
        for n in range(startup.PER_PUT):
            yield f"/v2/{repo}/manifests/t{index:06d}-{n:03d}"


def main():
    base = Path(tempfile.mkdtemp(prefix="wharf-memory-"))
    port = free_port()
    os.environ["WHARF_BIN"] = startup.BIN
    server = Server(base / "storage", port=port)
    try:
        begun = time.monotonic()
        startup.build(port)
        print(f"built {startup.TAGS} tags in {time.monotonic() - begun:.0f} s; resident {rss_mib(server.process.pid):.0f} MiB")
        paths = list(tag_paths())
        done = threading.Event()
        served = [0] * 8
        failures = []

        def walker(slot: int):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while not done.is_set():
                for path in paths[slot::8]:
                    if done.is_set():
                        return
                    status = request(connection, "GET", path, headers=ACCEPT)
                    served[slot] += 1
                    if status != 200:
                        failures.append((path, status))

        def fill(slot: int):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for path in paths[slot::8]:
                if (status := request(connection, "GET", path, headers=ACCEPT)) != 200:
                    failures.append((path, status))

        begun = time.monotonic()
        fillers = [threading.Thread(target=fill, args=(n,)) for n in range(8)]
        for thread in fillers:
            thread.start()
        for thread in fillers:
            thread.join()
        print(f"every tag read once in {time.monotonic() - begun:.0f} s; resident {rss_mib(server.process.pid):.0f} MiB")
        peak = 0.0
        walkers = [threading.Thread(target=walker, args=(n,)) for n in range(8)]
        for thread in walkers:
            thread.start()
        load = subprocess.Popen([REGBENCH, "manifests", "-url", f"http://127.0.0.1:{port}", "-n", "50", "-size", "1024",
                                 "-c", "64", "-duration", f"{DURATION:.0f}s", "-q"], stdout=subprocess.PIPE, text=True)
        while load.poll() is None:
            peak = max(peak, rss_mib(server.process.pid))
            time.sleep(0.05)
        done.set()
        for thread in walkers:
            thread.join()
        result = load.stdout.read().strip().splitlines()[-1]
        print(f"regbench: {result[:400]}")
        print(f"tag walk: {sum(served)} GETs over {len(paths)} tags, {len(failures)} failed {failures[:3]}")
        print(f"peak resident memory {peak:.0f} MiB ({'under' if peak < 150 else 'OVER'} the 150 MiB target)")
    finally:
        server.stop()
        if not os.environ.get("KEEP"):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
