"""The audit log with real clients: one record per request with the right fields, durable writes through a
SIGKILL storm, tampering found by `wharf audit verify`, queries, forwarding, X-Forwarded-For and a full disk."""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from conftest import Server, require, run, single_server_only, small_tmpfs, wharf_binary
from images import Layout, sha256


def skopeo_debug(*args):
    """Runs skopeo with --debug; returns the (method, path) of every request it sent to a plain-HTTP registry."""
    result = run(require("skopeo"), "--insecure-policy", "--debug", *args)
    sent = re.findall(r'msg="(GET|HEAD|PUT|POST|PATCH|DELETE) http://[^/]+(/[^"?]*)', result.stderr)
    return [(method, path) for method, path in sent]


def request(server, method, path, data=None, headers=None):
    """Sends one request; returns (status, headers, body) also for error statuses."""
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def records(server, **filters):
    """Every record matching the filters, newest first, following the API's cursors."""
    out, cursor = [], None
    while True:
        query = dict(filters, limit="1000", **({"cursor": cursor} if cursor else {}))
        status, _, body = request(server, "GET", "/api/v1/audit?" + urllib.parse.urlencode(query))
        assert status == 200, body
        page = json.loads(body)
        out += page["records"]
        cursor = page.get("next")
        if not cursor:
            return out


def settle():
    time.sleep(0.4)  # reads' records are group-committed within 100 ms


def verify(directory):
    return subprocess.run([wharf_binary(), "audit", "verify", "--dir", str(directory)], capture_output=True, text=True)


def audit_cli(server, directory, *args, check=True):
    """`wharf audit ARGS` on a server's log in `directory`, or on a cluster's (WHARF_E2E_CLUSTER) in its database."""
    if hasattr(server, "instances"):
        return run(wharf_binary(), "audit", *args, "--data-dir", directory.parent / "cli",
                   env=dict(os.environ, **server.env), check=check)
    return run(wharf_binary(), "audit", *args, "--dir", directory, check=check)


