#!/usr/bin/env python3
"""Replication benchmarks (docs/benchmarks.md): throughput against `skopeo copy --all` of the same images between
the same two instances, and lag for small images, idle and while 16 clients push to the source. Release builds on
loopback; every instance starts on a fresh data directory.

    WHARF_BIN=.build/release/wharf python3 Benchmarks/replication.py [throughput|lag|pushcost|all]

`pushcost` is the push path's cost: tag PUTs on an instance with one event rule against one without, alternating
(`Benchmarks/alternate.sh`), with the rule's target live (a stand-in for a machine in another region: at the lowest
CPU priority, on tmpfs, though it shares the same two cores) and with it down. With the target live, each run waits
until the rule's queue is empty before the next starts, so that no run measures another's copies; `settle URL RULE`
is that wait."""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "E2E"))
from conftest import Server, free_port  # noqa: E402
from test_replication import push_image, wait_until  # noqa: E402
from test_replication_faults import push_big_image  # noqa: E402

IMAGES = int(os.environ.get("IMAGES", "4"))
LAYER = int(os.environ.get("LAYER_MIB", "64")) << 20


def rule(name, url, trigger):
    return f"""
replication:
  rules:
    - {{ name: {name}, direction: push, remote: {{ url: "{url}" }}, triggers: [{trigger}] }}
"""


def start(base: Path, name: str, config: str | None = None) -> Server:
    args = []
    if config:
        (base / f"{name}.yaml").write_text(config)
        args = ["--config", base / f"{name}.yaml"]
    return Server(base / name, args=args, log_level="warning")


def idle(url, rule_name):
    status = [s for s in requests.get(f"{url}/api/v1/replication/status", timeout=30).json() if s["rule"] == rule_name][0]
    return status if status["queued"] + status["running"] == 0 else None


def throughput(base: Path):
    """Both orders: skopeo first then replication, and the other way, each into a fresh target."""
    results = {"skopeo": [], "replication": []}
    for order in (("skopeo", "replication"), ("replication", "skopeo")):
        targets = {"skopeo": start(base, f"skopeo-{order[0]}"), "replication": start(base, f"rep-{order[0]}")}
        source = start(base, f"src-{order[0]}", rule("bench", targets["replication"].url, "manual"))
        try:
            for i in range(IMAGES):
                push_big_image(source.url, f"bench/img{i}", "v1", base / "layer.bin", LAYER)
            total = IMAGES * LAYER / (1 << 20)
            for kind in order:
                started = time.monotonic()
                if kind == "skopeo":
                    for i in range(IMAGES):
                        subprocess.run(
                            ["skopeo", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
                             f"docker://{source.host}/bench/img{i}:v1", f"docker://{targets['skopeo'].host}/bench/img{i}:v1"],
                            check=True, capture_output=True)
                else:
                    requests.post(f"{source.url}/api/v1/replication/rules/bench/run", timeout=60).raise_for_status()
                    wait_until(lambda: idle(source.url, "bench"), timeout=600, what="replication")
                seconds = time.monotonic() - started
                results[kind].append(total / seconds)
                print(f"throughput {kind:11s} ({'first' if kind == order[0] else 'second'}): "
                      f"{total:.0f} MiB in {seconds:.2f} s = {total / seconds:.1f} MiB/s", flush=True)
        finally:
            for server in (source, *targets.values()):
                server.stop()
    ratio = statistics.geometric_mean(r / s for r, s in zip(results["replication"], results["skopeo"]))
    print(f"throughput: replication / skopeo, geometric mean of both orders: {ratio:.2f}x")


def lag(base: Path, load: bool):
    target = start(base, f"lag-target-{load}")
    source = start(base, f"lag-source-{load}", rule("lag", target.url, "event"))
    stop = threading.Event()
    pushers = []
    try:
        if load:
            regbench = os.environ.get("REGBENCH", str(Path.home() / ".cache" / "regbench" / "regbench"))

            def hammer():
                while not stop.is_set():
                    subprocess.run([regbench, "push-blobs", "-url", source.url, "-repo", "load/blobs", "-n", "64",
                                    "-size", "1MiB", "-c", "16", "-mode", "monolithic", "-q"], capture_output=True)
            pushers = [threading.Thread(target=hammer)]
            pushers[0].start()
            time.sleep(2)
        for i in range(40):
            push_image(source.url, "lag/app", f"t{i}", f"lag-{load}-{i}")
            time.sleep(0.25)
        status = wait_until(lambda: idle(source.url, "lag"), timeout=120)
        print(f"lag {'under a 16-client push load' if load else 'idle'}: p50 {status['lagP50'] * 1000:.0f} ms, "
              f"p99 {status['lagP99'] * 1000:.0f} ms over {status['done']} copies", flush=True)
    finally:
        stop.set()
        for thread in pushers:
            thread.join()
        source.stop()
        target.stop()


def pushcost(base: Path):
    rounds = os.environ.get("ROUNDS", "8")
    plain = start(base, "cost-plain")
    # Another machine's disk too: on tmpfs its fsyncs do not queue behind (or ahead of) the source's.
    shm = Path(tempfile.mkdtemp(prefix="wharf-cost-target-", dir="/dev/shm"))
    target = Server(shm / "data", log_level="warning", niceness=19)
    down = f"http://127.0.0.1:{free_port()}"
    try:
        for label, url in (("live target", target.url), ("target down", down)):
            ruled = start(base, f"cost-rule-{label[-4:]}", rule("cost", url, "event"))
            try:
                print(f"push cost, {label}: A has no rule, B one event rule", flush=True)
                settle = f"python3 {__file__} settle {ruled.url} cost" if url == target.url else ""
                subprocess.run([str(Path(__file__).parent / "alternate.sh"), plain.url, ruled.url, rounds, "tags",
                                "-n", "500", "-page", "100", "-c", "8", "-duration", "1s"],
                               env=dict(os.environ, PHASE="put-tags", SETTLE=settle), check=True)
            finally:
                ruled.stop()
    finally:
        plain.stop()
        target.stop()
        subprocess.run(["rm", "-rf", str(shm)])


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what == "settle":
        wait_until(lambda: idle(sys.argv[2], sys.argv[3]), timeout=120)
        return
    base = Path(tempfile.mkdtemp(prefix="wharf-repbench-"))
    print(f"replication benchmarks, {IMAGES} images of {LAYER >> 20} MiB; wharf {os.environ.get('WHARF_BIN')}")
    if what in ("throughput", "all"):
        throughput(base)
    if what in ("lag", "all"):
        lag(base, load=False)
        lag(base, load=True)
    if what in ("pushcost", "all"):
        pushcost(base)
    subprocess.run(["rm", "-rf", str(base)])


if __name__ == "__main__":
    main()
