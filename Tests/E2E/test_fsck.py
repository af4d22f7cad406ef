"""`wharf fsck` on a store a live server filled, then damaged by hand."""

import subprocess
import urllib.error
import urllib.request

from conftest import Server, wharf_binary
from images import sha256


def push(server, repo, data: bytes) -> str:
    digest = sha256(data)
    request = urllib.request.Request(
        f"{server.url}/v2/{repo}/blobs/uploads/?digest={digest}", data=data, method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
    return digest


def fsck(data_dir, *args):
    return subprocess.run([wharf_binary(), "fsck", "--data-dir", str(data_dir), *args], capture_output=True, text=True)


def test_fsck_reports_repairs_and_exits_by_state(tmp_path):
    server = Server(tmp_path / "data")
    try:
        good = push(server, "fsck/app", b"good layer")
        bad = push(server, "fsck/app", b"layer to corrupt")
    finally:
        server.stop()

    clean = fsck(tmp_path / "data")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "2 blob files, 2 re-hashed" in clean.stdout and "clean" in clean.stdout

    path = tmp_path / "data" / "blobs" / "sha256" / bad[7:9] / bad[7:]
    path.write_bytes(b"tampered!" + path.read_bytes()[9:])
    found = fsck(tmp_path / "data")
    assert found.returncode == 2
    assert f"corrupt: {bad}" in found.stdout and good not in found.stdout

    repaired = fsck(tmp_path / "data", "--repair")
    assert repaired.returncode == 1, repaired.stdout
    assert (tmp_path / "data" / "quarantine" / f"sha256-{bad[7:]}").exists()
    assert fsck(tmp_path / "data").returncode == 0

    server = Server(tmp_path / "data")
    try:
        urllib.request.urlopen(f"{server.url}/v2/fsck/app/blobs/{good}").close()
        try:
            urllib.request.urlopen(f"{server.url}/v2/fsck/app/blobs/{bad}")
            raise AssertionError("a quarantined blob was served")
        except urllib.error.HTTPError as error:
            assert error.code == 404
    finally:
        server.stop()
