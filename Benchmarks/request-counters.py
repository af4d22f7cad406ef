#!/usr/bin/env python3
"""request-counters.py [WHARF_BIN] — context switches, CPU time and instructions per request, counts that move far
less with the machine's load than req/s does (issue 19).

For each of manifest GET by tag, blob HEAD and tag PUT, on a fresh `wharf serve` (its defaults: SQLite, encryption
and the audit log on), N requests (default 2000) one after the other on one keep-alive connection, after a warm-up
of 200:
  - context switches: the server's threads' voluntary + involuntary switches (/proc/PID/task/*/status);
  - CPU: the server's user + system time (/proc/PID/stat), in microseconds per request;
  - instructions: the same requests (CALLGRIND_N, default 300) under valgrind's callgrind on a copy of the binary
    without its debug info, counters zeroed after the warm-up (`callgrind_control -z`) and dumped after, the total
    `Ir` divided by their number. Where callgrind cannot run the binary (Debian 12's valgrind 3.19 crashes on Swift
    6.3's, and this VM has no hardware counters for `perf stat -e instructions`) the column says so.
Prints one row per request kind. Env: N, CALLGRIND_N, WHARF_BIN (or the first argument; default
.build/release/wharf), SKIP_CALLGRIND=1.
"""

import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "E2E"))
from conftest import free_port  # noqa: E402
from images import sha256 as digest  # noqa: E402

N = int(os.environ.get("N", "2000"))
CALLGRIND_N = int(os.environ.get("CALLGRIND_N", "300"))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WHARF_BIN", str(ROOT / ".build/release/wharf"))
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


class Registry:
    def __init__(self, wrapper, data: Path, binary=BIN):
        self.port = free_port()
        self.log = open(data.parent / f"wharf-{self.port}.log", "w")
        self.process = subprocess.Popen([*wrapper, binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir",
                                         str(data), "--log-level", "warning"], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if self.request("GET", "/v2/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
            if self.process.poll() is not None:
                raise RuntimeError("the server exited")
        else:
            raise RuntimeError("the server did not come up")
        config = b'{"architecture":"amd64","os":"linux"}'
        self.layer = b"l" * 1024
        for blob in (config, self.layer):
            self.request("POST", f"/v2/bench/app/blobs/uploads/?digest={digest(blob)}", blob)
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(self.layer),
                        "size": len(self.layer)}]}).encode()
        assert self.request("PUT", "/v2/bench/app/manifests/v1", self.manifest, {"Content-Type": MANIFEST_TYPE})[0] == 201

    def request(self, method, path, body=None, headers=None):
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.read()

    def kinds(self):
        """Each request kind as a function of its sequence number."""
        return {
            "manifest GET by tag": lambda i: self.request("GET", "/v2/bench/app/manifests/v1",
                                                          headers={"Accept": MANIFEST_TYPE}),
            "blob HEAD": lambda i: self.request("HEAD", f"/v2/bench/app/blobs/{digest(self.layer)}"),
            "tag PUT": lambda i: self.request("PUT", f"/v2/bench/app/manifests/t{i % 50}", self.manifest,
                                              {"Content-Type": MANIFEST_TYPE}),
        }

    def switches(self) -> int:
        total = 0
        for status in glob.glob(f"/proc/{self.process.pid}/task/*/status"):
            try:
                text = Path(status).read_text()
            except OSError:
                continue
            total += sum(int(n) for n in re.findall(r"(?:non)?voluntary_ctxt_switches:\s+(\d+)", text))
        return total

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.terminate()
        self.process.wait()


def run(kind_name, send, count):
    for i in range(200):
        status = send(i)[0]
        assert status < 300, (kind_name, status)
    return range(200, 200 + count)


def main():
    base = Path(tempfile.mkdtemp(prefix="wharf-counters-"))
    rows = {}
    try:
        registry = Registry([], base / "plain")
        for name, send in registry.kinds().items():
            requests = run(name, send, N)
            before, cpu = registry.switches(), registry.cpu_seconds()
            for i in requests:
                send(i)
            rows[name] = {"switches": (registry.switches() - before) / N,
                          "cpu": (registry.cpu_seconds() - cpu) * 1e6 / N}
        registry.stop()
        if not os.environ.get("SKIP_CALLGRIND"):
            out = base / "callgrind.out"
            stripped = base / "wharf"
            subprocess.run(["objcopy", "--strip-debug", BIN, str(stripped)], check=True)
            try:
                registry = Registry(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p"],
                                    base / "callgrind", binary=str(stripped))
            except RuntimeError as error:
                print(f"callgrind: {error} (KEEP=1 keeps valgrind's log in {base})", file=sys.stderr)
                registry = None
        if registry and not os.environ.get("SKIP_CALLGRIND"):
            for name, send in registry.kinds().items():
                requests = run(name, send, CALLGRIND_N)
                subprocess.run(["callgrind_control", "-z", str(registry.process.pid)], check=True,
                               stdout=subprocess.DEVNULL)
                for i in range(requests.start, requests.start + CALLGRIND_N):
                    send(i)
                for dump in glob.glob(f"{out}.*"):
                    os.remove(dump)
                subprocess.run(["callgrind_control", "-d", str(registry.process.pid)], check=True,
                               stdout=subprocess.DEVNULL)
                time.sleep(1)
                instructions = 0
                for dump in glob.glob(f"{out}.*"):
                    for line in Path(dump).read_text(errors="replace").splitlines():
                        if line.startswith(("summary:", "totals:")):
                            instructions += int(line.split()[1])
                            break
                rows[name]["instructions"] = instructions / CALLGRIND_N
            registry.stop()
        print(f"{'request':24} {'instructions':>14} {'context switches':>17} {'CPU us':>8}")
        for name, row in rows.items():
            instructions = f"{row['instructions']:,.0f}" if "instructions" in row else "n/a"
            print(f"{name:24} {instructions:>14} {row['switches']:17.2f} {row['cpu']:8.0f}")
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
