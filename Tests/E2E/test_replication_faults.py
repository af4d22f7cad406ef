"""Replication through failures: a target killed in the middle of a large blob (the copy resumes), a source killed
with tasks queued and in flight (every task completes), a network that drops, delays and resets connections
(nothing is lost), an active-active pair (no loop), and a pull rule from Distribution's docker-registry."""

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import requests

from conftest import Server, free_port, require, run
from fault_proxy import FaultProxy
from images import Layout, sha256
from test_replication import MANIFEST, push_image, upload, wait_until

SETTINGS = """
replication:
  lease: 3s
  backoff: 100ms
  maxBackoff: 1s
  reconcileInterval: 1h
  rules:
"""

RULE = """
    - name: {name}
      direction: push
      remote: {{ url: "{url}" }}
      deletes: true
"""


def source(base: Path, *rules, port=None, name="a", extra=""):
    """A source instance with a push rule (name, remote URL) per `rules`; `extra` lines go into each rule."""
    config = base / f"{name}.yaml"
    config.write_text(SETTINGS + "".join(RULE.format(name=n, url=u) + extra for n, u in rules))
    return Server(base / name, args=["--config", config], log_level="info", port=port)


def digest(url, repository, tag):
    answer = requests.head(f"{url}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST}, timeout=10)
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def converged(url, repository, wanted, timeout):
    """Waits until every tag of `wanted` (tag: manifest digest) is at that digest on the registry at `url`."""
    for tag, manifest in wanted.items():
        wait_until(lambda: digest(url, repository, tag) == manifest, what=f"{repository}:{tag}", timeout=timeout)


def status(url, rule):
    return [s for s in requests.get(f"{url}/api/v1/replication/status", timeout=10).json() if s["rule"] == rule][0]


def push_big_image(url, repository, tag, path: Path, size: int):
    """An image whose one layer is `size` random bytes, uploaded from a file (streamed); returns the manifest digest."""
    with open(path, "wb") as out:
        for _ in range(size >> 20):
            out.write(os.urandom(1 << 20))
    layer = sha256_file(path)
    with open(path, "rb") as body:
        assert requests.post(f"{url}/v2/{repository}/blobs/uploads/?digest={layer}", data=body).status_code == 201
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    assert requests.post(f"{url}/v2/{repository}/blobs/uploads/?digest={sha256(config)}", data=config).status_code == 201
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": size}],
    }).encode()
    assert requests.put(f"{url}/v2/{repository}/manifests/{tag}", data=manifest,
                        headers={"Content-Type": MANIFEST}).status_code == 201
    return sha256(manifest)


