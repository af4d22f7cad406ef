"""Replication between live instances on loopback, access control on everywhere. A pushes to B (over TLS, as a robot
of B) and to C (as a robot of C, with a namespace rewrite, deletes and overwrite off). Content goes into A with
skopeo, podman, helm and oras, and must converge on both digest for digest, referrers included; tag moves and
deletes follow only where the rule says so, and a tag someone pushed to C directly is left and reported."""

import base64
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import oras.client
import pytest
import requests

from conftest import ROOT, Server, add_users, free_port, require, run, wharf_binary
from images import Layout, push_layout_blobs_and_manifests, sha256
from test_helm import helm_env

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def wait_until(check, timeout=30, what="replication"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} did not converge within {timeout}s (last: {last!r})")


class Site:
    """One instance with how to reach it: its server, a base URL and the credentials its API wants."""

    def __init__(self, server, url=None, auth=None, verify=True):
        self.server = server
        self.url = url or server.url
        self.auth = auth
        self.verify = verify

    def get(self, path, method="GET", **kwargs):
        return requests.request(method, self.url + path, auth=self.auth, verify=self.verify, timeout=30, **kwargs)

    def digest(self, repository, reference):
        answer = self.get(f"/v2/{repository}/manifests/{reference}", "HEAD",
                          headers={"Accept": ",".join(ACCEPT)})
        return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None

    def raw(self, repository, reference):
        answer = self.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": ",".join(ACCEPT)})
        return answer.content if answer.status_code == 200 else None

    def status(self, rule):
        return [s for s in self.get("/api/v1/replication/status").json() if s["rule"] == rule][0]


ACCEPT = [MANIFEST, "application/vnd.oci.image.index.v1+json",
          "application/vnd.docker.distribution.manifest.v2+json",
          "application/vnd.docker.distribution.manifest.list.v2+json"]

B_CONFIG = """
auth:
  enabled: true
  policies:
    - { repositories: ["**"], role: delete, robots: [sync] }
    - { repositories: ["**"], role: admin, users: [root] }
"""

C_CONFIG = """
auth:
  enabled: true
  policies:
    - { repositories: ["mirror/**"], role: delete, robots: [mirror] }
    - { repositories: ["**"], role: admin, users: [root] }
"""

ROOT_PASSWORD = "root-password-1"
ALICE = ("alice", "alice-password-1")

A_CONFIG = """
auth:
  enabled: true
  policies:
    - {{ repositories: ["team/**", "refused/**", "seed/**"], role: delete, users: [alice] }}
    - {{ repositories: ["**"], role: admin, users: [root] }}
replication:
  rules:
    - name: to-b
      direction: push
      remote: {{ url: "https://{b_tls}", username: "robot$sync", passwordEnv: SYNC_SECRET, caFile: "{ca}" }}
      repositories: {{ include: ["team/**"] }}
      deletes: true
    - name: to-c
      direction: push
      remote: {{ url: "{c_url}", username: "robot$mirror", passwordEnv: MIRROR_SECRET }}
      repositories: {{ include: ["team/**"] }}
      rewrite: {{ from: team, to: mirror/team }}
      overwrite: false
    - name: wrong-password
      direction: push
      remote: {{ url: "https://{b_tls}", username: "robot$sync", password: "not-the-secret", caFile: "{ca}" }}
      repositories: {{ include: ["refused/**"] }}
"""


def instance(base: Path, name: str, config: str, users=(("root", ROOT_PASSWORD),), robot=None, **kwargs):
    """A Wharf with access control on, its users and (optionally) a robot; returns (data dir, config, robot secret)."""
    path = base / f"{name}.yaml"
    path.write_text(config)
    add_users(path, base / name, users)
    secret = None
    if robot:
        created = run(wharf_binary(), "robots", "add", robot, "--config", path, "--data-dir", base / name).stdout
        secret = re.search(r"^(wharf_\S+)$", created, re.M).group(1)
    return path, secret


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    base = tmp_path_factory.mktemp("replication")
    run(wharf_binary(), "certs", "self-signed", "--host", "127.0.0.1", "--out", base / "certs")
    cert_dir = base / "certdir"
    cert_dir.mkdir()
    shutil.copy(base / "certs" / "ca.pem", cert_dir / "ca.crt")
    b_config, sync_secret = instance(base, "b", B_CONFIG, robot="sync")
    b_tls = f"127.0.0.1:{free_port()}"
    b = Server(base / "b", args=["--config", b_config, "--tls-listen", b_tls, "--tls-cert", base / "certs" / "server.pem",
                                 "--tls-key", base / "certs" / "server-key.pem"])
    c_config, mirror_secret = instance(base, "c", C_CONFIG, robot="mirror")
    c = Server(base / "c", args=["--config", c_config])
    a_config, _ = instance(
        base, "a", A_CONFIG.format(b_tls=b_tls, ca=base / "certs" / "ca.pem", c_url=c.url),
        users=(("root", ROOT_PASSWORD), ALICE))
    a = Server(base / "a", args=["--config", a_config], log_level="info",
               extra_env={"SYNC_SECRET": sync_secret, "MIRROR_SECRET": mirror_secret})
    yield {
        "a": Site(a, auth=("root", ROOT_PASSWORD)), "c": Site(c, auth=("root", ROOT_PASSWORD)),
        "b": Site(b, url=f"https://{b_tls}", auth=("root", ROOT_PASSWORD), verify=str(base / "certs" / "ca.pem")),
        "base": base, "cert_dir": cert_dir,
    }
    for server in (a, b, c):
        server.stop()


