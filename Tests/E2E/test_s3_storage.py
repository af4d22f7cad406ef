"""`storage.driver: s3`: a live `wharf serve` keeping its blobs and upload sessions in a bucket of a real S3 server
(Ceph RGW), looked into with boto3 behind Wharf's back. The client suites run against such a server too
(`WHARF_E2E_STORAGE=s3`, see scripts/test.sh); this module holds what only S3 has."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import Server, bucket, new_bucket_name, require, run, s3_env, wharf_binary
from images import Layout, sha256

MARKER = b"WHARF-S3-PLAINTEXT-MARKER-8e2a"
SEGMENT = 8 << 20


@pytest.fixture(scope="module")
def s3(s3_endpoint):
    return bucket(s3_endpoint)


@pytest.fixture(scope="module")
def server(tmp_path_factory, s3_endpoint):
    """One S3-backed server for the module, encrypted (the default), with a garbage collection grace of 1 s."""
    name = new_bucket_name()
    env = {**s3_env(s3_endpoint, name), "WHARF_GC_GRACE": "1s"}
    server = Server(tmp_path_factory.mktemp("s3") / "data", extra_env=env)
    server.bucket, server.env = name, env
    yield server
    server.stop()


def http(server, method, path, data=None, headers=None):
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request) as response:
        return response.status, dict(response.headers), response.read()


def objects(s3, name, prefix=""):
    """Every key in the bucket under `prefix`, with its size."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return found


def holding(s3, name, needle):
    return [key for key in objects(s3, name) if needle in s3.get_object(Bucket=name, Key=key)["Body"].read()]


