"""Bad input at the HTTP level, over raw sockets against a live server: bodies that end early or are badly chunked,
answers that come before the body (with and without `Expect: 100-continue`), and the same with access control on.
With `WHARF_E2E_CLUSTER`, against a cluster's instances, each connection to the next."""

import base64
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import require, serve
from images import sha256
from secure_registry import PASSWORDS, start_secure

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Connection:
    """One raw HTTP/1.1 connection: send bytes, read answers (heads and Content-Length bodies)."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def request(self, method, path, headers=(), body=b"", length=None):
        lines = [f"{method} {path} HTTP/1.1", "Host: wharf"] + list(headers)
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def answer(self, to_head=False):
        """(status, headers, body) of the next answer (`to_head`: to a HEAD, so without a body); raises on timeout or
        a close before a whole answer."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *fields = head.decode("latin-1").split("\r\n")
        headers = {}
        for field in fields:
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if to_head else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self, within=6.0) -> bool:
        """Whether the server ends the connection (EOF or reset) within `within` seconds."""
        self.sock.settimeout(within)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {self.buffer[:200]!r}")
        self.buffer += chunk

    def close(self):
        self.sock.close()


def port_of(server) -> int:
    """The server's port; on a cluster (WHARF_E2E_CLUSTER) the next instance's, in turn: these tests talk to the
    instances directly (through nginx they would test nginx's framing), and each connection reaches another one."""
    instances = getattr(server, "instances", None)
    if not instances:
        return server.port
    server.turn = (getattr(server, "turn", -1) + 1) % len(instances)
    return instances[server.turn].port


def code(body: bytes) -> str:
    return json.loads(body)["errors"][0]["code"]


def call(server, method, path, body=b"", headers=()):
    connection = Connection(port_of(server))
    try:
        connection.request(method, path, headers, body)
        return connection.answer(to_head=method == "HEAD")
    finally:
        connection.close()