def sha256_file(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def test_a_target_killed_mid_blob_resumes_the_copy(tmp_path):
    size = 512 << 20
    port = free_port()
    target = Server(tmp_path / "g", port=port)
    proxy = FaultProxy(port)
    # Held to 128 MiB/s (the rule's bandwidth limit), so that the kill lands in the middle of the blob.
    a = source(tmp_path, ("out", proxy.url), extra="      bandwidth: 134217728\n")
    try:
        started = time.monotonic()
        want = push_big_image(a.url, "big/app", "v1", tmp_path / "layer.bin", size)
        wait_until(lambda: proxy.sent >= size // 2, what="half of the blob", timeout=120)
        assert time.monotonic() - started > 1.2, "the bandwidth limit did not hold the copy back"
        target.kill()
        at_kill = proxy.sent
        assert at_kill < size, "the blob was through before the kill: nothing to resume"
        time.sleep(1)
        target = Server(tmp_path / "g", port=port)
        wait_until(lambda: digest(target.url, "big/app", "v1") == want, what="the resumed copy", timeout=180)
        assert proxy.sent <= 1.3 * size, f"{proxy.sent} bytes sent for a {size}-byte blob: the copy started over"
        print(f"killed at {at_kill} bytes; {proxy.sent} sent in all for {size} ({proxy.sent / size:.2f}x)")
        layer = json.loads(requests.get(f"{target.url}/v2/big/app/manifests/v1").content)["layers"][0]["digest"]
        assert sha256_file_url(f"{target.url}/v2/big/app/blobs/{layer}") == layer
    finally:
        proxy.close()
        a.stop()
        target.stop()


def sha256_file_url(url):
    h = hashlib.sha256()
    with requests.get(url, stream=True, timeout=60) as answer:
        for chunk in answer.iter_content(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def test_a_source_killed_with_tasks_queued_and_in_flight_completes_them(tmp_path):
    port = free_port()
    a = source(tmp_path, ("out", f"http://127.0.0.1:{port}"))
    target = None
    try:
        # The target is down: the tasks queue up and retry.
        wanted = {f"t{i}": push_image(a.url, "queued/app", f"t{i}", f"queued-{i}") for i in range(5)}
        target = Server(tmp_path / "h", port=port)
        wanted["big"] = push_big_image(a.url, "queued/app", "big", tmp_path / "layer.bin", 32 << 20)
        time.sleep(0.3)  # some copies under way
        a.kill()
        a = source(tmp_path, ("out", f"http://127.0.0.1:{port}"))
        converged(target.url, "queued/app", wanted, timeout=90)
        wait_until(lambda: status(a.url, "out")["queued"] + status(a.url, "out")["running"] == 0, what="an empty queue")
    finally:
        a.stop()
        if target:
            target.stop()


def test_a_remote_that_is_down_is_tried_once_per_backoff_step_not_once_per_task(tmp_path):
    port = free_port()
    a = source(tmp_path, ("out", f"http://127.0.0.1:{port}"))
    target = None
    try:
        wanted = {f"t{i}": push_image(a.url, "outage/app", f"t{i}", f"outage-{i}") for i in range(12)}
        time.sleep(2.5)  # 100 ms doubling to 1 s: about five steps, then one a second
        tasks = requests.get(f"{a.url}/api/v1/replication/tasks?rule=out&limit=100", timeout=10).json()["tasks"]
        attempts = sum(task["attempts"] for task in tasks)
        assert len(tasks) == 12 and 1 <= attempts <= 8, f"{attempts} attempts on 12 tasks while the remote was down"
        target = Server(tmp_path / "t", port=port)
        converged(target.url, "outage/app", wanted, timeout=30)
    finally:
        a.stop()
        if target:
            target.stop()


def test_a_faulty_network_loses_nothing(tmp_path):
    target = Server(tmp_path / "b")
    proxy = FaultProxy(target.port, seed=2026, drop=0.15, reset=0.15, delay=0.02)
    a = source(tmp_path, ("out", proxy.url))
    try:
        wanted = {}
        for i in range(12):
            wanted[f"s{i}"] = push_image(a.url, "faulty/app", f"s{i}", f"faulty-{i}")
        for i in range(2):
            wanted[f"b{i}"] = push_big_image(a.url, "faulty/app", f"b{i}", tmp_path / f"l{i}.bin", 6 << 20)
        converged(target.url, "faulty/app", wanted, timeout=120)
        proxy.faults()
        final = status(a.url, "out")
        assert final["failed"] == 0, final["failures"]
        check = subprocess.run([os.environ.get("WHARF_BIN", "wharf"), "fsck", "--data-dir", str(tmp_path / "b")],
                               capture_output=True, text=True)
        assert "corrupt:" not in check.stdout and "missing file" not in check.stdout, check.stdout
    finally:
        proxy.close()
        a.stop()
        target.stop()


def test_an_active_active_pair_converges_without_a_loop(tmp_path):
    port_a, port_b = free_port(), free_port()
    a = source(tmp_path, ("to-b", f"http://127.0.0.1:{port_b}"), port=port_a, name="a")
    b = source(tmp_path, ("to-a", f"http://127.0.0.1:{port_a}"), port=port_b, name="b")
    try:
        pushed = {}
        for i in range(3):
            pushed[("pair/a", f"v{i}")] = push_image(a.url, "pair/a", f"v{i}", f"from-a-{i}")
            pushed[("pair/b", f"v{i}")] = push_image(b.url, "pair/b", f"v{i}", f"from-b-{i}")
        for (repository, tag), manifest in pushed.items():
            for site in (a, b):
                wait_until(lambda: digest(site.url, repository, tag) == manifest, what=f"{repository}:{tag}")

        def settled():
            done = (status(a.url, "to-b")["done"], status(b.url, "to-a")["done"])
            busy = sum(status(s.url, r)["queued"] + status(s.url, r)["running"] for s, r in ((a, "to-b"), (b, "to-a")))
            return done if busy == 0 else None
        before = wait_until(settled, what="empty queues")
        time.sleep(2)
        assert settled() == before, "tasks kept coming: replication loops"
        # Each side copied its own pushes, and at most looked once at each copy it received.
        assert before[0] <= 6 and before[1] <= 6, before
        # A reconcile of the converged pair finds nothing to do.
        for site, rule in ((a, "to-b"), (b, "to-a")):
            report = requests.post(f"{site.url}/api/v1/replication/rules/{rule}/run", timeout=30).json()
            assert report["queued"] == 0 and report["tags"] >= 3, report
    finally:
        a.stop()
        b.stop()


DISTRIBUTION = """
version: 0.1
log: {{ level: warn }}
storage:
  filesystem: {{ rootdirectory: {root} }}
  delete: {{ enabled: true }}
http: {{ addr: "127.0.0.1:{port}" }}
"""


def test_a_pull_rule_mirrors_docker_registry_on_a_schedule(tmp_path):
    port = free_port()
    config = tmp_path / "distribution.yml"
    config.write_text(DISTRIBUTION.format(root=tmp_path / "distribution", port=port))
    log = open(tmp_path / "distribution.log", "wb")
    distribution = subprocess.Popen([require("docker-registry"), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    remote = f"http://127.0.0.1:{port}"
    mirror = None
    try:
        wait_until(lambda: _answers(remote + "/v2/"), what="docker-registry", timeout=20)
        layout = Layout(tmp_path / "layout")
        layout.multi_arch("v1")
        run(require("skopeo"), "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
            f"oci:{layout.path}:v1", f"docker://127.0.0.1:{port}/lib/app:v1")
        subject = digest(remote, "lib/app", "v1") or _index_digest(remote, "lib/app", "v1")
        signature = _push_fallback_referrer(remote, "lib/app", subject)
        push_image(remote, "other/app", "v1", "not-mirrored")

        rules = tmp_path / "mirror.yaml"
        rules.write_text(SETTINGS + f"""
    - name: from-distribution
      direction: pull
      remote: {{ url: "{remote}" }}
      repositories: {{ include: ["lib/**"] }}
      triggers: [schedule]
      interval: 1s
""")
        mirror = Server(tmp_path / "mirror", args=["--config", rules], log_level="info")
        wait_until(lambda: _index_digest(mirror.url, "lib/app", "v1") == subject, what="the mirror", timeout=60)
        listed = requests.get(f"{mirror.url}/v2/lib/app/referrers/{subject}", timeout=10).json()["manifests"]
        assert [m["digest"] for m in listed] == [signature]
        assert digest(mirror.url, "other/app", "v1") is None, "a repository outside the rule was mirrored"

        # A tag added to the remote later arrives with the next scheduled run.
        later = push_image(remote, "lib/app", "v2", "later")
        wait_until(lambda: digest(mirror.url, "lib/app", "v2") == later, what="the later tag", timeout=30)
    finally:
        if mirror:
            mirror.stop()
        distribution.terminate()
        distribution.wait(timeout=10)
        log.close()


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _index_digest(url, repository, tag):
    answer = requests.head(f"{url}/v2/{repository}/manifests/{tag}",
                           headers={"Accept": "application/vnd.oci.image.index.v1+json"}, timeout=10)
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def _push_fallback_referrer(url, repository, subject):
    """A signature of `subject` on a registry without the referrers API: the manifest, and the OCI 1.1 fallback
    tag `sha256-<hex>` naming it in an index."""
    empty = b"{}"
    upload(url, repository, empty)
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": subject, "size": 1},
    }).encode()
    assert requests.put(f"{url}/v2/{repository}/manifests/{sha256(signature)}", data=signature,
                        headers={"Content-Type": MANIFEST}).status_code == 201
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MANIFEST, "digest": sha256(signature), "size": len(signature),
                       "artifactType": "application/vnd.example.signature.v1"}],
    }).encode()
    answer = requests.put(f"{url}/v2/{repository}/manifests/sha256-{subject[7:]}", data=index,
                          headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert answer.status_code == 201, answer.text
    return sha256(signature)