def chunked_upload(server, repo, data, chunk):
    """POST, then PATCHes of `chunk` bytes with Content-Range, then PUT ?digest: answers the blob's digest."""
    status, headers, _ = http(server, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    for start in range(0, len(data), chunk):
        part = data[start:start + chunk]
        status, headers, _ = http(server, "PATCH", location, part, {
            "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(part) - 1}"})
        assert status == 202 and headers["Range"] == f"0-{start + len(part) - 1}"
        location = headers["Location"]
    digest = sha256(data)
    separator = "&" if "?" in location else "?"
    assert http(server, "PUT", f"{location}{separator}digest={digest}")[0] == 201
    return digest


def test_the_bucket_holds_the_blobs_encrypted_and_ranges_read_through(server, s3, work):
    layout = Layout(work / "layout")
    layout.image({"secret.txt": MARKER * 4000}, tag="v1", marker=MARKER.decode())
    run(require("skopeo"), "--insecure-policy", "copy", "--preserve-digests", "--dest-tls-verify=false",
        f"oci:{layout.path}:v1", f"docker://{server.host}/s3/enc:v1")
    # A chunked upload of three segments in PATCHes of 3 MiB, one of them left open mid-way.
    data = (MARKER * (3 * SEGMENT // len(MARKER) + 1))[:3 * SEGMENT - 12345]
    digest = chunked_upload(server, "s3/enc", data, 3 << 20)
    status, headers, _ = http(server, "POST", "/v2/s3/enc/blobs/uploads/")
    http(server, "PATCH", headers["Location"], MARKER * 1000, {"Content-Type": "application/octet-stream"})

    keys = objects(s3, server.bucket)
    assert all(key.startswith("registry/") for key in keys)
    assert any(key.startswith("registry/uploads/") for key in keys), "the open session keeps its tail in the bucket"
    assert holding(s3, server.bucket, MARKER) == []
    # Encrypted objects are larger than their blobs: header and chunk tags.
    stored = keys[f"registry/blobs/sha256/{digest[7:9]}/{digest[7:]}"]
    assert stored > len(data)

    for start, end in ((0, 0), (SEGMENT - 100, SEGMENT + 100), (len(data) - 70_000, len(data) - 1)):
        status, headers, body = http(server, "GET", f"/v2/s3/enc/blobs/{digest}", headers={"Range": f"bytes={start}-{end}"})
        assert status == 206 and body == data[start:end + 1], (start, end)
        assert headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    status, _, body = http(server, "GET", f"/v2/s3/enc/blobs/{digest}")
    assert status == 200 and sha256(body) == digest


def test_a_session_outlives_a_killed_server(tmp_path, s3_endpoint, s3):
    name = new_bucket_name()
    data = bytes(range(256)) * (SEGMENT // 256 * 2 + 1000)
    first = Server(tmp_path / "data", extra_env=s3_env(s3_endpoint, name))
    _, headers, _ = http(first, "POST", "/v2/s3/crash/blobs/uploads/")
    location = headers["Location"]
    cut = SEGMENT + 4096
    http(first, "PATCH", location, data[:cut], {"Content-Type": "application/octet-stream"})
    first.kill()
    second = Server(tmp_path / "data", extra_env=s3_env(s3_endpoint, name), port=first.port)
    try:
        status, headers, _ = http(second, "GET", location)
        assert status == 204 and headers["Range"] == f"0-{cut - 1}"
        http(second, "PATCH", location, data[cut:], {"Content-Type": "application/octet-stream",
                                                     "Content-Range": f"{cut}-{len(data) - 1}"})
        digest = sha256(data)
        assert http(second, "PUT", f"{location}?digest={digest}")[0] == 201
        assert sha256(http(second, "GET", f"/v2/s3/crash/blobs/{digest}")[2]) == digest
        assert list(objects(s3, name, "registry/uploads/")) == []
    finally:
        second.stop()


def fsck(server, *args):
    return subprocess.run([wharf_binary(), "fsck", "--data-dir", str(server.data_dir), *args], capture_output=True,
                          text=True, env={**os.environ, **server.env})


def test_gc_and_fsck_work_on_the_bucket(server, s3):
    kept = MARKER + b" kept"
    gone = MARKER + b" gone"
    for data in (kept, gone):
        assert http(server, "POST", f"/v2/s3/gc/blobs/uploads/?digest={sha256(data)}", data)[0] == 201
    key = f"registry/blobs/sha256/{sha256(gone)[7:9]}/{sha256(gone)[7:]}"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(kept),
                                      "size": len(kept)}, "layers": []}).encode()
    http(server, "PUT", "/v2/s3/gc/manifests/v1", manifest,
         {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert fsck(server).returncode == 0

    # Unreferenced and past the grace period: collected from the bucket.
    time.sleep(1.5)
    out = run(wharf_binary(), "gc", "--url", server.url).stdout
    assert f"deleted: {sha256(gone)}" in out and sha256(kept) not in out, out
    assert key not in objects(s3, server.bucket)
    assert http(server, "GET", f"/v2/s3/gc/blobs/{sha256(kept)}")[2] == kept

    # Damaged behind Wharf's back: found, and quarantined by --repair.
    damaged = f"registry/blobs/sha256/{sha256(kept)[7:9]}/{sha256(kept)[7:]}"
    body = bytearray(s3.get_object(Bucket=server.bucket, Key=damaged)["Body"].read())
    body[-5] ^= 0xFF
    s3.put_object(Bucket=server.bucket, Key=damaged, Body=bytes(body))
    found = fsck(server)
    assert found.returncode == 2 and f"corrupt: {sha256(kept)}" in found.stdout, found.stdout + found.stderr
    repaired = fsck(server, "--repair")
    assert "quarantined" in repaired.stdout, repaired.stdout + repaired.stderr
    assert damaged not in objects(s3, server.bucket)
    assert any(key.startswith("registry/quarantine/") for key in objects(s3, server.bucket))
    with pytest.raises(urllib.error.HTTPError) as refused:
        http(server, "GET", f"/v2/s3/gc/blobs/{sha256(kept)}")
    assert refused.value.code == 404


def test_a_wrong_secret_stops_the_server_at_start_with_s3s_words(tmp_path, s3_endpoint):
    env = {**s3_env(s3_endpoint, new_bucket_name()), "WHARF_S3_SECRET_KEY": "not-the-secret"}
    with pytest.raises(RuntimeError) as failed:
        Server(tmp_path / "data", extra_env=env)
    assert "SignatureDoesNotMatch" in str(failed.value) or "InvalidAccessKeyId" in str(failed.value), failed.value


def test_redirected_blob_gets_are_served_by_the_bucket(tmp_path, s3_endpoint, work):
    """`storage.redirect` with encryption off: a blob GET is a 307 to a presigned URL of the object, which needs no
    credentials and takes a Range; HEAD, manifests and P2P agents' GETs are still Wharf's, and skopeo pulls through
    the redirects."""
    import requests
    env = {**s3_env(s3_endpoint, new_bucket_name()), "WHARF_STORAGE_REDIRECT": "on", "WHARF_ENCRYPTION": "off"}
    server = Server(tmp_path / "data", extra_env=env)
    try:
        data = os.urandom(100_000)
        blob = f"{server.url}/v2/team/redirect/blobs/{sha256(data)}"
        assert requests.post(f"{server.url}/v2/team/redirect/blobs/uploads/?digest={sha256(data)}", data=data,
                             timeout=10).status_code == 201
        answer = requests.get(blob, allow_redirects=False, timeout=10)
        assert answer.status_code == 307 and answer.headers["Docker-Content-Digest"] == sha256(data)
        location = answer.headers["Location"]
        assert location.startswith(s3_endpoint + "/") and "X-Amz-Expires=300" in location
        assert requests.get(location, timeout=10).content == data
        ranged = requests.get(location, headers={"Range": "bytes=10-19"}, timeout=10)
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        assert requests.get(location.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403
        agent = requests.get(blob, headers={"Wharf-P2P-Agent": "1"}, allow_redirects=False, timeout=10)
        assert agent.status_code == 200 and agent.content == data  # P2P agents fetch from Wharf itself
        head = requests.head(blob, allow_redirects=False, timeout=10)
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
        assert requests.get(f"{server.url}/v2/team/other/blobs/{sha256(data)}", allow_redirects=False,
                            timeout=10).status_code == 404  # another repository may not read it: no URL either

        layout = Layout(work / "src")
        layout.image({"a.txt": b"redirected\n"}, big_layer=1 << 20, tag="v1")
        skopeo = [require("skopeo"), "--insecure-policy", "copy", "--preserve-digests"]
        run(*skopeo, "--dest-tls-verify=false", f"oci:{layout.path}:v1", f"docker://{server.host}/team/app:v1")
        run(*skopeo, "--src-tls-verify=false", f"docker://{server.host}/team/app:v1", f"oci:{work / 'dst'}:v1")
        for path in (work / "dst" / "blobs" / "sha256").iterdir():
            assert sha256(path.read_bytes()) == "sha256:" + path.name
    finally:
        server.stop()

    # Encrypted objects are not the blob's bytes: the combination is refused at start, saying why.
    with pytest.raises(RuntimeError) as refused:
        Server(tmp_path / "again", extra_env={**env, "WHARF_ENCRYPTION": "on"})
    assert "storage.redirect needs encryption off" in str(refused.value)
