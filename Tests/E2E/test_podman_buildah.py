"""podman and buildah against a live Wharf, with the vfs storage driver; no container is ever run."""

import json
import shutil
import tempfile

import pytest

from conftest import require, run
from images import Layout


@pytest.fixture
def storage(work):
    """Private container storage for one test, so nothing touches the machine's own.
    podman wants a runroot path of at most 50 characters, hence a short temporary directory."""
    runroot = tempfile.mkdtemp(prefix="wharf-run-")
    yield ["--root", work / "root", "--runroot", runroot, "--storage-driver", "vfs"]
    shutil.rmtree(runroot, ignore_errors=True)


def podman(storage, *args, **kwargs):
    return run(require("podman"), *storage, "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args, **kwargs)


def buildah(storage, *args, **kwargs):
    return run(require("buildah"), *storage, *args, **kwargs)


def test_podman_push_and_pull(registry, work, storage):
    layout = Layout(work / "src")
    layout.image({"podman.txt": b"pushed by podman\n"}, tag="v1")
    podman(storage, "pull", f"oci:{layout.path}:v1")
    image_id = podman(storage, "images", "--format", "{{.ID}}").stdout.split()[0]
    ref = f"{registry.host}/e2e/podman/app:v1"
    podman(storage, "push", "--tls-verify=false", image_id, ref)
    podman(storage, "rmi", "--all", "--force")
    assert podman(storage, "images", "-q").stdout.strip() == ""

    podman(storage, "pull", "--tls-verify=false", ref)
    pulled = json.loads(podman(storage, "image", "inspect", ref).stdout)[0]
    assert pulled["Id"].startswith(image_id)
    # podman can read the file back from the pulled layers without running anything.
    mount = podman(storage, "image", "mount", ref).stdout.strip()
    with open(f"{mount}/podman.txt") as f:
        assert f.read() == "pushed by podman\n"


def test_buildah_from_scratch_push_and_pull(registry, work, storage):
    (work / "hello.txt").write_text("built by buildah\n")
    container = buildah(storage, "from", "scratch").stdout.strip()
    buildah(storage, "copy", container, work / "hello.txt", "/hello.txt")
    buildah(storage, "config", "--label", "built-by=buildah", container)
    buildah(storage, "commit", container, "e2e-buildah")
    ref = f"{registry.host}/e2e/buildah/app:v1"
    buildah(storage, "push", "--tls-verify=false", "e2e-buildah", f"docker://{ref}")
    buildah(storage, "rm", "--all")
    buildah(storage, "rmi", "--all", "--force")

    buildah(storage, "pull", "--tls-verify=false", ref)
    info = json.loads(buildah(storage, "inspect", "--type", "image", ref).stdout)
    assert info["OCIv1"]["config"]["Labels"]["built-by"] == "buildah"
    container = buildah(storage, "from", ref).stdout.strip()
    mount = buildah(storage, "mount", container).stdout.strip()
    with open(f"{mount}/hello.txt") as f:
        assert f.read() == "built by buildah\n"
