"""`wharf fsck` on a store a live server filled, then damaged by hand."""

import os
import subprocess
import time
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
    assert "2 blob files, 2 re-hashed" in clean.stdout and "no damage found" in clean.stdout

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


def test_fsck_lists_crash_leftovers_as_garbage_with_their_age(tmp_path):
    server = Server(tmp_path / "data")
    try:
        push(server, "fsck/app", b"a layer")
        request = urllib.request.Request(f"{server.url}/v2/fsck/app/blobs/uploads/", method="POST")
        with urllib.request.urlopen(request) as response:
            session = response.headers["Location"].rsplit("/", 1)[1]
    finally:
        server.kill()  # as in a crash
    data = tmp_path / "data"
    orphan = data / "blobs" / "sha256" / "ff" / ("ff" * 32)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"renamed before a kill, never committed")
    leftover = data / "uploads" / "direct-17"
    leftover.write_bytes(b"a manifest write cut short")
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    os.utime(leftover, (two_hours_ago, two_hours_ago))

    found = fsck(data)
    assert found.returncode == 0, found.stdout  # garbage is not damage
    assert f"garbage: orphan blob file {orphan}, 38 bytes, 2h0m old" in found.stdout, found.stdout
    assert f"upload file (left by a crash): {leftover}, 26 bytes, 2h0m old" in found.stdout, found.stdout
    assert f"upload file (session): {data / 'uploads' / session}" in found.stdout, found.stdout

    repaired = fsck(data, "--repair")
    assert repaired.returncode == 0 and f"repaired: deleted orphan file {orphan}" in repaired.stdout, repaired.stdout
    assert not orphan.exists()
    assert "garbage:" not in fsck(data).stdout