def start_upload(server, repo):
    status, headers, _ = call(server, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    return headers["location"]


def upload_size(server, location) -> str:
    status, headers, _ = call(server, "GET", location)
    assert status == 204
    return headers["range"]


def cut_short(server, method, path, declared, sent, headers=()):
    """Sends fewer bytes than declared and half-closes; returns the answer, or None when the server just closed."""
    connection = Connection(port_of(server))
    try:
        connection.request(method, path, headers, sent, length=declared)
        connection.sock.shutdown(socket.SHUT_WR)
        try:
            return connection.answer()
        except (ConnectionError, OSError):
            return None
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    server = serve(request, tmp_path_factory.mktemp("hardening") / "data")
    yield server
    server.stop()


def test_a_body_that_ends_early_is_a_client_error_and_stores_nothing(server):
    location = start_upload(server, "hard/trunc")
    first = os.urandom(1000)
    assert call(server, "PATCH", location, first, ["Content-Range: 0-999"])[0] == 202

    for method, suffix, expected in (("PATCH", "", "BLOB_UPLOAD_INVALID"),
                                     ("PUT", f"?digest={sha256(first + b'x' * 5000)}", "BLOB_UPLOAD_INVALID")):
        answer = cut_short(server, method, location + suffix, declared=5000, sent=b"x" * 1200)
        assert answer is None or (answer[0] == 400 and code(answer[2]) == expected), answer
        assert upload_size(server, location) == "0-999", "the upload moved past what was acknowledged"

    data = os.urandom(4000)
    answer = cut_short(server, "POST", f"/v2/hard/trunc/blobs/uploads/?digest={sha256(data)}", len(data), data[:1000])
    assert answer is None or (answer[0] == 400 and code(answer[2]) == "BLOB_UPLOAD_INVALID"), answer
    assert call(server, "HEAD", f"/v2/hard/trunc/blobs/{sha256(data)}")[0] == 404

    answer = cut_short(server, "PUT", "/v2/hard/trunc/manifests/v1", 500, b'{"schemaVersion":2,',
                       [f"Content-Type: {MANIFEST}"])
    assert answer is None or (answer[0] == 400 and code(answer[2]) == "MANIFEST_INVALID"), answer
    assert call(server, "GET", "/v2/hard/trunc/manifests/v1")[0] == 404

    # The session goes on from where it was acknowledged.
    rest = os.urandom(10)
    assert call(server, "PATCH", location, rest, ["Content-Range: 1000-1009"])[0] == 202
    assert call(server, "PUT", f"{location}?digest={sha256(first + rest)}")[0] == 201


def test_a_malformed_chunked_body_is_a_bad_request(server):
    location = start_upload(server, "hard/chunked")
    for method, path in (("PATCH", location), ("PUT", "/v2/hard/chunked/manifests/v1")):
        connection = Connection(port_of(server))
        connection.send(f"{method} {path} HTTP/1.1\r\nHost: wharf\r\nTransfer-Encoding: chunked\r\n"
                        f"Content-Type: {MANIFEST}\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".encode())
        try:
            status, _, body = connection.answer()
            assert status == 400, (method, status, body)
            assert not body or code(body) in ("BLOB_UPLOAD_INVALID", "MANIFEST_INVALID")
        except ConnectionError:
            pass  # a close is an answer too
        connection.close()
    assert upload_size(server, location) == "0-0"


def test_an_early_answer_reads_the_rest_of_a_bounded_body(server):
    """5 MiB sent without Expect at a refusal: the client gets the refusal, and the connection stays usable."""
    big = os.urandom(5 << 20)
    for path, headers, status in (
        ("/v2/hard/early/manifests/v1", [f"Content-Type: {MANIFEST}"], 413),
        ("/v2/hard/early/blobs/uploads/00000000-0000-0000-0000-000000000000", [], 404),
    ):
        connection = Connection(port_of(server))
        started = time.monotonic()
        connection.request("PATCH" if "uploads" in path else "PUT", path, headers, big)
        answer = connection.answer()
        assert answer[0] == status and time.monotonic() - started < 4
        connection.request("GET", "/v2/")
        assert connection.answer()[0] == 200, "the connection was not usable after the early answer"
        connection.close()


def test_an_early_answer_to_an_unbounded_body_closes_the_connection(server):
    """A body far past the drain limit: the refusal comes with `Connection: close`, and the server ends the
    connection instead of reading it all."""
    connection = Connection(port_of(server))
    connection.request("PATCH", "/v2/hard/early/blobs/uploads/00000000-0000-0000-0000-000000000000", length=1 << 30)
    connection.send(os.urandom(1 << 20))
    status, headers, body = connection.answer()
    assert status == 404 and code(body) == "BLOB_UPLOAD_UNKNOWN"
    assert headers.get("connection") == "close"
    try:
        for _ in range(64):  # the client keeps sending; the server stops reading after its limit
            connection.send(os.urandom(1 << 20))
    except OSError:
        pass
    assert connection.closed(), "the server kept reading a body it had refused"


def test_expect_100_continue(server, tmp_path):
    location = start_upload(server, "hard/expect")
    data = os.urandom(3000)
    connection = Connection(port_of(server))
    connection.request("PATCH", location, ["Expect: 100-continue", "Content-Range: 0-2999"], length=len(data))
    status, _, _ = connection.answer()
    assert status == 100, "no 100 Continue for a request the server will take"
    connection.send(data)
    assert connection.answer()[0] == 202
    connection.close()

    # Refused before the body is read: the final answer at once, no 100, and the connection ends.
    connection = Connection(port_of(server))
    connection.request("PATCH", "/v2/hard/expect/blobs/uploads/00000000-0000-0000-0000-000000000000",
                       ["Expect: 100-continue"], length=len(data))
    status, headers, body = connection.answer()
    assert status == 404 and code(body) == "BLOB_UPLOAD_UNKNOWN" and headers.get("connection") == "close"
    assert connection.closed()

    # curl sends Expect for uploads and waits a second for the 100: it must not have to.
    blob = os.urandom(2 << 20)
    path = tmp_path / "expect.bin"
    path.write_bytes(blob)
    location = start_upload(server, "hard/expect")
    result = subprocess.run(
        [require("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-T", str(path),
         f"http://127.0.0.1:{port_of(server)}{location}?digest={sha256(blob)}"], capture_output=True, text=True, check=True)
    status, seconds = result.stdout.split()
    assert status == "201" and float(seconds) < 0.9, result.stdout


def test_refusals_with_access_control_come_before_the_body(tmp_path):
    secure = start_secure(tmp_path)
    try:
        port = secure.server.port
        # Without Expect: a 401 for 5 MiB the client sends anyway, then the connection goes on.
        connection = Connection(port)
        connection.request("PUT", "/v2/team-a/app/manifests/v1", [f"Content-Type: {MANIFEST}"], os.urandom(5 << 20))
        status, headers, body = connection.answer()
        assert status == 401 and code(body) == "UNAUTHORIZED" and "www-authenticate" in headers
        connection.request("GET", "/healthz")
        assert connection.answer()[0] == 200
        connection.close()

        # With Expect: no 100 for a caller the gate refuses.
        connection = Connection(port)
        connection.request("POST", f"/v2/team-a/app/blobs/uploads/?digest={sha256(b'x')}", ["Expect: 100-continue"],
                           length=1)
        status, headers, _ = connection.answer()
        assert status == 401 and headers.get("connection") == "close"
        connection.close()

        # And a 100 for one it admits.
        credentials = base64.b64encode(f"alice:{PASSWORDS['alice']}".encode()).decode()
        connection = Connection(port)
        connection.request("POST", f"/v2/team-a/app/blobs/uploads/?digest={sha256(b'x')}",
                           ["Expect: 100-continue", f"Authorization: Basic {credentials}"], length=1)
        assert connection.answer()[0] == 100
        connection.send(b"x")
        assert connection.answer()[0] == 201
        connection.close()
    finally:
        secure.server.stop()
