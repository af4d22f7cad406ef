"""A cluster of three instances (`cluster.Cluster`) on an S3 bucket and a PostgreSQL database, behind nginx. The module
starts its own RGW and PostgreSQL, which tests stop and start again."""

import base64
import json
import os
import re
import time
import urllib.error

import pytest

from cluster import Cluster
from conftest import (Server, encryption_key, new_bucket_name, postgres_env, postgres_server, psql, require, run,
                      s3_env, s3_server, wharf_binary)
from images import Layout, sha256
from test_s3_storage import chunked_upload, http

SEGMENT = 8 << 20


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def rgw(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("rgw")) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, rgw, postgres):
    env = {**s3_env(rgw.url, new_bucket_name()), **postgres_env(postgres.url), "WHARF_GC_GRACE": "1s",
           # One key for the cluster, as every instance must read what any other encrypted.
           "WHARF_ENCRYPTION_KEY": encryption_key()}
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), env)
    yield cluster
    cluster.stop()


def skopeo(*args):
    return run(require("skopeo"), "--insecure-policy", *args)


def pull_digests(host, ref, work):
    """Pulls with skopeo into a fresh layout; answers the digest of every blob it wrote, checked against its name."""
    target = work / f"pull-{host.replace(':', '_')}-{time.monotonic_ns()}"
    skopeo("copy", "--src-tls-verify=false", f"docker://{host}/{ref}", f"oci:{target}:x")
    blobs = {}
    for path in (target / "blobs" / "sha256").iterdir():
        assert sha256(path.read_bytes()) == "sha256:" + path.name
        blobs["sha256:" + path.name] = path.stat().st_size
    return blobs


def test_a_push_spread_over_instances_reads_back_from_each(cluster, work):
    layout = Layout(work / "src")
    layout.image({"a.txt": b"cluster\n"}, big_layer=3 << 20, tag="v1")
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
           f"docker://{cluster.host}/team/app:v1")
    # An upload whose POST, PATCHes and PUT each go to the next instance.
    data = os.urandom(2 * SEGMENT + 12345)
    digest = chunked_upload(cluster, "team/app", data, 3 << 20)
    for instance in cluster.instances:
        assert http(instance, "GET", f"/v2/team/app/blobs/{digest}")[2] == data
        assert json.loads(http(instance, "GET", "/v2/team/app/tags/list")[2])["tags"] == ["v1"]
        assert "team/app" in json.loads(http(instance, "GET", "/v2/_catalog")[2])["repositories"]
        assert len(pull_digests(instance.host, "team/app:v1", work)) == 4  # config, two layers, manifest


