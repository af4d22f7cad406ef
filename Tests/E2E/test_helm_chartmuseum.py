"""ChartMuseum's API with curl: uploads as the body or as a form with a provenance file, 409 unless ?force, the
listings, `latest`, HEAD and DELETE, in ChartMuseum's JSON shapes. A classic upload is stored as `helm push` stores
it, so helm 3.8 and helm 4 pull it from oci:// with the same digests; a signed chart verifies with `helm pull
--verify` either way; invalid charts get a 400 that says what is wrong, and leave nothing behind."""

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import time

import pytest
import requests
import yaml

from conftest import bucket, run, serve, wharf_binary
from test_helm import HELMS, helm_binary, helm_env

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def curl(*args) -> tuple[int, str]:
    """curl's status and body."""
    answer = run("curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *map(str, args))
    body, status = answer.stdout.rsplit("\n", 1)
    return int(status), body


def package(work, name, version, env, sign=None):
    """`helm create` and `helm package` (with `--sign` when `sign` is (key name, secret keyring))."""
    if not (work / name).exists():
        run(helm_binary("helm3"), "create", work / name, env=env)
    signing = ["--sign", "--key", sign[0], "--keyring", sign[1]] if sign else []
    run(helm_binary("helm3"), "package", work / name, "--version", version, "--destination", work, *signing, env=env)
    return work / f"{name}-{version}.tgz"


def manifest_of(url, repository, version):
    answer = requests.get(f"{url}/v2/{repository}/manifests/{version}", headers={"Accept": OCI_MANIFEST}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["Docker-Content-Digest"]


def test_the_chartmuseum_api(registry, work):
    env = helm_env(work)
    api = f"{registry.url}/helm/museum/api/charts"
    first, second = package(work, "museum", "0.1.0", env), package(work, "museum", "0.2.0", env)

    etags = [index_etag(registry, "museum")]
    assert curl("--data-binary", f"@{first}", api) == (201, '{"saved":true}')
    etags.append(index_etag(registry, "museum"))
    status, body = curl("--data-binary", f"@{first}", api)
    assert status == 409 and "exists" in json.loads(body)["error"]
    assert index_etag(registry, "museum", if_none_match=etags[-1]) == etags[-1]  # a refusal changes nothing: 304
    assert curl("--data-binary", f"@{first}", f"{api}?force")[0] == 201
    etags.append(index_etag(registry, "museum", if_none_match=etags[-1]))  # replaced: a new ETag, and the index
    assert curl("-F", f"chart=@{second}", api) == (201, '{"saved":true}')
    etags.append(index_etag(registry, "museum"))

    listed = requests.get(api, timeout=10).json()
    assert sorted(v["version"] for v in listed["museum"]) == ["0.1.0", "0.2.0"]
    versions = requests.get(f"{api}/museum", timeout=10).json()
    assert [v["version"] for v in versions] == ["0.2.0", "0.1.0"]  # newest first, as in index.yaml
    entry = requests.get(f"{api}/museum/0.1.0", timeout=10).json()
    assert entry["name"] == "museum" and entry["apiVersion"] == "v2" and entry["urls"] == ["charts/museum-0.1.0.tgz"]
    assert entry["digest"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert requests.get(f"{api}/museum/latest", timeout=10).json()["version"] == "0.2.0"
    head = requests.head(f"{api}/museum/0.1.0", timeout=10)
    assert head.status_code == 200 and head.content == b""

    for missing in (f"{api}/nothing", f"{api}/museum/9.9.9", f"{api}/nothing/latest"):
        answer = requests.get(missing, timeout=10)
        assert answer.status_code == 404 and "error" in answer.json(), missing

    index = yaml.safe_load(requests.get(f"{registry.url}/helm/museum/index.yaml", timeout=10).text)
    assert [v["version"] for v in index["entries"]["museum"]] == ["0.2.0", "0.1.0"]
    assert curl("-X", "DELETE", f"{api}/museum/0.1.0") == (200, '{"deleted":true}')
    etags.append(index_etag(registry, "museum"))
    assert len(set(etags)) == len(etags), etags
    assert requests.get(f"{api}/museum/0.1.0", timeout=10).status_code == 404
    assert curl("-X", "DELETE", f"{api}/museum/0.1.0")[0] == 404
    index = yaml.safe_load(requests.get(f"{registry.url}/helm/museum/index.yaml", timeout=10).text)
    assert [v["version"] for v in index["entries"]["museum"]] == ["0.2.0"]
    # ... and from the OCI side too: the manifest went with it.
    answer = requests.get(f"{registry.url}/v2/museum/museum/manifests/0.1.0", headers={"Accept": OCI_MANIFEST},
                          timeout=10)
    assert answer.status_code == 404

    # A namespace may hold slashes; each level is a repository of its own.
    assert curl("--data-binary", f"@{first}", f"{registry.url}/helm/museum/nested/api/charts")[0] == 201
    nested = yaml.safe_load(requests.get(f"{registry.url}/helm/museum/nested/index.yaml", timeout=10).text)
    assert [v["version"] for v in nested["entries"]["museum"]] == ["0.1.0"]
    index = yaml.safe_load(requests.get(f"{registry.url}/helm/museum/index.yaml", timeout=10).text)
    assert [v["version"] for v in index["entries"]["museum"]] == ["0.2.0"]
    manifest_of(registry.url, "museum/nested/museum", "0.1.0")


def index_etag(registry, namespace, if_none_match=None):
    """The index's ETag; with `if_none_match`, a 304 when that is still it, else a 200 with the index."""
    headers = {"If-None-Match": if_none_match} if if_none_match else {}
    answer = requests.get(f"{registry.url}/helm/{namespace}/index.yaml", headers=headers, timeout=10)
    unchanged = answer.headers["ETag"] == if_none_match
    assert answer.status_code == (304 if unchanged else 200), answer.status_code
    assert unchanged or yaml.safe_load(answer.text)["apiVersion"] == "v1"
    return answer.headers["ETag"]


@pytest.mark.parametrize("helm", sorted(HELMS))
def test_a_classic_upload_is_what_helm_push_stores(registry, work, helm):
    """Uploaded the ChartMuseum way, pulled with `helm pull oci://`: the same bytes; and the config and layers are
    those `helm push` writes for the same file (helm 4's manifest, to its annotations, but for `created`)."""
    binary, plain = helm_binary(helm), HELMS[helm]
    env = helm_env(work)
    archive = package(work, f"trip-{helm}", "1.0.0", env)
    assert curl("--data-binary", f"@{archive}", f"{registry.url}/helm/uploaded/api/charts")[0] == 201
    out = work / "pulled"
    out.mkdir()
    run(binary, "pull", f"oci://{registry.host}/uploaded/trip-{helm}", "--version", "1.0.0", "--destination", out,
        *plain, env=env)
    assert (out / archive.name).read_bytes() == archive.read_bytes()

    run(binary, "push", archive, f"oci://{registry.host}/pushed", *plain, env=env)
    assert_same_artifact(manifest_of(registry.url, f"uploaded/trip-{helm}", "1.0.0")[0],
                         manifest_of(registry.url, f"pushed/trip-{helm}", "1.0.0")[0], helm)


def assert_same_artifact(uploaded, pushed, helm):
    """The same config and layers (helm 3.8 orders them as it pushes them, helm 4 by digest); to helm 4, the same
    manifest but for its `created` annotation."""
    def by_digest(layers):
        return sorted(layers, key=lambda layer: layer["digest"])

    assert uploaded["config"] == pushed["config"]
    assert by_digest(uploaded["layers"]) == by_digest(pushed["layers"])
    if helm == "helm4":
        created = "org.opencontainers.image.created"
        assert uploaded["annotations"].pop(created) and pushed["annotations"].pop(created)
        assert uploaded == pushed


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    """A gpg RSA key without a passphrase: helm signs with the secret keyring and verifies with the public one."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--pinentry-mode", "loopback"]
    run(*gpg, "--quick-gen-key", "Wharf Test <charts@wharf.test>", "rsa2048", "sign", "never")
    secret, public = home / "secring.gpg", home / "pubring.gpg"
    secret.write_bytes(subprocess.run([*gpg, "--export-secret-keys"], capture_output=True, check=True).stdout)
    public.write_bytes(subprocess.run([*gpg, "--export"], capture_output=True, check=True).stdout)
    return "Wharf Test", secret, public


@pytest.mark.parametrize("helm", sorted(HELMS))
def test_provenance_is_served_and_verifies(registry, work, signer, helm):
    """A signed chart uploaded as a form with its `.prov` (prov first: the order is free), and one pushed with
    `helm push` beside its `.prov` (the OCI provenance layer): both serve `charts/NAME-VERSION.tgz.prov`, and
    `helm pull --verify` accepts them."""
    binary, plain = helm_binary(helm), HELMS[helm]
    env = helm_env(work)
    name, secret, public = signer
    uploaded = package(work, f"signed-{helm}", "1.0.0", env, sign=(name, secret))
    provenance = uploaded.with_name(uploaded.name + ".prov").read_bytes()
    status, body = curl("-F", f"prov=@{uploaded}.prov", "-F", f"chart=@{uploaded}",
                        f"{registry.url}/helm/signed/api/charts")
    assert status == 201, body
    pushed = package(work, f"signed-{helm}", "2.0.0", env, sign=(name, secret))
    run(binary, "push", pushed, f"oci://{registry.host}/signed", *plain, env=env)
    manifest, _ = manifest_of(registry.url, f"signed/signed-{helm}", "2.0.0")
    assert sorted(layer["mediaType"] for layer in manifest["layers"]) == [
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "application/vnd.cncf.helm.chart.provenance.v1.prov"]
    # The upload with its provenance is what helm pushes with the .prov beside the file.
    run(binary, "push", uploaded, f"oci://{registry.host}/signed-pushed", *plain, env=env)
    assert_same_artifact(manifest_of(registry.url, f"signed/signed-{helm}", "1.0.0")[0],
                         manifest_of(registry.url, f"signed-pushed/signed-{helm}", "1.0.0")[0], helm)

    charts = f"{registry.url}/helm/signed/charts"
    assert requests.get(f"{charts}/{uploaded.name}.prov", timeout=10).content == provenance
    assert requests.get(f"{charts}/{pushed.name}.prov", timeout=10).content == pushed.with_name(
        pushed.name + ".prov").read_bytes()
    run(binary, "repo", "add", "signed", f"{registry.url}/helm/signed", env=env)
    for version in ("1.0.0", "2.0.0"):
        out = work / f"verified-{version}"
        out.mkdir()
        verified = run(binary, "pull", f"signed/signed-{helm}", "--version", version, "--verify", "--keyring",
                       public, "--destination", out, env=env)
        assert "Signed by: Wharf Test" in verified.stdout + verified.stderr
    # A chart without provenance has no .prov, and verifying it fails.
    plain_chart = package(work, f"unsigned-{helm}", "1.0.0", env)
    assert curl("--data-binary", f"@{plain_chart}", f"{registry.url}/helm/signed/api/charts")[0] == 201
    assert requests.get(f"{charts}/{plain_chart.name}.prov", timeout=10).status_code == 404
    run(binary, "repo", "update", env=env)
    refused = run(binary, "pull", f"signed/unsigned-{helm}", "--version", "1.0.0", "--verify", "--keyring", public,
                  "--destination", work / "unverified", env=env, check=False)
    assert refused.returncode != 0


def tgz(files: dict[str, bytes], compress=True) -> bytes:
    """A .tgz holding `files` (path: content)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue()) if compress else raw.getvalue()


def chart_yaml(name="bad", version="1.0.0") -> bytes:
    return f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()


def corrupt(archive: bytes) -> bytes:
    """Garbage for 16 bytes in the middle of the deflate stream."""
    middle = len(archive) // 2
    return archive[:middle] + b"\xa5" * 16 + archive[middle + 16:]


def zip_bomb() -> bytes:
    """A valid chart followed by 101 MiB of zeros in a 100 kB gzip: more than helm itself would inflate."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("bad/Chart.yaml")
        info.size = len(chart_yaml())
        tar.addfile(info, io.BytesIO(chart_yaml()))
        zeros = tarfile.TarInfo("bad/zeros")
        zeros.size = 101 << 20
        tar.addfile(zeros, io.BytesIO(bytes(zeros.size)))
    return gzip.compress(raw.getvalue(), compresslevel=9)


INVALID = {
    "no Chart.yaml": (tgz({"bad/values.yaml": b"a: 1\n"}), "no bad/Chart.yaml"),
    "a version that is not semver": (tgz({"bad/Chart.yaml": chart_yaml(version="one")}), "version"),
    "a name that does not match its directory": (tgz({"other/Chart.yaml": chart_yaml()}), "directory"),
    "a corrupt gzip": (corrupt(tgz({"bad/Chart.yaml": chart_yaml(), "bad/values.yaml": bytes(4096)})), "gzip"),
    "a truncated gzip": (tgz({"bad/Chart.yaml": chart_yaml()})[:-20], "gzip"),
    "not gzip at all": (tgz({"bad/Chart.yaml": chart_yaml()}, compress=False), "gzip"),
    "a zip bomb": (zip_bomb(), "inflates to more than"),
    "a path out of the chart": (tgz({"bad/Chart.yaml": chart_yaml(), "bad/../../etc/x": b"x"}), ".."),
    "an absolute path": (tgz({"bad/Chart.yaml": chart_yaml(), "/etc/passwd": b"x"}), "/etc/passwd"),
    "a name that is no repository name": (tgz({"Bad/Chart.yaml": chart_yaml(name="Bad")}), "Bad"),
    "Chart.yaml that is not YAML": (tgz({"bad/Chart.yaml": b"name: [unclosed\n"}), "Chart.yaml"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_chart_is_refused_and_leaves_nothing(registry, case):
    archive, message = INVALID[case]
    before = stored(registry)
    for form in (False, True):
        answer = requests.post(f"{registry.url}/helm/invalid/api/charts", timeout=30,
                               **({"files": {"chart": ("bad.tgz", archive)}} if form else {"data": archive}))
        assert answer.status_code == 400, (case, answer.status_code, answer.text)
        assert message in answer.json()["error"], (case, answer.text)
    assert stored(registry) == before
    assert "invalid" not in requests.get(f"{registry.url}/v2/_catalog", timeout=10).json()["repositories"]
    assert not yaml.safe_load(requests.get(f"{registry.url}/helm/invalid/index.yaml", timeout=10).text)["entries"]


def stored(registry) -> tuple[set, set]:
    """The blob files and upload sessions in the registry's data directory (on a cluster, its bucket's objects)."""
    if hasattr(registry, "instances"):
        env = registry.env
        s3, prefix = bucket(env["WHARF_S3_ENDPOINT"]), env["WHARF_S3_PREFIX"]
        keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["WHARF_S3_BUCKET"],
                                                                                   Prefix=prefix)
                for o in page.get("Contents", [])}
        return ({k for k in keys if k.startswith(prefix + "blobs/")},
                {k for k in keys if k.startswith(prefix + "uploads/")})
    data = registry.data_dir
    return ({p.name for p in (data / "blobs").rglob("*") if p.is_file()},
            {p.name for p in (data / "uploads").glob("*")} if (data / "uploads").exists() else set())


def test_garbage_collection_frees_a_deleted_charts_blobs(tmp_path, signer, request):
    """A chart deleted through the API leaves its manifest, config, .tgz and .prov to garbage collection, like any
    artifact's blobs; the chart kept beside it still downloads."""
    server = serve(request, tmp_path / "data", extra_env={"WHARF_GC_GRACE": "1s"})
    try:
        env = helm_env(tmp_path)
        kept = package(tmp_path, "collected", "1.0.0", env)
        doomed = package(tmp_path, "collected", "2.0.0", env, sign=signer[:2])
        api = f"{server.url}/helm/gc/api/charts"
        assert curl("--data-binary", f"@{kept}", api)[0] == 201
        assert curl("-F", f"chart=@{doomed}", "-F", f"prov=@{doomed}.prov", api)[0] == 201
        manifest, digest = manifest_of(server.url, "gc/collected", "2.0.0")
        blobs = {digest, manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}
        assert curl("-X", "DELETE", f"{api}/collected/2.0.0")[0] == 200
        time.sleep(1.2)
        freed = run(wharf_binary(), "gc", "--url", server.url).stdout
        assert "freed 4 blobs" in freed, freed
        for blob in blobs:
            assert requests.head(f"{server.url}/v2/gc/collected/blobs/{blob}", timeout=10).status_code == 404
        charts = f"{server.url}/helm/gc/charts"
        assert requests.get(f"{charts}/{kept.name}", timeout=10).content == kept.read_bytes()
        assert requests.get(f"{charts}/{doomed.name}", timeout=10).status_code == 404
    finally:
        server.stop()
