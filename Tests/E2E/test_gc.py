"""Online garbage collection through `wharf gc` (the admin API), with skopeo pushing and pulling meanwhile."""

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

from conftest import require, run, wharf_binary
from images import Layout


def gc(server, *args):
    return run(wharf_binary(), "gc", "--url", server.url, *args).stdout


def test_gc_frees_unreferenced_blobs_online(tmp_path, new_registry):
    server = new_registry(tmp_path / "data", extra_env={"WHARF_GC_GRACE": "1s"})
    skopeo = [require("skopeo"), "--insecure-policy"]
    try:
        layout = Layout(tmp_path / "layout")
        layout.image({"keep.txt": b"kept\n"}, tag="keep")
        gone = layout.image({"gone.txt": b"deleted image\n"}, tag="gone", arch="arm64")
        for tag in ("keep", "gone"):
            run(*skopeo, "copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:{tag}",
                f"docker://{server.host}/gc/app:{tag}")
        run(*skopeo, "delete", "--tls-verify=false", f"docker://{server.host}/gc/app:gone")
        time.sleep(1.2)

        gone_manifest = json.loads((layout.path / "blobs" / "sha256" / gone["digest"][7:]).read_bytes())
        doomed = {gone["digest"], gone_manifest["config"]["digest"], gone_manifest["layers"][0]["digest"]}
        dry = gc(server, "--dry-run")
        assert "would free 3 blobs" in dry and all(d in dry for d in doomed), dry

        # Pushes and pulls go on while garbage is collected over and over.
        stop = threading.Event()
        failures = []

        def traffic():
            n = 0
            while not stop.is_set():
                n += 1
                for args in (["copy", "--dest-tls-verify=false", f"oci:{layout.path}:keep", f"docker://{server.host}/gc/app:k{n}"],
                             ["inspect", "--tls-verify=false", f"docker://{server.host}/gc/app:keep"]):
                    result = subprocess.run(skopeo + args, capture_output=True, text=True)
                    if result.returncode != 0:
                        failures.append(result.stderr)

        worker = threading.Thread(target=traffic)
        worker.start()
        freed = [gc(server) for _ in range(10)]
        stop.set()
        worker.join()
        assert failures == []
        assert "freed 3 blobs" in freed[0], freed[0]

        for digest in doomed:
            request = urllib.request.Request(f"{server.url}/v2/gc/app/blobs/{digest}", method="HEAD")
            try:
                urllib.request.urlopen(request)
                raise AssertionError(f"{digest} survived garbage collection")
            except urllib.error.HTTPError as error:
                assert error.code == 404
        run(*skopeo, "copy", "--src-tls-verify=false", f"docker://{server.host}/gc/app:keep", f"oci:{tmp_path / 'out'}:keep")
        # Each instance of a cluster counts what it collected.
        deleted = 0
        for instance in getattr(server, "instances", [server]):
            metrics = urllib.request.urlopen(f"{instance.url}/metrics").read().decode()
            deleted += int(float(re.search(r"^wharf_gc_blobs_deleted_total (\S+)$", metrics, re.M).group(1)))
        assert deleted == 3
    finally:
        server.stop()
    env = dict(os.environ, **server.env) if hasattr(server, "instances") else None  # a cluster's S3 and PostgreSQL
    check = subprocess.run([wharf_binary(), "fsck", "--data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                           env=env)
    assert check.returncode == 0, check.stdout