def test_every_action_by_real_clients_gives_exactly_one_record(tmp_path, new_registry):
    server = new_registry(tmp_path / "data")
    try:
        start = time.time()
        layout = Layout(tmp_path / "layout")
        top = layout.image({"audit.txt": b"who pulled this?\n"}, tag="v1")
        manifest_bytes = (layout.path / "blobs" / "sha256" / top["digest"][7:]).read_bytes()
        manifest = json.loads(manifest_bytes)
        ref = f"docker://{server.host}/audit/app:v1"
        sent = skopeo_debug("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:v1", ref)
        sent += skopeo_debug("copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref, f"docker://{server.host}/audit/copy:v1")
        sent += skopeo_debug("inspect", "--tls-verify=false", ref)
        sent += skopeo_debug("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'pulled'}:v1")
        sent += skopeo_debug("list-tags", "--tls-verify=false", f"docker://{server.host}/audit/app")
        sent += skopeo_debug("delete", "--tls-verify=false", f"docker://{server.host}/audit/copy:v1")
        run(wharf_binary(), "gc", "--url", server.url, "--dry-run")
        settle()

        everything = records(server)
        by_skopeo = [r for r in everything if r["userAgent"].startswith("skopeo/")]
        # Exactly one record per request skopeo sent, no more and no fewer.
        assert Counter((r["method"], r["path"]) for r in by_skopeo) == Counter(sent)
        assert len({r["id"] for r in everything}) == len(everything)
        for r in everything:
            assert r["client"] == "127.0.0.1" and r["actor"] == "anonymous" and r["actorKind"] == "anonymous"
            assert r["auth"] == "none" and r["durationMs"] >= 0 and len(r["id"]) == 32
            assert start - 1 <= time.mktime(time.strptime(r["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone <= time.time() + 1
        actions = {r["action"] for r in by_skopeo}
        assert {"ping", "push-blob", "push-manifest", "pull-manifest", "pull-blob", "mount", "list-tags", "delete-manifest"} <= actions

        pushed = [r for r in by_skopeo if r["action"] == "push-manifest" and r["repository"] == "audit/app"]
        assert len(pushed) == 1
        assert pushed[0]["tag"] == "v1" and pushed[0]["digest"] == top["digest"] and pushed[0]["status"] == 201
        assert pushed[0]["bytesIn"] == len(manifest_bytes) and pushed[0]["method"] == "PUT"
        layer = manifest["layers"][0]
        layer_pulls = [r for r in by_skopeo if r["action"] == "pull-blob" and r["method"] == "GET" and r["digest"] == layer["digest"]]
        assert layer_pulls and all(r["bytesOut"] == layer["size"] and r["status"] == 200 for r in layer_pulls)
        pulled = [r for r in by_skopeo if r["action"] == "pull-manifest" and r["method"] == "GET" and r.get("tag") == "v1"]
        assert pulled and all(r["digest"] == top["digest"] and r["bytesOut"] == len(manifest_bytes) for r in pulled)
        mounts = [r for r in by_skopeo if r["action"] == "mount"]
        assert mounts and all(r["status"] == 201 and r["detail"] == "mounted from audit/app" for r in mounts)
        assert all(r["repository"] == "audit/copy" for r in mounts)
        deleted = [r for r in by_skopeo if r["action"] == "delete-manifest"]
        assert len(deleted) == 1 and deleted[0]["digest"] == top["digest"] and deleted[0]["status"] == 202
        admin = [r for r in everything if r["action"] == "admin" and r["method"] == "POST"]
        assert len(admin) == 1 and admin[0]["path"] == "/api/v1/gc" and admin[0]["status"] == 200

        # The rest, request by request: each answer's X-Request-Id names exactly one record with the right fields.
        blob = b"a blob to delete"
        status, headers, _ = request(server, "POST", f"/v2/audit/app/blobs/uploads/?digest={sha256(blob)}", data=blob)
        assert status == 201
        cases = [
            ("GET", "/v2/_catalog", None, "catalog", 200, None, {}),
            ("GET", f"/v2/audit/app/referrers/{top['digest']}", None, "referrers", 200, None, {"digest": top["digest"]}),
            ("GET", "/v2/audit/app/manifests/nope", None, "pull-manifest", 404, "MANIFEST_UNKNOWN", {"tag": "nope"}),
            ("GET", "/v2/Bad_Name/tags/list", None, "other", 400, "NAME_INVALID", {}),
            ("DELETE", f"/v2/audit/app/blobs/{sha256(blob)}", None, "delete-blob", 202, None, {"digest": sha256(blob)}),
            ("DELETE", "/v2/audit/app/manifests/v1", None, "delete-tag", 202, None, {"tag": "v1", "digest": top["digest"]}),
        ]
        status, headers, _ = request(server, "POST", "/v2/audit/app/blobs/uploads/")
        upload = headers["Location"]
        cases += [
            ("GET", upload, None, "upload-status", 204, None, {}),
            ("PATCH", upload, b"12345", "push-blob", 202, None, {"bytesIn": 5}),
            ("DELETE", upload, None, "cancel-upload", 204, None, {}),
        ]
        for method, path, data, action, expected_status, error, fields in cases:
            status, headers, _ = request(server, method, path, data=data)
            assert status == expected_status, (method, path)
            # A read's record, and on a cluster an upload step's too, may still wait (up to 100 ms) on the instance
            # that served it: a query waits only for its own instance's.
            settle() if method == "GET" or hasattr(server, "instances") else None
            matching = [r for r in records(server) if r["id"] == headers["X-Request-Id"]]
            assert len(matching) == 1, (method, path)
            record = matching[0]
            assert (record["action"], record["status"], record.get("error")) == (action, expected_status, error), record
            assert record["method"] == method and record["path"] == path.split("?")[0]
            for key, value in fields.items():
                assert record[key] == value, (key, record)
            if error:
                assert record["bytesOut"] > 0
        # Probes and scrapes are not API requests and are not recorded.
        request(server, "GET", "/healthz")
        request(server, "GET", "/metrics")
        settle()
        assert not [r for r in records(server) if r["path"] in ("/healthz", "/metrics")]
    finally:
        server.stop()
    result = audit_cli(server, tmp_path / "data" / "audit", "verify", check=False)
    assert result.returncode == 0 and "intact" in result.stdout, result.stdout


@single_server_only("kills the one server and reads its log folder")
def test_sigkill_during_a_request_storm_leaves_a_log_that_verifies(tmp_path):
    server = Server(tmp_path / "data")
    acknowledged, stop = [], threading.Event()
    lock = threading.Lock()

    def pusher(n):
        i = 0
        while not stop.is_set():
            data = os.urandom(64) + f"{n}-{i}".encode()
            i += 1
            try:
                status, headers, _ = request(server, "POST", f"/v2/storm/{n}/blobs/uploads/?digest={sha256(data)}", data=data)
            except OSError:
                return
            if status == 201:
                with lock:
                    acknowledged.append(headers["X-Request-Id"])

    def puller():
        while not stop.is_set():
            try:
                request(server, "GET", "/v2/storm/0/tags/list")
            except OSError:
                return

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(4)] + [threading.Thread(target=puller) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) > 50

    audit_dir = tmp_path / "data" / "audit"
    result = verify(audit_dir)
    assert result.returncode == 0, result.stdout
    # Every write acknowledged before the kill has its record on disk.
    exported = run(wharf_binary(), "audit", "export", "--dir", audit_dir).stdout.splitlines()
    ids = {json.loads(line)["id"] for line in exported}
    assert set(acknowledged) <= ids

    # The restarted server continues the chain (cutting a torn record if the kill left one).
    server = Server(tmp_path / "data")
    try:
        status, _, _ = request(server, "DELETE", "/v2/storm/0/manifests/none")
        assert status == 404
        assert records(server, action="delete-tag")
    finally:
        server.stop()
    result = verify(audit_dir)
    assert result.returncode == 0 and "intact" in result.stdout, result.stdout


@single_server_only("edits the segment files of a server's log folder (test_cluster edits the database's)")
def test_verify_finds_edited_removed_and_swapped_records(tmp_path):
    server = Server(tmp_path / "data")
    for i in range(30):
        request(server, "GET", f"/v2/tamper/{i}/tags/list")
    server.stop()
    original = tmp_path / "data" / "audit"
    assert verify(original).returncode == 0

    def tampered(name, change):
        copy = tmp_path / name
        shutil.copytree(original, copy)
        segment = copy / "segment-000000000001.log"
        lines = segment.read_bytes().split(b"\n")
        change(lines)
        segment.write_bytes(b"\n".join(lines))
        result = verify(copy)
        assert result.returncode == 1, result.stdout
        return result.stdout

    def edit(lines):
        lines[9] = lines[9].replace(b"tamper/9", b"tamper/X")

    out = tampered("edited", edit)
    assert "segment-000000000001.log line 11 (record 11): does not chain to the record before it (record 10)" in out

    out = tampered("removed", lambda lines: lines.pop(14))
    assert "line 15 (record 16): expected record 15 here" in out

    def swap(lines):
        lines[4], lines[5] = lines[5], lines[4]

    out = tampered("swapped", swap)
    assert "line 5 (record 6): expected record 5 here" in out


def test_query_filters_pagination_and_cli(tmp_path, new_registry):
    server = new_registry(tmp_path / "data")
    try:
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        for i in range(25):
            request(server, "GET", f"/v2/query/a/manifests/missing-{i}")
        for i in range(5):
            request(server, "GET", "/v2/query/b/tags/list")
        settle()
        missing = records(server, repository="query/a", status="4xx", since=before)
        assert len(missing) == 25 and [r["tag"] for r in missing] == [f"missing-{i}" for i in reversed(range(25))]
        assert records(server, repository="query/a", status="2xx") == []
        assert len(records(server, action="list-tags", repository="query/b")) == 5
        assert records(server, until=before) == []

        everything = [r["id"] for r in records(server, repository="query/a")]
        status, headers, body = request(server, "GET", "/api/v1/audit?repository=query/a&limit=10")
        page = json.loads(body)
        assert status == 200 and len(page["records"]) == 10 and headers["Link"].endswith('rel="next"')
        status, _, body = request(server, "GET", headers["Link"][1:].split(">")[0])
        second = json.loads(body)
        assert [r["id"] for r in page["records"] + second["records"]] == everything[:20]
        for bad in ("status=abc", "since=yesterday", "limit=0", "limit=5000", "cursor=x"):
            status, _, body = request(server, "GET", f"/api/v1/audit?{bad}")
            assert status == 400 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED", bad

        table = run(wharf_binary(), "audit", "query", "--url", server.url, "--repository", "query/b", "--since", "1h").stdout
        assert table.splitlines()[0].split() == ["TIME", "ACTOR", "CLIENT", "ACTION", "REPOSITORY", "REFERENCE", "STATUS", "BYTES"]
        assert sum("list-tags" in line and "query/b" in line for line in table.splitlines()) == 5
        lines = run(wharf_binary(), "audit", "query", "--url", server.url, "--action", "pull-manifest", "--status", "404",
                    "--limit", "7", "--all", "--json").stdout.splitlines()
        assert len(lines) == 25 and all(json.loads(line)["error"] == "MANIFEST_UNKNOWN" for line in lines)
    finally:
        server.stop()
    exported = audit_cli(server, tmp_path / "data" / "audit", "export", "--since", before).stdout.splitlines()
    assert sum('"repository":"query/a"' in line for line in exported) == 25


@single_server_only("compares the forwarded records with the server's log folder")
def test_forwarding_to_a_file_and_to_syslog(tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    forward_file = tmp_path / "forwarded.jsonl"
    server = Server(tmp_path / "data", extra_env={
        "WHARF_AUDIT_FORWARD_FILE": str(forward_file),
        "WHARF_AUDIT_FORWARD_SYSLOG": f"udp://127.0.0.1:{listener.getsockname()[1]}",
    })
    try:
        for i in range(3):
            request(server, "GET", f"/v2/forward/{i}/tags/list")
        settle()
        messages = [listener.recv(65536).decode() for _ in range(3)]
    finally:
        server.stop()
        listener.close()
    stored = run(wharf_binary(), "audit", "export", "--dir", tmp_path / "data" / "audit").stdout.splitlines()
    assert forward_file.read_text().splitlines() == stored
    for message, line in zip(messages, stored):
        assert re.match(r"<110>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ wharf - audit - \{", message), message
        assert message.split(" - audit - ", 1)[1] == line


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path, new_registry):
    trusting = new_registry(tmp_path / "trusting", extra_env={"WHARF_AUDIT_TRUSTED_PROXIES": "127.0.0.0/8, 10.0.0.0/8"})
    plain = new_registry(tmp_path / "plain")
    try:
        for server in (trusting, plain):
            for xff in ("203.0.113.9", "198.51.100.7, 10.1.2.3", "spoofed, 192.0.2.1, 10.9.9.9", "not-an-address"):
                request(server, "GET", "/v2/", headers={"X-Forwarded-For": xff})
        settle()
        assert [r["client"] for r in reversed(records(trusting, action="ping"))] == ["203.0.113.9", "198.51.100.7", "192.0.2.1", "127.0.0.1"]
        assert {r["client"] for r in records(plain, action="ping")} == {"127.0.0.1"}
    finally:
        trusting.stop()
        plain.stop()


def test_audit_off_writes_no_log(tmp_path, new_registry):
    server = new_registry(tmp_path / "data", extra_env={"WHARF_AUDIT": "off"})
    try:
        status, headers, _ = request(server, "GET", "/v2/")
        assert status == 200 and "X-Request-Id" not in headers
        assert request(server, "GET", "/api/v1/audit")[0] == 404
    finally:
        server.stop()
    for instance in getattr(server, "instances", [server]):
        assert not (instance.data_dir / "audit").exists()


@pytest.fixture
def small_disk(tmp_path):
    with small_tmpfs(tmp_path / "disk", "16m") as mountpoint:
        yield mountpoint


@single_server_only("fills the disk of a server's log folder")
def test_a_full_audit_disk_refuses_writes_keeps_reads_and_loses_no_record(tmp_path, small_disk):
    server = Server(tmp_path / "data", extra_env={"WHARF_AUDIT_DIR": str(small_disk / "audit")})
    try:
        blob = b"before the disk filled"
        assert request(server, "POST", f"/v2/full/app/blobs/uploads/?digest={sha256(blob)}", data=blob)[0] == 201
        filler = small_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        # The segment's last page still has room for a few records; then a write's record cannot be made durable,
        # and the write is answered 503 (its record waits in memory).
        for _ in range(100):
            data = os.urandom(32)
            status, headers, body = request(server, "POST", f"/v2/full/app/blobs/uploads/?digest={sha256(data)}", data=data)
            if status != 201:
                break
        assert status == 503 and "audit log cannot be written" in body.decode()
        failed_id = headers["X-Request-Id"]
        # Reads go on (their records wait in memory), and writes are refused before they change anything.
        for _ in range(3):
            assert request(server, "GET", f"/v2/full/app/blobs/{sha256(blob)}")[2] == blob
        # From then on writes are refused before they change anything.
        refused = os.urandom(32)
        status, headers, body = request(server, "POST", f"/v2/full/app/blobs/uploads/?digest={sha256(refused)}", data=refused)
        assert status == 503 and json.loads(body)["errors"][0]["code"] == "INTERNAL_ERROR"
        refused_id = headers["X-Request-Id"]
        assert request(server, "HEAD", f"/v2/full/app/blobs/{sha256(refused)}")[0] == 404

        filler.unlink()
        deadline = time.time() + 10
        while request(server, "POST", f"/v2/full/app/blobs/uploads/?digest={sha256(refused)}", data=refused)[0] != 201:
            assert time.time() < deadline
            time.sleep(0.2)
        settle()
        everything = records(server)
        assert any(r["id"] == failed_id and r["status"] == 503 for r in everything)
        assert any(r["id"] == refused_id and r["status"] == 503 for r in everything)
        assert sum(r["action"] == "pull-blob" and r["status"] == 200 for r in everything) >= 3
    finally:
        server.stop()
    assert verify(small_disk / "audit").returncode == 0
