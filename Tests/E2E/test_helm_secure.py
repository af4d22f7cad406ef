"""The classic chart repository with access control on: helm 3.8 and helm 4 add, update, search, pull, template and
depend on charts over TLS and over plain HTTP with `--username/--password`, and anonymously where anonymous pulls
are allowed; uploads and deletes without the right are refused and store nothing; the search lists only what the
caller may pull; the audit log records each index fetch, download, upload and delete."""

import hashlib
import time

import pytest
import yaml

from conftest import run
from secure_registry import PASSWORDS, start_secure
from test_helm import helm_binary, helm_env

HELMS = ("helm3", "helm4")


def auth(user):
    return (user, PASSWORDS[user])


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    """alice uploads team-a/app, team-a/lib and public/pub over TLS, the ChartMuseum way."""
    base = tmp_path_factory.mktemp("helm-secure")
    registry = start_secure(base / "registry")
    env = helm_env(base)
    registry.charts = {}
    for namespace, name in (("team-a", "app"), ("team-a", "lib"), ("public", "pub")):
        run(helm_binary("helm3"), "create", base / name, env=env)
        with open(base / name / "Chart.yaml", "a") as f:
            f.write("keywords: [wharf-secure]\n")
        run(helm_binary("helm3"), "package", base / name, "--version", "1.0.0", "--destination", base, env=env)
        archive = (base / f"{name}-1.0.0.tgz").read_bytes()
        answer = registry.get(f"/helm/{namespace}/api/charts", method="POST", data=archive, auth=auth("alice"))
        assert answer.status_code == 201, answer.text
        registry.charts[name] = archive
    yield registry
    registry.server.stop()


def transports(secure):
    """(repository URL, the flags helm needs for it) over TLS and over plain HTTP."""
    return {"tls": (f"{secure.tls_url}/helm", ["--ca-file", str(secure.ca)]), "http": (f"{secure.server.url}/helm", [])}


@pytest.mark.parametrize("transport", ["tls", "http"])
@pytest.mark.parametrize("helm", HELMS)
def test_the_classic_workflow_with_credentials(secure, tmp_path, helm, transport):
    binary, env = helm_binary(helm), helm_env(tmp_path)
    base, flags = transports(secure)[transport]
    credentials = ["--username", "alice", "--password", PASSWORDS["alice"]]
    run(binary, "repo", "add", "team", f"{base}/team-a", *flags, *credentials, env=env)
    run(binary, "repo", "update", env=env)
    found = run(binary, "search", "repo", "team/", env=env).stdout
    assert "team/app" in found and "team/lib" in found and "pub" not in found
    out = tmp_path / "pulled"
    out.mkdir()
    run(binary, "pull", "team/app", "--version", "1.0.0", "--destination", out, env=env)
    assert (out / "app-1.0.0.tgz").read_bytes() == secure.charts["app"]
    assert "kind: Deployment" in run(binary, "template", "demo", "team/app", "--version", "1.0.0", env=env).stdout
    parent = tmp_path / "parent"
    run(binary, "create", parent, env=env)
    with open(parent / "Chart.yaml", "a") as f:  # the repository by URL: helm takes its credentials from `repo add`
        f.write(f"dependencies:\n  - name: lib\n    version: 1.0.0\n    repository: {base}/team-a\n")
    run(binary, "dependency", "update", parent, env=env)
    assert (parent / "charts" / "lib-1.0.0.tgz").read_bytes() == secure.charts["lib"]

    refused = run(binary, "repo", "add", "wrong", f"{base}/team-a", *flags, "--username", "alice", "--password",
                  "not-her-password", env=env, check=False)
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr


@pytest.mark.parametrize("helm", HELMS)
def test_anonymous_pulls_where_they_are_allowed(secure, tmp_path, helm):
    binary, env = helm_binary(helm), helm_env(tmp_path)
    run(binary, "repo", "add", "pub", f"{secure.tls_url}/helm/public", "--ca-file", secure.ca, env=env)
    run(binary, "pull", "pub/pub", "--version", "1.0.0", "--destination", tmp_path, env=env)
    assert (tmp_path / "pub-1.0.0.tgz").read_bytes() == secure.charts["pub"]
    # team-a is not anonymous: its index lists nothing to a stranger, and its files are not served.
    index = yaml.safe_load(secure.get("/helm/team-a/index.yaml").text)
    assert not index["entries"]
    assert secure.get("/helm/team-a/charts/app-1.0.0.tgz").status_code == 404


