#!/usr/bin/env python3
"""P2P benchmark (docs/benchmarks.md): N agents on loopback each pull one image through their own `wharf agent`
with skopeo, all at once, against N direct skopeo pulls from the origin in the same run; for each, the wall time
until all finish, the origin's blob egress (its metrics), and the CPU seconds per GiB delivered (origin, agents and
clients together: on two shared cores the whole swarm competes for the CPU). Release build; fresh agents per round;
direct and P2P alternate which goes first.

    WHARF_BIN=.build-release/release/wharf [SIZE_MIB=256] [COUNTS=1,4,8,16] [ROUNDS=2] [LINK_MBIT=400] \
        python3 Benchmarks/p2p.py

With LINK_MBIT, the origin and every node are hosts of their own (`fleet.py`: network namespaces whose links are
shaped to that rate both ways), as in a fleet where the origin's link is what N direct pulls share. Without it, all
run on one loopback, where nothing but the CPU limits.
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "E2E"))
from agents import Agent, metrics  # noqa: E402
from conftest import Server  # noqa: E402
from fleet import Fleet  # noqa: E402
from images import Layout, push_layout_blobs_and_manifests  # noqa: E402

MiB = 1 << 20
SIZE = int(os.environ.get("SIZE_MIB", "256")) * MiB
COUNTS = [int(n) for n in os.environ.get("COUNTS", "1,4,8,16").split(",")]
ROUNDS = int(os.environ.get("ROUNDS", "2"))
LINK_MBIT = int(os.environ.get("LINK_MBIT", "0"))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pulls(commands):
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands]
    for p in procs:
        out = p.communicate()[0]
        if p.returncode != 0:
            raise RuntimeError(out.decode()[-2000:])


def one(kind: str, n: int, origin: Server, image: str, base: Path, size: int, fleet: Fleet | None) -> dict:
    work = base / f"{kind}-{n}-{time.time_ns()}"
    work.mkdir()
    # Node i is host i + 1 of the fleet (the origin is host 0), or this machine's loopback.
    netns = [fleet.netns(i + 1) if fleet else None for i in range(n)]
    agents = [Agent(work / f"agent-{i}", origin.url, netns=netns[i], host=fleet.address(i + 1) if fleet else "127.0.0.1")
              for i in range(n)] if kind == "p2p" else []
    if kind == "p2p":
        commands = [a.pull_args(image, work / f"out-{i}") for i, a in enumerate(agents)]
    else:
        commands = [[*(["ip", "netns", "exec", netns[i]] if fleet else []), "skopeo", "copy", "--src-tls-verify=false",
                     f"docker://{image}", f"dir:{work}/out-{i}"] for i in range(n)]
    pids = [origin.process.pid] + [a.process.pid for a in agents]
    cpu0 = sum(cpu_seconds(p) for p in pids) + children_cpu()
    sent0 = metrics(origin.url)["wharf_http_sent_bytes_total"]
    start = time.monotonic()
    run_pulls(commands)
    wall = time.monotonic() - start
    cpu = sum(cpu_seconds(p) for p in pids) + children_cpu() - cpu0
    egress = metrics(origin.url)["wharf_http_sent_bytes_total"] - sent0
    for a in agents:
        a.stop()
    shutil.rmtree(work)
    return {"wall": wall, "egress": egress / size, "cpu_per_gib": cpu / (n * size / (1 << 30))}


def main():
    base = Path(tempfile.mkdtemp(prefix="wharf-p2p-bench-"))
    fleet = Fleet(hosts=max(COUNTS) + 1, mbit=LINK_MBIT).open() if LINK_MBIT else None
    try:
        (base / "origin").mkdir()
        origin = Server(base / "origin" / "data", netns=fleet.netns(0) if fleet else None,
                        address=fleet.address(0) if fleet else "127.0.0.1")
        layout = Layout(base / "layout")
        top = layout.image({"bench.txt": b"p2p"}, big_layer=SIZE, tag="v1")
        push_layout_blobs_and_manifests(origin.url, "bench/big", layout, "v1", top)
        size = SIZE + 10240
        links = f"every host's link {LINK_MBIT} Mbit/s both ways" if fleet else "one loopback"
        print(f"image: {SIZE // MiB} MiB layer; rounds: {ROUNDS} (direct and p2p alternate which goes first); {links}")
        print("| N | direct wall s | p2p wall s | p2p/direct | direct egress ×image | p2p egress ×image "
              "| direct CPU s/GiB | p2p CPU s/GiB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in COUNTS:
            results = {"direct": [], "p2p": []}
            for round_ in range(ROUNDS):
                order = ("direct", "p2p") if round_ % 2 == 0 else ("p2p", "direct")
                for kind in order:
                    results[kind].append(one(kind, n, origin, f"{origin.host}/bench/big:v1", base, size, fleet))
            m = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in results.items()}
            print(f"| {n} | {m['direct']['wall']:.2f} | {m['p2p']['wall']:.2f} | {m['p2p']['wall'] / m['direct']['wall']:.2f} "
                  f"| {m['direct']['egress']:.2f} | {m['p2p']['egress']:.2f} | {m['direct']['cpu_per_gib']:.2f} "
                  f"| {m['p2p']['cpu_per_gib']:.2f} |", flush=True)
        origin.stop()
    finally:
        if fleet:
            fleet.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
