"""A full disk during uploads: the client gets a clear 507 with an OCI error body, the partial upload is removed,
reads keep working, and pushes work again once space is freed. The store lives on a small tmpfs that the
test mounts and removes (root is needed for mount; CI runs as root)."""

import json
import os
import urllib.error
import urllib.request

import pytest

from conftest import Server, small_tmpfs
from images import sha256


@pytest.fixture
def small_disk(tmp_path):
    with small_tmpfs(tmp_path / "disk", "6m") as mountpoint:
        yield mountpoint


def post(server, repo, data: bytes):
    digest = sha256(data)
    request = urllib.request.Request(f"{server.url}/v2/{repo}/blobs/uploads/?digest={digest}", data=data, method="POST")
    return urllib.request.urlopen(request)


def test_full_disk_gives_a_clear_error_and_recovers(small_disk):
    server = Server(small_disk / "data")
    try:
        small = os.urandom(64 << 10)
        assert post(server, "full/app", small).status == 201
        filler = small_disk / "filler"
        filler.write_bytes(os.urandom(3 << 20))

        with pytest.raises(urllib.error.HTTPError) as raised:
            post(server, "full/app", os.urandom(4 << 20))
        assert raised.value.code == 507
        body = json.loads(raised.value.read())
        assert body["errors"][0]["code"] == "STORAGE_FULL"
        assert "out of space" in body["errors"][0]["message"]
        assert os.listdir(small_disk / "data" / "uploads") == []

        # Reads keep working while the disk is full.
        with urllib.request.urlopen(f"{server.url}/v2/full/app/blobs/{sha256(small)}") as response:
            assert response.read() == small

        filler.unlink()
        retry = os.urandom(4 << 20)
        assert post(server, "full/app", retry).status == 201
        with urllib.request.urlopen(f"{server.url}/v2/full/app/blobs/{sha256(retry)}") as response:
            assert response.read() == retry
    finally:
        server.stop()
