"""SIGKILL at random moments during a storm of concurrent pushes (monolithic and chunked blobs, manifests).
After every restart: each push that got its 201 is present and byte-exact, and `wharf fsck` finds no corrupt
blob and no metadata row without its file; files a crash left without a row are garbage, and one collection
reclaims them all. Bounded: ROUNDS rounds of at most ~1.5 s of load each."""

import json
import os
import random
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request

from conftest import Server, wharf_binary
from images import sha256

ROUNDS = 20


def request(url, method, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.status, response.headers, response.read()


def push_monolithic(base, repo, data):
    status, _, _ = request(f"{base}/v2/{repo}/blobs/uploads/?digest={sha256(data)}", "POST", data)
    return status


def push_chunked(base, repo, data):
    _, headers, _ = request(f"{base}/v2/{repo}/blobs/uploads/", "POST")
    location = base + headers["Location"]
    step = len(data) // 3 + 1
    for start in range(0, len(data), step):
        chunk = data[start:start + step]
        _, headers, _ = request(location, "PATCH", chunk, {"Content-Range": f"{start}-{start + len(chunk) - 1}"})
        location = base + headers["Location"]
    status, _, _ = request(f"{location}?digest={sha256(data)}", "PUT")
    return status


def push_manifest(base, repo, tag, config_digest):
    body = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [],
    }).encode()
    status, _, _ = request(f"{base}/v2/{repo}/manifests/{tag}", "PUT", body,
                           {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    return status, body


def storm(base, acknowledged, stop, worker):
    """Pushes until the server dies; records what was acknowledged with 201."""
    rng = random.Random(worker)
    n = 0
    while not stop.is_set():
        n += 1
        repo = f"crash/w{worker}"
        data = os.urandom(rng.choice([1 << 10, 256 << 10, 2 << 20]))
        try:
            push = push_chunked if rng.random() < 0.5 else push_monolithic
            if push(base, repo, data) == 201:
                acknowledged.append(("blob", repo, sha256(data), data))
            if push_monolithic(base, repo, b"{}") == 201:
                status, body = push_manifest(base, repo, f"t{worker}-{n}", sha256(b"{}"))
                if status == 201:
                    acknowledged.append(("manifest", repo, f"t{worker}-{n}", body))
        except (urllib.error.URLError, ConnectionError, OSError):
            return  # the server was killed mid-request: not acknowledged


def test_sigkill_during_pushes_loses_nothing_acknowledged(tmp_path):
    data_dir = tmp_path / "data"
    acknowledged = []
    rng = random.Random(2026)
    for _ in range(ROUNDS):
        server = Server(data_dir)
        stop = threading.Event()
        workers = [threading.Thread(target=storm, args=(server.url, acknowledged, stop, i)) for i in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.1, 1.5))
        server.kill()
        stop.set()
        for worker in workers:
            worker.join(timeout=15)

    assert len(acknowledged) > ROUNDS, "the storm acknowledged too few pushes to prove anything"
    server = Server(data_dir)
    try:
        for kind, repo, reference, data in acknowledged:
            if kind == "blob":
                _, _, body = request(f"{server.url}/v2/{repo}/blobs/{reference}", "GET")
            else:
                _, _, body = request(f"{server.url}/v2/{repo}/manifests/{reference}", "GET")
            assert body == data, f"{kind} {repo} {reference} changed after a crash"
    finally:
        server.stop()

    # A file no row names, as a kill between a commit's rename and its metadata write leaves one (the storm may or
    # may not have left its own): garbage, not damage.
    planted = data_dir / "blobs" / "sha256" / "00" / ("00" * 32)
    planted.parent.mkdir(exist_ok=True)
    planted.write_bytes(b"renamed, never committed")
    check = fsck(data_dir)
    assert "corrupt:" not in check.stdout, check.stdout
    assert "missing file for blob row" not in check.stdout, check.stdout
    assert f"garbage: orphan blob file {planted}" in check.stdout, check.stdout
    assert check.returncode == 0, check.stdout + check.stderr

    # One garbage collection run reclaims every orphan older than the grace period.
    server = Server(data_dir, extra_env={"WHARF_GC_GRACE": "1s"})
    time.sleep(1.1)
    try:
        gc = subprocess.run([wharf_binary(), "gc", "--url", server.url], capture_output=True, text=True, check=True)
        assert "gc: freed" in gc.stdout, gc.stdout
    finally:
        server.stop()
    check = fsck(data_dir)
    assert check.returncode == 0 and "garbage:" not in check.stdout, check.stdout
    assert unnamed_files(data_dir) == set(), "files that no row names are left after a collection"


def fsck(data_dir):
    return subprocess.run([wharf_binary(), "fsck", "--data-dir", str(data_dir)], capture_output=True, text=True)


def unnamed_files(data_dir):
    """Blob files that no row of the metadata database (read with SQLite itself) names."""
    with sqlite3.connect(f"file:{data_dir / 'wharf.db'}?mode=ro", uri=True) as db:
        rows = {digest for (digest,) in db.execute("SELECT digest FROM blobs")}
    files = {f"{path.parent.parent.name}:{path.name}" for path in (data_dir / "blobs").glob("*/*/*")}
    return files - rows