def converged(sites, repository, tag, c_repository=None):
    """The digest of repository:tag on A once B and C (under its rewritten name) have the same."""
    want = sites["a"].digest(repository, tag)
    assert want, f"{repository}:{tag} is not on A"
    wait_until(lambda: sites["b"].digest(repository, tag) == want, what=f"{repository}:{tag} on B")
    wait_until(lambda: sites["c"].digest(c_repository or "mirror/" + repository, tag) == want,
               what=f"{repository}:{tag} on C")
    return want


def test_skopeo_index_and_manifest_list_converge(sites, tmp_path):
    a = sites["a"].server.host
    for tag in ("oci", "docker"):
        layout = Layout(tmp_path / tag)
        index = layout.multi_arch(tag, docker=tag == "docker")
        source = f"oci:{layout.path}:{tag}"
        credentials = []
        if tag == "docker":
            # An OCI layout cannot name a Docker manifest list: it is seeded over HTTP (outside the rules), then
            # copied registry to registry by skopeo.
            push_layout_blobs_and_manifests(sites["a"].url, "seed/multi", layout, tag, index,
                                            auth_headers=basic(ALICE))
            source = f"docker://{a}/seed/multi:{tag}"
            credentials = ["--src-creds", ":".join(ALICE)]
        run(require("skopeo"), "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
            "--dest-tls-verify=false", *credentials, "--dest-creds", ":".join(ALICE), source,
            f"docker://{a}/team/multi:{tag}")
    for tag in ("oci", "docker"):
        digest = converged(sites, "team/multi", tag)
        raw = sites["a"].raw("team/multi", tag)
        assert sites["b"].raw("team/multi", tag) == raw and sites["c"].raw("mirror/team/multi", tag) == raw
        # Every child manifest travelled too, byte for byte.
        for child in json.loads(raw)["manifests"]:
            assert sites["b"].raw("team/multi", child["digest"]) == sites["a"].raw("team/multi", child["digest"])
        assert digest == sha256(raw)
        # skopeo reads the copies the same: over TLS with B's own credentials, and from C.
        on_b = run(require("skopeo"), "inspect", "--raw", "--cert-dir", sites["cert_dir"], "--creds",
                   f"root:{ROOT_PASSWORD}", f"docker://{sites['b'].url[8:]}/team/multi:{tag}").stdout
        on_c = run(require("skopeo"), "inspect", "--raw", "--tls-verify=false", "--creds", f"root:{ROOT_PASSWORD}",
                   f"docker://{sites['c'].server.host}/mirror/team/multi:{tag}").stdout
        assert on_b.encode() == raw and on_c.encode() == raw


def test_podman_image_converges(sites, tmp_path):
    layout = Layout(tmp_path / "src")
    layout.image({"app.txt": b"pushed by podman\n"}, tag="v1")
    runroot = tempfile.mkdtemp(prefix="wharf-run-")
    storage = ["--root", tmp_path / "root", "--runroot", runroot, "--storage-driver", "vfs", "--cgroup-manager",
               "cgroupfs", "--events-backend", "file"]
    try:
        run(require("podman"), *storage, "pull", f"oci:{layout.path}:v1")
        image = run(require("podman"), *storage, "images", "--format", "{{.ID}}").stdout.split()[0]
        run(require("podman"), *storage, "push", "--tls-verify=false", "--creds", ":".join(ALICE), image,
            f"{sites['a'].server.host}/team/podman:v1")
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    converged(sites, "team/podman", "v1")


def test_helm_chart_converges(sites, tmp_path):
    helm = str(ROOT / ".tools" / "bin" / "helm4")
    env = helm_env(tmp_path)
    run(helm, "create", tmp_path / "chart", env=env)
    run(helm, "package", tmp_path / "chart", "--destination", tmp_path, env=env)
    run(helm, "push", tmp_path / "chart-0.1.0.tgz", f"oci://{sites['a'].server.host}/team/charts", "--plain-http",
        "--username", ALICE[0], "--password", ALICE[1], env=env)
    converged(sites, "team/charts/chart", "0.1.0")


