"""The classic chart repository: a chart pushed with `helm push oci://HOST/team` is in `/helm/team/index.yaml` at once,
and helm 3.8 and helm 4 add, update, search, pull, template and depend on it from there, getting the pushed bytes;
an unchanged index costs a 304; deleting the OCI manifest takes the chart out of the index; with access control on,
the index lists and serves only the charts the caller may pull."""

import hashlib
import json

import pytest
import requests
import yaml

from agents import PASSWORDS, private_origin
from conftest import run
from images import sha256
from test_helm import HELMS, helm_binary, helm_env
from test_replication import MANIFEST, upload


@pytest.mark.parametrize("helm", sorted(HELMS))
def test_a_pushed_chart_is_in_the_classic_repository(registry, work, helm):
    binary, plain = helm_binary(helm), HELMS[helm]
    env = helm_env(work)
    chart = f"classic-{helm}"
    run(binary, "create", work / chart, env=env)
    run(binary, "package", work / chart, "--version", "1.2.3", "--app-version", "4.5", "--destination", work, env=env)
    archive = work / f"{chart}-1.2.3.tgz"
    run(binary, "push", archive, f"oci://{registry.host}/classic", *plain, env=env)

    index_url = f"{registry.url}/helm/classic/index.yaml"
    answer = requests.get(index_url, timeout=10)
    assert answer.status_code == 200, answer.text
    entry = yaml.safe_load(answer.text)["entries"][chart][0]
    assert entry["version"] == "1.2.3" and entry["appVersion"] == "4.5"
    assert entry["digest"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert entry["urls"] == [f"charts/{chart}-1.2.3.tgz"]
    unchanged = requests.get(index_url, headers={"If-None-Match": answer.headers["ETag"]}, timeout=10)
    assert unchanged.status_code == 304 and unchanged.content == b""

    repo = f"team-{helm}"
    run(binary, "repo", "add", repo, f"{registry.url}/helm/classic", env=env)
    run(binary, "repo", "update", env=env)
    found = run(binary, "search", "repo", f"{repo}/", env=env).stdout
    assert f"{repo}/{chart}" in found and "1.2.3" in found
    out = work / "classic-pulled"
    out.mkdir()
    run(binary, "pull", f"{repo}/{chart}", "--version", "1.2.3", "--destination", out, env=env)
    assert (out / f"{chart}-1.2.3.tgz").read_bytes() == archive.read_bytes()
    rendered = run(binary, "template", "demo", f"{repo}/{chart}", "--version", "1.2.3", env=env).stdout
    assert "kind: Deployment" in rendered
    app = work / f"app-{helm}"
    run(binary, "create", app, env=env)
    with open(app / "Chart.yaml", "a") as f:
        f.write(f"dependencies:\n  - name: {chart}\n    version: 1.2.3\n    repository: {registry.url}/helm/classic\n")
    run(binary, "dependency", "update", app, env=env)
    assert (app / "charts" / f"{chart}-1.2.3.tgz").read_bytes() == archive.read_bytes()

    # The manifest deleted by digest: the chart leaves the index, and its file is gone.
    manifest = requests.head(f"{registry.url}/v2/classic/{chart}/manifests/1.2.3",
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    digest = manifest.headers["Docker-Content-Digest"]
    assert requests.delete(f"{registry.url}/v2/classic/{chart}/manifests/{digest}", timeout=10).status_code == 202
    assert chart not in (yaml.safe_load(requests.get(index_url, timeout=10).text)["entries"] or {})
    assert requests.get(f"{registry.url}/helm/classic/charts/{chart}-1.2.3.tgz", timeout=10).status_code == 404


def test_a_chart_repository_refuses_writes_and_unknown_paths(registry):
    assert requests.put(f"{registry.url}/helm/classic/index.yaml", data=b"x", timeout=10).status_code == 405
    assert requests.get(f"{registry.url}/helm/classic/other", timeout=10).status_code == 404
    assert requests.get(f"{registry.url}/helm/nothing-here/index.yaml", timeout=10).status_code == 200


def test_with_access_control_the_repository_lists_and_serves_only_what_the_caller_may_pull(tmp_path):
    """root pushes a chart to private/; alice may pull private/**, bob nothing. helm uses --username/--password."""
    (tmp_path / "origin").mkdir()
    origin = private_origin(tmp_path / "origin")
    try:
        binary = helm_binary("helm3")
        env = helm_env(tmp_path)
        run(binary, "create", tmp_path / "secret", env=env)
        run(binary, "package", tmp_path / "secret", "--version", "2.0.0", "--destination", tmp_path, env=env)
        archive = (tmp_path / "secret-2.0.0.tgz").read_bytes()
        root = ("root", PASSWORDS["root"])
        push_chart(origin.url, "private/secret", "2.0.0", archive, auth=root)

        index = f"{origin.url}/helm/private/index.yaml"
        assert requests.get(index, timeout=10).status_code == 401
        listed = yaml.safe_load(requests.get(index, auth=("alice", PASSWORDS["alice"]), timeout=10).text)
        assert [e["version"] for e in listed["entries"]["secret"]] == ["2.0.0"]
        unlisted = yaml.safe_load(requests.get(index, auth=("bob", PASSWORDS["bob"]), timeout=10).text)
        assert not unlisted["entries"]
        chart_url = f"{origin.url}/helm/private/charts/secret-2.0.0.tgz"
        assert requests.get(chart_url, auth=("bob", PASSWORDS["bob"]), timeout=10).status_code == 404

        run(binary, "repo", "add", "private", f"{origin.url}/helm/private", "--username", "alice",
            "--password", PASSWORDS["alice"], env=env)
        out = tmp_path / "pulled"
        out.mkdir()
        run(binary, "pull", "private/secret", "--version", "2.0.0", "--destination", out, env=env)
        assert (out / "secret-2.0.0.tgz").read_bytes() == archive
        refused = run(binary, "repo", "add", "nope", f"{origin.url}/helm/private", env=env, check=False)
        assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
    finally:
        origin.stop()


def push_chart(url, repository, version, archive: bytes, auth=None):
    """The chart as `helm push` stores it: its Chart.yaml fields as the config, the .tgz as the one layer."""
    config = json.dumps({"apiVersion": "v2", "name": repository.rsplit("/", 1)[1], "version": version}).encode()
    for blob in (config, archive):
        upload(url, repository, blob, auth=auth)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": sha256(archive),
                    "size": len(archive)}],
    }).encode()
    answer = requests.put(f"{url}/v2/{repository}/manifests/{version}", data=manifest,
                          headers={"Content-Type": MANIFEST}, auth=auth, timeout=10)
    assert answer.status_code == 201, answer.text