def test_an_instance_killed_mid_upload_loses_nothing_acknowledged(cluster, work):
    data = os.urandom(3 * SEGMENT)
    status, headers, _ = http(cluster, "POST", "/v2/team/crash/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    chunk = 4 << 20
    for start in range(0, len(data), chunk):
        if start == 2 * chunk:
            cluster.instances[0].kill()  # with a session open, whichever instance wrote it last
        part = data[start:start + chunk]
        status, headers, _ = http(cluster, "PATCH", location, part, {
            "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(part) - 1}"})
        assert status == 202 and headers["Range"] == f"0-{start + len(part) - 1}"
        location = headers["Location"]
    digest = sha256(data)
    assert http(cluster, "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}")[0] == 201
    for instance in cluster.instances[1:]:
        assert http(instance, "GET", f"/v2/team/crash/blobs/{digest}")[2] == data
    # The killed instance comes back on its port and serves what the others committed meanwhile.
    dead = cluster.instances[0]
    cluster.instances[0] = Server(dead.data_dir, extra_env=cluster.env, port=dead.port)
    assert http(cluster.instances[0], "GET", f"/v2/team/crash/blobs/{digest}")[2] == data


def test_garbage_collected_on_one_instance_after_a_delete_on_another(cluster, work):
    keep, drop = Layout(work / "keep"), Layout(work / "drop")
    keep.image({"keep.txt": b"kept\n"}, tag="v1")
    drop_desc = drop.image({"drop.txt": os.urandom(4096)}, tag="v1")
    for layout, repo in ((keep, "gc/keep"), (drop, "gc/drop")):
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
               f"docker://{cluster.host}/{repo}:v1")
    manifest = json.loads((drop.path / "blobs" / "sha256" / drop_desc["digest"][7:]).read_bytes())
    layer = manifest["layers"][0]["digest"]
    a, b, c = cluster.instances
    assert http(a, "DELETE", f"/v2/gc/drop/manifests/{drop_desc['digest']}")[0] == 202
    time.sleep(1.5)  # past the grace period of 1 s
    report = json.loads(http(b, "POST", "/api/v1/gc")[2])
    assert layer in report["digests"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        http(c, "GET", f"/v2/gc/drop/blobs/{layer}")
    assert missing.value.code == 404
    assert len(pull_digests(c.host, "gc/keep:v1", work)) == 3


def test_the_audit_log_covers_every_instance(cluster, postgres, tmp_path):
    """Each instance writes its own hash-chained records into PostgreSQL, the one killed and restarted in an earlier
    test included: the query API of any instance answers for all of them, `wharf audit verify` checks every chain,
    `wharf audit export` reads them all, and a record edited in the database is found, with its instance named."""
    blob = os.urandom(2000)
    digest = sha256(blob)
    for instance in cluster.instances:
        assert http(instance, "POST", f"/v2/audit/app/blobs/uploads/?digest={digest}", blob)[0] == 201
        assert http(instance, "GET", f"/v2/audit/app/blobs/{digest}")[2] == blob
    time.sleep(0.5)  # a read's record waits up to the flush interval (100 ms) on the instance that served it
    chains = set()
    for instance in cluster.instances:
        records = json.loads(http(instance, "GET", "/api/v1/audit?repository=audit/app&limit=1000")[2])["records"]
        assert sorted(r["action"] for r in records) == ["pull-blob"] * 3 + ["push-blob"] * 3
        chains |= {r["instance"] for r in records}
    assert len(chains) == 3
    # Nothing of it is in an instance's data directory but the id of its chain.
    for instance in cluster.instances:
        assert sorted(p.name for p in (instance.data_dir / "audit").iterdir()) == ["instance"]
        assert (instance.data_dir / "audit" / "instance").read_text() in chains

    env = dict(os.environ, **cluster.env)
    cli = ["--data-dir", tmp_path / "cli"]
    verified = run(wharf_binary(), "audit", "verify", *cli, env=env).stdout
    assert verified.count(", intact; last hash ") >= 3 and "instances, intact" in verified, verified
    exported = [json.loads(line) for line in run(wharf_binary(), "audit", "export", *cli, env=env).stdout.splitlines()]
    assert {r["instance"] for r in exported if r.get("repository") == "audit/app"} == chains

    database = cluster.env["WHARF_POSTGRES_URL"].rsplit("/", 1)[1]
    edited = psql(postgres.url, """UPDATE audit_records SET line = replace(line, '"status":200', '"status":404')
        WHERE id = (SELECT min(id) FROM audit_records WHERE repository = 'audit/app' AND action = 'pull-blob')
        RETURNING instance, seq""", database=database).split("\n")[0]
    instance, seq = edited.split("|")
    try:
        damaged = run(wharf_binary(), "audit", "verify", *cli, env=env, check=False)
        assert damaged.returncode == 1
        assert f"PROBLEM: instance {instance} line " in damaged.stdout
        assert f"does not chain to the record before it (record {seq})" in damaged.stdout
    finally:
        psql(postgres.url, f"""UPDATE audit_records SET line = replace(line, '"status":404', '"status":200')
            WHERE instance = '{instance}' AND seq = {seq}""", database=database)



def test_master_keys_rotate_across_the_cluster(tmp_path, rgw, postgres, work):
    """The operator gives every instance the new master key, the old one as a previous key, restarts them and rotates
    through any instance: every object in the bucket is written again under the new key (a new key made by one
    instance is refused). Once the old key is retired, instances started without it serve every blob."""
    old, new = encryption_key(), encryption_key()
    env = {**s3_env(rgw.url, new_bucket_name()), **postgres_env(postgres.url)}
    for stage in ("before", "during", "after"):
        (tmp_path / stage).mkdir()
    nodes = Cluster(tmp_path / "before", {**env, "WHARF_ENCRYPTION_KEY": old}, count=2)
    try:
        layout = Layout(work / "keys")
        layout.image({"keys.txt": b"rotated\n"}, big_layer=6 << 20, tag="v1")  # past the 5 MiB sent through Wharf
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
               f"docker://{nodes.host}/keys/app:v1")
        before = json.loads(http(nodes, "GET", "/api/v1/keys")[2])
        old_id = before["active"]
        assert before["keys"] == {old_id: 4} and before["unencrypted"] == 0  # config, two layers, manifest
        with pytest.raises(urllib.error.HTTPError) as refused:
            http(nodes, "POST", "/api/v1/keys/rotate")
        assert refused.value.code == 409
    finally:
        nodes.stop()

    nodes = Cluster(tmp_path / "during", {**env, "WHARF_ENCRYPTION_KEY": new, "WHARF_ENCRYPTION_PREVIOUS_KEYS": old},
                    count=2)
    try:
        report = json.loads(http(nodes, "POST", "/api/v1/keys/rotate?newKey=false")[2])
        assert report["rewrapped"] == 4 and report["active"] != old_id
        status = json.loads(http(nodes.instances[1], "GET", "/api/v1/keys")[2])
        assert status["keys"] == {old_id: 0, report["active"]: 4} and status["unreadable"] == []
        assert http(nodes.instances[0], "DELETE", f"/api/v1/keys/{old_id}")[0] == 204
    finally:
        nodes.stop()

    nodes = Cluster(tmp_path / "after", {**env, "WHARF_ENCRYPTION_KEY": new}, count=2)
    try:
        for instance in nodes.instances:
            assert len(pull_digests(instance.host, "keys/app:v1", work)) == 4
    finally:
        nodes.stop()