def test_an_artifact_and_its_referrers_converge(sites, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # oras-py keeps its login in ~/.docker/config.json
    (tmp_path / "notes.txt").write_text("an artifact\n")
    host = sites["a"].server.host
    client = oras.client.OrasClient(hostname=host, insecure=True)
    client.login(hostname=host, username=ALICE[0], password=ALICE[1])
    client.push(target=f"{host}/team/notes:v1", files=["notes.txt"])
    subject = converged(sites, "team/notes", "v1")

    # A signature pushed later, by digest and untagged: it travels on its own, after its subject.
    signature = push_signature(sites["a"].url, "team/notes", "v1", auth=ALICE)
    for site, repository in ((sites["b"], "team/notes"), (sites["c"], "mirror/team/notes")):
        def listed():
            answer = site.get(f"/v2/{repository}/referrers/{subject}")
            return [m["digest"] for m in answer.json().get("manifests", [])] if answer.status_code == 200 else []
        assert wait_until(listed, what="the referrer") == [sha256(signature)]
        assert site.raw(repository, sha256(signature)) == signature


def push_signature(site_url, repository, tag, auth=None):
    """An untagged signature artifact whose subject is repository:tag, pushed by digest; returns its bytes."""
    empty = b"{}"
    upload(site_url, repository, empty, auth=auth)
    subject = requests.get(f"{site_url}/v2/{repository}/manifests/{tag}", headers={"Accept": ", ".join(ACCEPT)}, auth=auth)
    assert subject.status_code == 200, subject.text
    signature = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2}],
        "subject": {"mediaType": subject.headers["Content-Type"], "digest": subject.headers["Docker-Content-Digest"],
                    "size": len(subject.content)},
    }).encode()
    put = requests.put(f"{site_url}/v2/{repository}/manifests/{sha256(signature)}", data=signature,
                       headers={"Content-Type": MANIFEST}, auth=auth)
    assert put.status_code == 201, put.text
    return signature


def basic(credentials):
    return {"Authorization": "Basic " + base64.b64encode(":".join(credentials).encode()).decode()}


def upload(site_url, repository, blob: bytes, auth=None):
    """A blob in one request where the registry takes that (`POST ?digest=`), else by a session (Distribution)."""
    answer = requests.post(f"{site_url}/v2/{repository}/blobs/uploads/?digest={sha256(blob)}", data=blob, auth=auth)
    if answer.status_code == 202:
        location = answer.headers["Location"]
        location = location if location.startswith("http") else site_url + location
        answer = requests.put(f"{location}{'&' if '?' in location else '?'}digest={sha256(blob)}", data=blob, auth=auth)
    assert answer.status_code == 201, answer.text


