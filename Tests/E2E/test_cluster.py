"""A cluster: three `wharf serve` instances sharing an S3 bucket (Ceph RGW) and a PostgreSQL database, behind nginx
(round robin, so consecutive requests of one upload land on different instances). The module starts its own
PostgreSQL, which one test stops and starts again."""

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from conftest import Server, free_port, new_bucket_name, postgres_env, postgres_server, require, run, s3_env
from images import Layout, sha256
from test_s3_storage import chunked_upload, http

SEGMENT = 8 << 20
NGINX = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream wharf {{
        {servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {{
            proxy_pass http://wharf;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            # An instance that refuses the connection never saw the request: the next one takes it.
            proxy_next_upstream error timeout non_idempotent;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_endpoint, postgres):
    root = tmp_path_factory.mktemp("cluster")
    env = {**s3_env(s3_endpoint, new_bucket_name()), **postgres_env(postgres.url), "WHARF_GC_GRACE": "1s",
           # One key for the cluster, as every instance must read what any other encrypted.
           "WHARF_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()}
    instances = [Server(root / f"node{n}", extra_env=env) for n in range(3)]
    port = free_port()
    (root / "lb").mkdir()
    conf = root / "lb" / "nginx.conf"
    conf.write_text(NGINX.format(
        user="user root;" if os.geteuid() == 0 else "", dir=root / "lb", port=port,
        servers="\n        ".join(f"server {i.host} max_fails=1 fail_timeout=60s;" for i in instances)))
    nginx = subprocess.Popen([require("nginx"), "-p", root / "lb", "-c", conf, "-g", "daemon off;"])
    lb = SimpleNamespace(url=f"http://127.0.0.1:{port}", host=f"127.0.0.1:{port}")
    for _ in range(100):
        try:
            urllib.request.urlopen(lb.url + "/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield SimpleNamespace(lb=lb, instances=instances, env=env)
    nginx.terminate()
    nginx.wait()
    for instance in instances:
        if instance.process.poll() is None:
            instance.stop()


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
           f"docker://{cluster.lb.host}/team/app:v1")
    # An upload whose POST, PATCHes and PUT each go to the next instance.
    data = os.urandom(2 * SEGMENT + 12345)
    digest = chunked_upload(cluster.lb, "team/app", data, 3 << 20)
    for instance in cluster.instances:
        assert http(instance, "GET", f"/v2/team/app/blobs/{digest}")[2] == data
        assert json.loads(http(instance, "GET", "/v2/team/app/tags/list")[2])["tags"] == ["v1"]
        assert "team/app" in json.loads(http(instance, "GET", "/v2/_catalog")[2])["repositories"]
        assert len(pull_digests(instance.host, "team/app:v1", work)) == 4  # config, two layers, manifest


def test_an_instance_killed_mid_upload_loses_nothing_acknowledged(cluster, work):
    data = os.urandom(3 * SEGMENT)
    status, headers, _ = http(cluster.lb, "POST", "/v2/team/crash/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    chunk = 4 << 20
    for start in range(0, len(data), chunk):
        if start == 2 * chunk:
            cluster.instances[0].kill()  # with a session open, whichever instance wrote it last
        part = data[start:start + chunk]
        status, headers, _ = http(cluster.lb, "PATCH", location, part, {
            "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(part) - 1}"})
        assert status == 202 and headers["Range"] == f"0-{start + len(part) - 1}"
        location = headers["Location"]
    digest = sha256(data)
    assert http(cluster.lb, "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}")[0] == 201
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
               f"docker://{cluster.lb.host}/{repo}:v1")
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


def test_a_database_outage_is_a_503_and_the_cluster_resumes(cluster, postgres, work):
    postgres.stop()
    try:
        with pytest.raises(urllib.error.HTTPError) as outage:
            http(cluster.lb, "POST", "/v2/team/outage/blobs/uploads/")
        assert outage.value.code == 503
        assert json.loads(outage.value.read())["errors"][0]["message"] == "the metadata database is unavailable"
    finally:
        postgres.start()
    for instance in cluster.instances:
        assert http(instance, "POST", "/v2/team/outage/blobs/uploads/")[0] == 202
    layout = Layout(work / "after")
    layout.image({"after.txt": b"after the outage\n"}, tag="v1")
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
           f"docker://{cluster.lb.host}/team/outage:v1")
    assert len(pull_digests(cluster.instances[2].host, "team/outage:v1", work)) == 3