AUTH = """
auth:
  enabled: true
  policies:
    - { repositories: ["team/**"], role: push, users: [alice] }
    - { repositories: ["team/**"], role: pull, robots: [ci] }
"""


def test_users_robots_and_signing_keys_are_the_clusters(tmp_path, rgw, postgres):
    """With access control on, identities and token keys live in PostgreSQL: what `wharf users`, `wharf robots` and
    `wharf auth` change through any instance's configuration holds on every instance, and a token one signs opens
    the others."""
    import requests
    config = tmp_path / "wharf.yaml"
    config.write_text(AUTH)
    env = {**s3_env(rgw.url, new_bucket_name()), **postgres_env(postgres.url),
           "WHARF_ENCRYPTION_KEY": encryption_key()}

    def wharf(*args, **kwargs):
        return run(wharf_binary(), *args, "--config", config, "--data-dir", tmp_path / "cli",
                   env=dict(os.environ, **env), **kwargs)

    wharf("users", "add", "alice", "--password-stdin", input="alice-cluster-pw\n")
    secret = re.search(r"^(wharf_\S+)$", wharf("robots", "add", "ci").stdout, re.M).group(1)
    a, b = (Server(tmp_path / f"node{n}", extra_env=env, args=["--config", config]) for n in range(2))
    try:
        def token(server, user, password, scope):
            answer = requests.get(f"{server.url}/auth/token", params={"service": "wharf", "scope": scope},
                                  auth=(user, password), timeout=10)
            return answer.status_code, answer.json().get("token") if answer.ok else None

        def kid(token):
            header = token.split(".")[0]
            return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]

        # alice logs in on one instance and pushes with that token through the other; ci pulls it the other way.
        status, push = token(a, "alice", "alice-cluster-pw", "repository:team/app:pull,push")
        assert status == 200
        blob = os.urandom(1000)
        stored = requests.post(f"{b.url}/v2/team/app/blobs/uploads/?digest={sha256(blob)}", data=blob,
                               headers={"Authorization": f"Bearer {push}"}, timeout=10)
        assert stored.status_code == 201, stored.text
        status, pull = token(b, "robot$ci", secret, "repository:team/app:pull")
        assert status == 200
        assert requests.get(f"{a.url}/v2/team/app/blobs/{sha256(blob)}", headers={"Authorization": f"Bearer {pull}"},
                            timeout=10).content == blob
        # Nothing of it is in an instance's data directory.
        for node in (a, b):
            assert not (node.data_dir / "auth" / "identities.db").exists()
            assert not (node.data_dir / "auth" / "token-keys").exists()

        # A robot disabled and a password changed from the CLI: every instance refuses within about a second.
        wharf("robots", "disable", "ci")
        wharf("users", "passwd", "alice", "--password-stdin", input="alice-new-pw\n")
        time.sleep(1.2)
        for node in (a, b):
            assert token(node, "robot$ci", secret, "repository:team/app:pull")[0] == 401
            assert token(node, "alice", "alice-cluster-pw", "repository:team/app:pull")[0] == 401
            assert token(node, "alice", "alice-new-pw", "repository:team/app:pull")[0] == 200
        assert "alice" in wharf("users", "list").stdout

        # A key rotated from the CLI signs on each instance within its reload (10 s), and its tokens open the
        # others at once; tokens of the old key still do.
        old = kid(push)
        rotated = re.search(r"new active signing key (\w+)", wharf("auth", "rotate-signing-key").stdout).group(1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            fresh = token(b, "alice", "alice-new-pw", "repository:team/app:pull")[1]
            if kid(fresh) == rotated:
                break
            time.sleep(0.5)
        assert kid(fresh) == rotated
        for bearer in (fresh, push):
            assert requests.head(f"{a.url}/v2/team/app/blobs/{sha256(blob)}",
                                 headers={"Authorization": f"Bearer {bearer}"}, timeout=10).status_code == 200
        listed = wharf("auth", "signing-keys").stdout
        assert f"{rotated}\tES256\tactive" in listed and f"{old}\tES256\tverifies only" in listed
    finally:
        a.stop()
        b.stop()


def test_a_database_outage_is_a_503_and_the_cluster_resumes(cluster, postgres, work):
    postgres.stop()
    try:
        with pytest.raises(urllib.error.HTTPError) as outage:
            http(cluster, "POST", "/v2/team/outage/blobs/uploads/")
        assert outage.value.code == 503
        assert json.loads(outage.value.read())["errors"][0]["message"] == "the metadata database is unavailable"
    finally:
        postgres.start()
    for instance in cluster.instances:
        assert http(instance, "POST", "/v2/team/outage/blobs/uploads/")[0] == 202
    layout = Layout(work / "after")
    layout.image({"after.txt": b"after the outage\n"}, tag="v1")
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
           f"docker://{cluster.host}/team/outage:v1")
    assert len(pull_digests(cluster.instances[2].host, "team/outage:v1", work)) == 3


