"""The elastic worker pool against a live burst: 200 small pushes scale the pool out to its max and, once the queue
has drained, back to its min; a resource signal above its threshold (injected through WHARF_POOL_SIGNALS_FILE) vetoes
scale-out; every decision is shown with its policy and counted in the metrics."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import Server
from fault_proxy import FaultProxy
from test_replication import push_image, wait_until

CONFIG = """
replication:
  backoff: 100ms
  maxBackoff: 1s
  reconcileInterval: 1h
  pool:
    min: 1
    max: 6
    interval: 200ms
    window: 600ms
    step: 2
    cooldown: 400ms
    service: {{ queuePerWorkerUpper: 3, queuePerWorkerLower: 0.5, lagUpper: 1000, lagLower: 1000 }}
    # The test decides what the host looks like: the real one's load must not steer the pool here.
    resource: {{ cpuUpper: 1.5, cpuLower: 1.5, load1Upper: 1000, load1Lower: 1000, runQueueUpper: 1000, runQueueLower: 1000 }}
  rules:
    - name: out
      direction: push
      remote: {{ url: "{url}" }}
"""


def pool(url):
    return requests.get(f"{url}/api/v1/replication/pool", timeout=10).json()


def burst(url, repository, count):
    with ThreadPoolExecutor(8) as workers:
        return list(workers.map(lambda i: push_image(url, repository, f"t{i}", f"{repository}-{i}"), range(count)))


def test_a_burst_scales_the_pool_out_and_idleness_back_in(tmp_path):
    target = Server(tmp_path / "t")
    proxy = FaultProxy(target.port, delay=0.01)  # every copy takes a while, so that a backlog builds up
    signals = tmp_path / "signals.json"
    config = tmp_path / "a.yaml"
    config.write_text(CONFIG.format(url=proxy.url))
    a = Server(tmp_path / "a", args=["--config", config], log_level="info",
               extra_env={"WHARF_POOL_SIGNALS_FILE": str(signals)})
    try:
        assert pool(a.url)["size"] == 1
        burst(a.url, "burst/app", 200)
        wait_until(lambda: pool(a.url)["size"] == 6, what="the pool reaching its max", timeout=60)
        wait_until(lambda: requests.head(f"{target.url}/v2/burst/app/manifests/t199").status_code == 200
                   and pool(a.url)["size"] == 1, what="the queue draining and the pool back at its min", timeout=120)
        decisions = [d["decision"] for d in pool(a.url)["decisions"]]
        assert any(d["action"] == "scale-out" and d["policy"] == "service" and "queue" in d["reason"] for d in decisions)
        assert any(d["action"] == "scale-in" and d["policy"] == "all" for d in decisions)
        assert all(d["from"] != d["to"] for d in decisions if d["action"] != "hold")

        # A hot host: the same burst cannot grow the pool, and the veto is shown with its policy.
        signals.write_text(json.dumps({"cpu": 1.9}))
        time.sleep(1)  # a window's worth of hot samples
        burst(a.url, "hot/app", 60)
        deadline = time.time() + 3
        while time.time() < deadline:
            assert pool(a.url)["size"] == 1, "the pool grew while the resource policy forbade it"
            time.sleep(0.2)
        vetoes = [d["decision"] for d in pool(a.url)["decisions"] if d["decision"]["action"] == "hold"]
        assert vetoes and vetoes[-1]["policy"] == "resource" and "cpu" in vetoes[-1]["reason"]
        signals.write_text("{}")
        wait_until(lambda: pool(a.url)["size"] > 1, what="scale-out once the host cooled", timeout=30)

        metrics = requests.get(f"{a.url}/metrics", timeout=10).text
        assert 'wharf_replication_pool_decisions_total{action="scale-out",policy="service"}' in metrics
        assert 'wharf_replication_pool_decisions_total{action="hold",policy="resource"}' in metrics
    finally:
        proxy.close()
        a.stop()
        target.stop()


def test_copies_wait_out_a_push_burst_and_follow_it(tmp_path):
    """With `yieldToClients`, no copy starts while the burst of pushes goes on (within the limit); all follow it."""
    target = Server(tmp_path / "t")
    config = tmp_path / "a.yaml"
    config.write_text(CONFIG.format(url=target.url).replace("replication:\n", "replication:\n  yieldToClients: 8s\n", 1))
    a = Server(tmp_path / "a", args=["--config", config])
    try:
        pushed = {}
        start = time.monotonic()
        while time.monotonic() - start < 2:  # a write every few ms for 2 s: one burst
            tag = f"t{len(pushed)}"
            pushed[tag] = push_image(a.url, "yield/app", tag, f"yield-{tag}")
        assert time.monotonic() - start < 7, "the burst outlasted the limit: nothing was tested"
        copied = [t for t in pushed if requests.head(f"{target.url}/v2/yield/app/manifests/{t}").status_code == 200]
        assert copied == [], f"copied during the burst: {copied}"
        for tag in pushed:
            wait_until(lambda: requests.head(f"{target.url}/v2/yield/app/manifests/{tag}").status_code == 200,
                       what=f"yield/app:{tag} after the burst", timeout=30)
    finally:
        a.stop()
        target.stop()