def push_image(site_url, repository, tag, marker, auth=None):
    """A small image pushed over HTTP; returns its manifest's digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "marker": marker}).encode()
    layer = marker.encode() * 100
    for blob in (config, layer):
        upload(site_url, repository, blob, auth=auth)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": len(layer)}],
    }).encode()
    answer = requests.put(f"{site_url}/v2/{repository}/manifests/{tag}", data=manifest, headers={"Content-Type": MANIFEST},
                          auth=auth)
    assert answer.status_code == 201, answer.text
    return sha256(manifest)


def test_tag_moves_and_deletes_follow_only_where_the_rule_says(sites):
    a = sites["a"].url
    first = push_image(a, "team/moving", "v1", "first", auth=ALICE)
    push_image(a, "team/moving", "doomed", "doomed", auth=ALICE)
    converged(sites, "team/moving", "v1")
    converged(sites, "team/moving", "doomed")

    second = push_image(a, "team/moving", "v1", "second", auth=ALICE)
    assert requests.delete(f"{a}/v2/team/moving/manifests/doomed", auth=ALICE).status_code == 202
    # B (deletes on) moves the tag and drops the deleted one.
    wait_until(lambda: sites["b"].digest("team/moving", "v1") == second, what="the tag move on B")
    wait_until(lambda: sites["b"].digest("team/moving", "doomed") is None, what="the tag delete on B")
    # C (deletes off) keeps both as they were.
    time.sleep(1.5)
    assert sites["c"].digest("mirror/team/moving", "v1") == first
    assert sites["c"].digest("mirror/team/moving", "doomed") is not None


def test_content_deleted_on_the_target_behind_the_rules_back_is_copied_again(sites):
    a, b = sites["a"], sites["b"]
    digest = push_image(a.url, "team/relost", "v1", "relost", auth=ALICE)
    converged(sites, "team/relost", "v1")
    manifest = json.loads(b.raw("team/relost", "v1"))
    for blob in [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]:
        assert b.get(f"/v2/team/relost/blobs/{blob}", "DELETE").status_code == 202
    assert b.get(f"/v2/team/relost/manifests/{digest}", "DELETE").status_code == 202
    # The same manifest under a new tag: the rule remembers putting it on B, B refuses it now, so it is copied anew.
    answer = requests.put(f"{a.url}/v2/team/relost/manifests/v2", data=a.raw("team/relost", "v1"),
                          headers={"Content-Type": MANIFEST}, auth=ALICE)
    assert answer.status_code == 201
    wait_until(lambda: b.digest("team/relost", "v2") == digest, what="the copy after B lost the manifest")
    assert b.get(f"/v2/team/relost/blobs/{manifest['layers'][0]['digest']}").status_code == 200


def test_wrong_credentials_fail_the_task_with_the_remotes_error(sites):
    push_image(sites["a"].url, "refused/app", "v1", "refused", auth=ALICE)

    def failed():
        status = sites["a"].status("wrong-password")
        return status if status["failed"] >= 1 else None
    status = wait_until(failed, what="the refused task")
    assert "401" in status["failures"][0]["error"] and "UNAUTHORIZED" in status["failures"][0]["error"]
    assert status["failures"][0]["attempts"] == 1, "a refused login is not retried"
    assert status["queued"] == 0
    assert sites["b"].digest("refused/app", "v1") is None


def test_status_lag_audit_and_metrics(sites):
    status = sites["a"].status("to-b")
    assert status["done"] >= 5 and status["failed"] == 0
    assert status["lagP99"] is not None and status["lagP99"] < 10
    assert "SYNC" not in json.dumps(status) and "wharf_" not in json.dumps(status)  # no credentials
    records = sites["a"].get("/api/v1/audit?action=replicate&limit=1000").json()["records"]
    assert any(r["detail"].startswith("rule=to-b ") and r["status"] == 200 for r in records)
    assert any(r["detail"].startswith("rule=wrong-password ") and r["status"] == 500 for r in records)
    metrics = sites["a"].get("/metrics").text
    assert 'wharf_replication_queue{rule="to-b",state="queued"} 0' in metrics
    assert re.search(r'wharf_replication_tasks_total\{rule="to-b",kind="copy",result="done"\} [1-9]', metrics)
    creds = ["--creds", f"root:{ROOT_PASSWORD}"]
    tasks = run(wharf_binary(), "replication", "tasks", "--url", sites["a"].url, "--rule", "to-c", *creds).stdout
    assert " done " in tasks
    shown = run(wharf_binary(), "replication", "status", "--url", sites["a"].url, "to-b", *creds).stdout
    assert shown.startswith("to-b (push https://") and "failed 0" in shown


def test_the_console_shows_the_rules_and_runs_one(sites):
    from test_console import csrf_of, signed_in
    url = sites["a"].url
    console = signed_in(url, "root", ROOT_PASSWORD)
    page = console.get(f"{url}/ui/replication")
    assert page.status_code == 200
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr><th scope=\"row\">([\w-]+).*?</tr>", page.text, re.S)}
    assert {"to-b", "to-c", "wrong-password"} <= set(rows)
    assert "SYNC" not in page.text and "wharf_" not in page.text  # no credentials
    assert "Recent failures of wrong-password" in page.text
    ran = console.post(f"{url}/ui/replication/to-b/run", data={"csrf": csrf_of(page.text)})
    assert ran.status_code == 200 and re.search(r"Ran to-b: \d+ tasks queued\.", ran.text), ran.text
    assert console.post(f"{url}/ui/replication/to-b/run", data={"csrf": "0" * 64}).status_code == 403


def test_a_tag_pushed_to_the_target_directly_is_left_when_overwrite_is_off(sites):
    """C's rule does not overwrite: a tag someone pushed to C is kept and the conflict reported; B's rule does."""
    c_own = push_image(sites["c"].url, "mirror/team/conflict", "v1", "pushed-to-c", auth=("root", ROOT_PASSWORD))
    push_image(sites["b"].server.url, "team/conflict", "v1", "pushed-to-b", auth=("root", ROOT_PASSWORD))
    wanted = push_image(sites["a"].url, "team/conflict", "v1", "pushed-to-a", auth=ALICE)
    wait_until(lambda: sites["b"].digest("team/conflict", "v1") == wanted, what="the overwrite on B")

    def conflict():
        failures = [f for f in sites["a"].status("to-c")["failures"] if f["repository"] == "team/conflict"]
        return failures[0] if failures else None
    failure = wait_until(conflict, what="the conflict on C")
    assert "overwrite is off" in failure["error"] and failure["attempts"] == 1
    assert sites["c"].digest("mirror/team/conflict", "v1") == c_own
    report = sites["a"].get("/api/v1/replication/rules/to-c/run", "POST").json()
    assert report["conflicts"] >= 1 and report["queued"] == 0