def test_an_object_storage_outage_is_a_503_and_the_cluster_resumes(cluster, rgw, tmp_path):
    kept = os.urandom(1000)
    assert http(cluster, "POST", f"/v2/team/s3-outage/blobs/uploads/?digest={sha256(kept)}", kept)[0] == 201
    rgw.stop_gateway()
    try:
        later = os.urandom(1000)
        for method, path, body in (("GET", f"/v2/team/s3-outage/blobs/{sha256(kept)}", None),
                                   ("POST", f"/v2/team/s3-outage/blobs/uploads/?digest={sha256(later)}", later)):
            with pytest.raises(urllib.error.HTTPError) as outage:
                http(cluster, method, path, body)
            assert outage.value.code == 503
            assert json.loads(outage.value.read())["errors"][0]["message"] == "the object storage is unavailable"
    finally:
        rgw.start_gateway()
    # Back without a restart: what was stored reads on every instance, and pushes go on.
    for instance in cluster.instances:
        assert http(instance, "GET", f"/v2/team/s3-outage/blobs/{sha256(kept)}")[2] == kept
    assert http(cluster, "POST", f"/v2/team/s3-outage/blobs/uploads/?digest={sha256(later)}", later)[0] == 201
    # Nothing the outage touched is damaged.
    checked = run(wharf_binary(), "fsck", "--data-dir", tmp_path, env=dict(os.environ, **cluster.env))
    assert "fsck: no damage found" in checked.stdout, checked.stdout
