"""Faults at the HTTP level against a live server: truncated bodies, clients that vanish mid-upload, double
commits, deleting a blob while it is pulled, and upload sessions that outlive a SIGKILL."""

import os
import socket
import urllib.error
import urllib.request

from conftest import Server
from images import sha256


def call(url, method, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def start_upload(registry, repo):
    status, headers, _ = call(f"{registry.url}/v2/{repo}/blobs/uploads/", "POST")
    assert status == 202
    return registry.url + headers["Location"]


def send_and_vanish(registry, path, declared: int, sent: bytes, method="PATCH"):
    """Sends a request head promising `declared` bytes, sends fewer, and closes the connection."""
    with socket.create_connection(("127.0.0.1", registry.port)) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n".encode() + sent)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass


def upload_range(url):
    status, headers, _ = call(url, "GET")
    assert status == 204
    return headers["Range"]


def test_truncated_and_abandoned_bodies_leave_the_upload_where_it_stood(registry):
    url = start_upload(registry, "faults/trunc")
    first = os.urandom(1000)
    assert call(url, "PATCH", first, {"Content-Range": "0-999"})[0] == 202
    path = url[len(registry.url):]
    send_and_vanish(registry, path, declared=5 << 20, sent=os.urandom(300 << 10))
    assert upload_range(url) == "0-999"
    rest = os.urandom(500)
    assert call(url, "PATCH", rest, {"Content-Range": "1000-1499"})[0] == 202
    assert call(f"{url}?digest={sha256(first + rest)}", "PUT")[0] == 201

    # A monolithic upload cut short stores nothing.
    data = os.urandom(2 << 20)
    send_and_vanish(registry, f"/v2/faults/trunc/blobs/uploads/?digest={sha256(data)}", len(data), data[:1 << 20], "POST")
    assert call(f"{registry.url}/v2/faults/trunc/blobs/{sha256(data)}", "HEAD")[0] == 404


def test_commit_twice_and_patch_after_commit(registry):
    url = start_upload(registry, "faults/twice")
    data = b"committed once"
    assert call(f"{url}?digest={sha256(data)}", "PUT", data)[0] == 201
    for method, body in (("PUT", b""), ("PATCH", b"more")):
        status, _, error = call(f"{url}?digest={sha256(data)}", method, body)
        assert status == 404 and b"BLOB_UPLOAD_UNKNOWN" in error


def test_delete_while_pulling_finishes_the_pull(registry):
    data = os.urandom(8 << 20)
    digest = sha256(data)
    assert call(f"{registry.url}/v2/faults/del/blobs/uploads/?digest={digest}", "POST", data)[0] == 201
    with urllib.request.urlopen(f"{registry.url}/v2/faults/del/blobs/{digest}") as response:
        head = response.read(1 << 20)
        assert call(f"{registry.url}/v2/faults/del/blobs/{digest}", "DELETE")[0] == 202
        assert head + response.read() == data
    assert call(f"{registry.url}/v2/faults/del/blobs/{digest}", "GET")[0] == 404
    assert call(f"{registry.url}/healthz", "GET")[0] == 200


def test_upload_session_survives_sigkill(tmp_path):
    server = Server(tmp_path / "data")
    first, second = os.urandom(3 << 20), os.urandom(1 << 20)
    try:
        url = start_upload(server, "faults/resume")
        path = url[len(server.url):]
        assert call(url, "PATCH", first, {"Content-Range": f"0-{len(first) - 1}"})[0] == 202
    finally:
        server.kill()
    server = Server(tmp_path / "data")
    try:
        url = server.url + path
        assert upload_range(url) == f"0-{len(first) - 1}"
        status, headers, _ = call(url, "PATCH", second, {"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"})
        assert status == 202 and headers["Range"] == f"0-{len(first) + len(second) - 1}"
        wrong = call(f"{url}?digest={sha256(first)}", "PUT")
        assert wrong[0] == 400 and b"DIGEST_INVALID" in wrong[2]
        # The mismatch discarded the session; a new one with the right digest commits after the restart too.
        url = start_upload(server, "faults/resume")
        assert call(url, "PATCH", first)[0] == 202
    finally:
        server.kill()
    server = Server(tmp_path / "data")
    try:
        assert call(f"{server.url}{url[url.index('/v2/'):]}?digest={sha256(first + second)}", "PUT", second)[0] == 201
        assert call(f"{server.url}/v2/faults/resume/blobs/{sha256(first + second)}", "GET")[2] == first + second
    finally:
        server.stop()
