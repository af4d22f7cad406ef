"""helm 3.8 and helm 4 push, pull and show chart against Wharf over plain HTTP on 127.0.0.1."""

import os
import tarfile

import pytest

from conftest import ROOT, run

HELMS = {"helm3": [], "helm4": ["--plain-http"]}  # helm 3.8 speaks plain HTTP to localhost by itself


def helm_binary(name: str) -> str:
    path = ROOT / ".tools" / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing; scripts/install-test-tools.sh installs it")
    return str(path)


def helm_env(base, **extra) -> dict:
    """helm's cache, configuration and data under `base`: each test starts with no repositories or logins."""
    return dict(os.environ, HELM_CACHE_HOME=str(base / "cache"), HELM_CONFIG_HOME=str(base / "config"),
                HELM_DATA_HOME=str(base / "data"), **extra)


@pytest.mark.parametrize("helm", sorted(HELMS))
def test_helm_push_pull_show(registry, work, helm):
    binary, plain = helm_binary(helm), HELMS[helm]
    env = helm_env(work)
    chart = f"wharf-{helm}"
    run(binary, "create", work / chart, env=env)
    packaged = run(binary, "package", work / chart, "--destination", work, env=env).stdout
    archive = work / f"{chart}-0.1.0.tgz"
    assert archive.exists(), packaged

    pushed = run(binary, "push", archive, f"oci://{registry.host}/e2e/charts", *plain, env=env)
    assert "Digest: sha256:" in pushed.stdout + pushed.stderr

    out = work / "pulled"
    out.mkdir()
    ref = f"oci://{registry.host}/e2e/charts/{chart}"
    run(binary, "pull", ref, "--version", "0.1.0", "--destination", out, *plain, env=env)
    with tarfile.open(out / f"{chart}-0.1.0.tgz") as pulled, tarfile.open(archive) as original:
        assert pulled.getnames() == original.getnames()

    shown = run(binary, "show", "chart", ref, "--version", "0.1.0", *plain, env=env).stdout
    assert f"name: {chart}" in shown and "version: 0.1.0" in shown