def test_writes_without_the_right_are_refused_and_store_nothing(secure, tmp_path):
    env = helm_env(tmp_path)
    run(helm_binary("helm3"), "create", tmp_path / "intruder", env=env)
    run(helm_binary("helm3"), "package", tmp_path / "intruder", "--destination", tmp_path, env=env)
    archive = (tmp_path / "intruder-0.1.0.tgz").read_bytes()
    api = "/helm/team-a/api/charts"
    assert secure.get(api, method="POST", data=archive).status_code == 401
    for user in ("bob", "carol"):  # pull on team-a/app only; push on team-b only
        answer = secure.get(api, method="POST", data=archive, auth=auth(user))
        assert answer.status_code == 403 and "push" in answer.json()["error"], (user, answer.text)
    answer = secure.get(api, method="POST", files={"chart": ("intruder-0.1.0.tgz", archive)}, auth=auth("bob"))
    assert answer.status_code == 403
    assert "intruder" not in secure.get(api, auth=auth("root")).json()
    assert secure.get("/v2/team-a/intruder/tags/list", auth=auth("root")).status_code == 404
    assert not list((secure.server.data_dir / "uploads").glob("*"))
    blobs = {p.name for p in (secure.server.data_dir / "blobs").rglob("*") if p.is_file()}
    assert hashlib.sha256(archive).hexdigest() not in blobs

    # Deleting needs the delete right: alice may push but not delete; bob may only pull.
    for user in ("alice", "bob"):
        answer = secure.get(f"{api}/app/1.0.0", method="DELETE", auth=auth(user))
        assert answer.status_code == 403 and "error" in answer.json(), (user, answer.text)
    assert secure.get(f"{api}/app/1.0.0", auth=auth("root")).status_code == 200
    # The right to upload over a version is the right to push, and ?force is needed.
    assert secure.get(api, method="POST", data=secure.charts["app"], auth=auth("alice")).status_code == 409


def test_the_search_lists_what_the_caller_may_pull(secure):
    def found(**kwargs):
        answer = secure.get("/api/v1/charts", params={"q": "wharf-secure"}, **kwargs)
        assert answer.status_code == 200, answer.text
        return sorted(f"{c['repository']}/{c['name']}" for c in answer.json()["charts"])

    assert found(auth=auth("alice")) == ["public/pub", "team-a/app", "team-a/lib"]
    assert found(auth=auth("bob")) == ["public/pub", "team-a/app"]
    assert found() == ["public/pub"]
    assert secure.get("/api/v1/charts", params={"q": "app"}, auth=("bob", "wrong")).status_code == 401
    bob = yaml.safe_load(secure.get("/helm/team-a/index.yaml", auth=auth("bob")).text)
    assert sorted(bob["entries"]) == ["app"]


def test_the_audit_log_records_chart_access(secure, tmp_path):
    archive = secure.charts["lib"]
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    assert secure.get("/helm/team-a/index.yaml", auth=auth("bob")).status_code == 200
    assert secure.get("/helm/team-a/charts/app-1.0.0.tgz", auth=auth("bob")).status_code == 200
    answer = secure.get("/helm/team-a/api/charts?force", method="POST", data=archive, auth=auth("alice"))
    assert answer.status_code == 201
    assert secure.get("/helm/team-a/api/charts/lib/1.0.0", method="DELETE", auth=auth("dave")).status_code == 200
    time.sleep(0.5)  # reads' records are group-committed within 100 ms

    def logged(action):
        answer = secure.get("/api/v1/audit", params={"action": action, "since": start}, auth=auth("root"))
        assert answer.status_code == 200, answer.text
        return [(r["actor"], r.get("repository"), r.get("tag"), r["status"]) for r in answer.json()["records"]]

    assert ("bob", "team-a", None, 200) in logged("chart-index")
    assert ("bob", "team-a/app", "1.0.0", 200) in logged("pull-chart")
    assert ("alice", "team-a/lib", "1.0.0", 201) in logged("push-chart")
    assert ("dave", "team-a/lib", "1.0.0", 200) in logged("delete-chart")
    refused = secure.get("/helm/team-a/api/charts", method="POST", data=archive, auth=auth("bob"))
    assert refused.status_code == 403
    time.sleep(0.5)
    assert ("bob", "team-a", None, 403) in logged("push-chart")  # the namespace: a body names its chart
