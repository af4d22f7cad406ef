"""A seeded fuzz test of the distribution API (`/v2/...`) over raw HTTP/1.1 sockets, against one live `wharf serve`
(with `WHARF_E2E_CLUSTER`, a cluster's instances, each case sent to the next one directly: through nginx, the framing
cases would meet nginx's own answers).

The registry is first seeded over ordinary HTTP with real blobs, manifests, tags, an index and open upload sessions,
so that the generated requests hit real objects as well as missing ones. Then a fixed budget of requests, all drawn
up front from `random.Random(SEED)`, is sent from a few threads, one connection per request: random methods, paths,
digests, query strings, headers, bodies and framing (chunked bodies valid and broken, Content-Length lies,
`Expect: 100-continue`). Every answer must be a well-formed HTTP response:

* no status >= 500;
* every 4xx to a non-HEAD request carries the spec's `{"errors":[{"code":..,"message":..}]}` with a spec code,
  except the HTTP layer's bare `400` with `Connection: close` for a request it cannot parse, and answers to
  `CONNECT`, which NIO's encoder frames without a body (the server then closes the connection after them);
* every 405 names the allowed methods in `Allow`;
* no request hangs (the test never lies about a body without half-closing its side);

and afterwards the server is alive, answers `/v2/` and still serves the seeded read-only content byte for byte.
All failures are collected and reported together, each with the raw request that reproduces it.

Reproduce with `WHARF_FUZZ_SEED=<seed>` (default below); `WHARF_FUZZ_CASES=12,345` replays only those cases
(same seed) against a freshly seeded server, `WHARF_FUZZ_BUDGET` changes the number of requests.
"""

import hashlib
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from conftest import Server, serve

SEED = int(os.environ.get("WHARF_FUZZ_SEED", "20240611"))
BUDGET = int(os.environ.get("WHARF_FUZZ_BUDGET", "3000"))
ONLY = {int(x) for x in os.environ.get("WHARF_FUZZ_CASES", "").split(",") if x.strip()}
THREADS = 6
REQUEST_TIMEOUT = 5.0  # seconds for one whole exchange
EXPECT_WAIT = 2.0  # seconds to wait for `100 Continue` (or a final answer) after `Expect: 100-continue`
MAX_REPORTED = 20

SPEC_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED",
    "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
}

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

# Framing modes in which the test itself sends a broken message (and always half-closes afterwards, or sends more
# than it declared): here the server may also just close the connection without answering.
BROKEN_FRAMING = {"short", "long", "chunked_bad", "cl_junk"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- seeding over ordinary HTTP ---------------------------------------------------------------------------------


def call(url, method, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@dataclass
class Seeded:
    """What the registry holds before the fuzzing starts."""

    blobs: dict = field(default_factory=dict)  # digest -> bytes, every seeded blob
    manifests: dict = field(default_factory=dict)  # digest -> (media type, bytes)
    sessions: list = field(default_factory=list)  # (repo, upload id) left open
    # Read-only repository: the fuzzer sends it only GET and HEAD, and the test checks it byte for byte at the end.
    keep_repo: str = "keep/base"
    keep_blobs: dict = field(default_factory=dict)
    keep_refs: dict = field(default_factory=dict)  # tag or digest -> (media type, bytes)
    keep_session: tuple = ("", "", 0)  # (repo, id, bytes written)
    write_repos: tuple = ("fuzz/app", "fuzz/blobs/manifests", "fuzz/src", "fuzz/x.y_z--w")


def push_blob(url, repo, data):
    digest = sha256(data)
    status, _, body = call(f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", "POST", data)
    assert status == 201, (status, body)
    return digest


def push_manifest(url, repo, ref, media_type, data):
    status, headers, body = call(f"{url}/v2/{repo}/manifests/{ref}", "PUT", data, {"Content-Type": media_type})
    assert status == 201, (status, body)
    assert headers["Docker-Content-Digest"] == sha256(data)
    return sha256(data)


def open_session(url, repo, data=b""):
    status, headers, body = call(f"{url}/v2/{repo}/blobs/uploads/", "POST")
    assert status == 202, (status, body)
    location = headers["Location"]
    if data:
        status, _, body = call(url + location, "PATCH", data,
                               {"Content-Range": f"0-{len(data) - 1}", "Content-Type": "application/octet-stream"})
        assert status == 202, (status, body)
    return location.rstrip("/").rsplit("/", 1)[1]


def image(rng, marker):
    layer = rng.randbytes(rng.randrange(1, 5000))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"m": marker}},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
    }, indent=1).encode()
    return config, layer, manifest


def index_of(*manifests):
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(m), "size": len(m),
         "platform": {"architecture": arch, "os": "linux"}} for m, arch in zip(manifests, ("amd64", "arm64", "s390x"))
    ]}).encode()


def seed_registry(url) -> Seeded:
    rng = random.Random(SEED ^ 0x5EED)
    s = Seeded()

    def image_into(repo, tag, marker):
        config, layer, manifest = image(rng, marker)
        for blob in (config, layer):
            s.blobs[push_blob(url, repo, blob)] = blob
        s.manifests[push_manifest(url, repo, tag, OCI_MANIFEST, manifest)] = (OCI_MANIFEST, manifest)
        return config, layer, manifest

    # The read-only repository, checked at the end.
    k_config, k_layer, k_manifest = image_into(s.keep_repo, "v1", "keep")
    _, _, k_other = image_into(s.keep_repo, "other", "keep-2")
    k_index = index_of(k_manifest, k_other)
    s.manifests[push_manifest(url, s.keep_repo, "multi", OCI_INDEX, k_index)] = (OCI_INDEX, k_index)
    only_keep = rng.randbytes(3000)  # a blob no other repository has (mount and delete targets elsewhere)
    s.blobs[push_blob(url, s.keep_repo, only_keep)] = only_keep
    s.keep_blobs = {d: b for d, b in s.blobs.items()}
    s.keep_refs = {"v1": (OCI_MANIFEST, k_manifest), sha256(k_manifest): (OCI_MANIFEST, k_manifest),
                   "other": (OCI_MANIFEST, k_other), "multi": (OCI_INDEX, k_index), sha256(k_index): (OCI_INDEX, k_index)}
    keep_partial = rng.randbytes(100)
    s.keep_session = (s.keep_repo, open_session(url, s.keep_repo, keep_partial), len(keep_partial))

    # Repositories the fuzzer may change: the same blobs (so that deletes there must not touch keep/base), more
    # images, tags, an index, and upload sessions, empty and part-written.
    for blob in (k_config, k_layer):
        push_blob(url, "fuzz/app", blob)
    push_manifest(url, "fuzz/app", "v1", OCI_MANIFEST, k_manifest)
    _, _, m2 = image_into("fuzz/app", "v2", "app-2")
    _, _, m3 = image_into("fuzz/app", "latest", "app-3")
    idx = index_of(m2, m3)
    s.manifests[push_manifest(url, "fuzz/app", "multi", OCI_INDEX, idx)] = (OCI_INDEX, idx)
    image_into("fuzz/blobs/manifests", "v1", "segments")
    image_into("fuzz/src", "v1", "src")
    extra = rng.randbytes(20000)
    s.blobs[push_blob(url, "fuzz/src", extra)] = extra
    image_into("fuzz/x.y_z--w", "t", "odd-name")
    for repo in ("fuzz/app", "fuzz/app", "fuzz/src", "fuzz/blobs/manifests"):
        s.sessions.append((repo, open_session(url, repo)))
        s.sessions.append((repo, open_session(url, repo, rng.randbytes(rng.randrange(1, 2000)))))
    return s


# --- request generation -----------------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    method: bytes
    target: bytes
    headers: list  # [(name bytes, value bytes)]
    body: bytes  # exactly what goes on the wire after the head (already chunk-encoded when chunked)
    mode: str  # normal, chunked, chunked_bad, short, long, expect, cl_junk
    route: str
    half_close: bool = False
    version: bytes = b"HTTP/1.1"
    expect_body: bytes = b""  # for mode expect: what is sent after `100 Continue`

    def head(self) -> bytes:
        lines = [self.method + b" " + self.target + b" " + self.version]
        lines += [k + b": " + v for k, v in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def raw(self) -> bytes:
        return self.head() + (self.expect_body if self.mode == "expect" else self.body)

    def reproduction(self, limit=700) -> str:
        raw = self.raw()
        text = repr(raw[:limit]) + (f" ... ({len(raw)} bytes in all)" if len(raw) > limit else "")
        if self.half_close:
            text += "  then shutdown(SHUT_WR)"
        if self.mode == "expect":
            text += "  (head first; body only after `100 Continue`)"
        return f"case #{self.index} [{self.route}, {self.mode}] WHARF_FUZZ_SEED={SEED} WHARF_FUZZ_CASES={self.index}\n" \
               f"      {text}"


READ_METHODS = ["GET", "HEAD"]
WRITE_METHODS = ["PUT", "POST", "PATCH", "DELETE"]
OTHER_METHODS = ["OPTIONS", "TRACE", "PROPFIND", "MKCOL", "COPY", "LOCK", "PURGE", "SEARCH", "LINK"]
ROUTES = ["base", "catalog", "tags", "manifest", "manifest", "manifest", "blob", "blob", "uploads", "uploads", "upload",
          "upload", "upload", "referrers", "junk"]
ROUTE_METHODS = {
    "base": ["GET", "HEAD"], "catalog": ["GET"], "tags": ["GET"], "manifest": ["GET", "HEAD", "PUT", "PUT", "DELETE"],
    "blob": ["GET", "HEAD", "DELETE"], "uploads": ["POST"], "upload": ["GET", "PATCH", "PATCH", "PUT", "PUT", "DELETE"],
    "referrers": ["GET"],
}
JUNK_METHODS = ["FOO", "get", "G\x01T", "BREW", "PUT\tX", "GETT", "P0ST", "CONNECT", "X" * 40, "DELETE2", ""]


class Generator:
    def __init__(self, rng: random.Random, seeded: Seeded, host: str):
        self.r = rng
        self.s = seeded
        self.host = host.encode()
        self.real_digests = sorted(seeded.blobs) + sorted(seeded.manifests)
        self.manifest_bodies = [seeded.manifests[d] for d in sorted(seeded.manifests)]

    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    # names ---------------------------------------------------------------------------------------------------------

    def name(self, writing: bool) -> str:
        r = self.r
        valid = list(self.s.write_repos) + ["fuzz/missing", "nope", "a/b/c/d/e/f", "fuzz/app/blobs", "fuzz/manifests",
                                            "fuzz/uploads/blobs", "fuzz/tags", "fuzz/referrers", "a" * 255]
        if not writing:
            valid += [self.s.keep_repo] * 4
        choice = r.random()
        if choice < 0.7:
            return self.pick(valid)
        junk = [
            "", "UPPER/case", "fuzz//app", "/fuzz/app", "fuzz/app/", "fuzz/../fuzz/app", "..", "fuzz/./app",
            "-lead", "trail-", "a__b_c", "a___b", "a..b", "a" * 256, "x/" * 140 + "y", "fuzz/app%2F..", "f%75zz/app",
            "fuzz%2Fapp", "%00", "%zz", "%", "fuzz/ä", "fuzz/\u2603/app", "\u0430pp", "fuzz/app\u200b", "fuzz app",
            "_catalog", "v2", "fuzz/app;x", "fuzz/app?", "fuzz/app#frag", "fuzz\\app", "fuzz/app%00", "fuzz/\x7f",
            "a" * self.r.choice([300, 1000, 4000]), "%2e%2e/%2e%2e", "fuzz/%2e%2e/app",
        ]
        name = self.pick(junk)
        if self.chance(0.2):
            name = self.percent_mangle(self.pick(valid) if self.chance(0.5) else name)
        return name

    def percent_mangle(self, text: str) -> str:
        out = []
        for ch in text:
            if ch.isalnum() and self.chance(0.3):
                out.append("%%%02X" % ord(ch) if self.chance(0.5) else "%%%02x" % ord(ch))
            else:
                out.append(ch)
        return "".join(out)

    # digests and references ----------------------------------------------------------------------------------------

    def digest(self) -> str:
        r = self.r
        roll = r.random()
        if roll < 0.45:
            return self.pick(self.real_digests)
        hex64 = r.randbytes(32).hex()
        options = [
            "sha256:" + hex64,
            "sha512:" + r.randbytes(64).hex(),
            "sha256:" + hex64.upper(),
            self.pick(self.real_digests).upper(),
            "SHA256:" + hex64,
            "sha256:" + hex64[:63],
            "sha256:" + hex64 + "0",
            "sha256:" + hex64[:-1] + "g",
            "sha256:",
            ":" + hex64,
            hex64,
            "md5:" + r.randbytes(16).hex(),
            "sha1:" + r.randbytes(20).hex(),
            "sha384:" + r.randbytes(48).hex(),
            "sha256+b64:" + hex64,
            "sha512:" + hex64,
            "sha256:" + hex64 + ":x",
            "sha256%3A" + hex64,
            "sha256:" + "0" * 64,
            "sha256:" + hex64 * 40,
            "%",
            "",
            "sha256:\u00e9" + hex64[1:],
            self.mutate_text(self.pick(self.real_digests)),
        ]
        return self.pick(options)

    def reference(self) -> str:
        if self.chance(0.45):
            return self.digest()
        return self.pick([
            "v1", "v2", "latest", "multi", "other", "t", "missing", "V1", "_under", "a" * 128, "a" * 129, "-lead",
            ".dot", "a:b", "x" * 1000, "tag%20space", "t\u00e4g", "1.0.0-rc.1+build", "%2e%2e", "..", "list",
            "uploads", "manifests", "",
        ])

    def upload_id(self) -> str:
        roll = self.r.random()
        if roll < 0.55:
            return self.pick(self.s.sessions)[1]
        if roll < 0.6:
            return self.s.keep_session[1]  # another repository's session: must not be reachable from here
        return self.pick([
            str(uuid.UUID(int=self.r.getrandbits(128))),
            str(uuid.UUID(int=self.r.getrandbits(128))).upper(),
            self.pick(self.s.sessions)[1].replace("-", ""),
            self.pick(self.s.sessions)[1] + "0",
            "../../../etc/passwd", "..", "%2e%2e", "0" * 36, "g" * 36, "-" * 36, "x", "a" * 5000, "\u00e9" * 18,
        ])

    def mutate_text(self, text: str) -> str:
        if not text:
            return "x"
        i = self.r.randrange(len(text))
        return text[:i] + self.pick(["", "0", "G", "/", ":", "%", "\u00ff", text[i].upper()]) + text[i + 1:]

    # queries -------------------------------------------------------------------------------------------------------

    def query(self, route: str, method: str, body: bytes) -> str:
        r = self.r
        params = []
        if route in ("uploads", "upload") and self.chance(0.6):
            # Often the true digest of the body, so that uploads get as far as their commit.
            params.append("digest=" + (sha256(body) if self.chance(0.4) else self.digest()))
        if route == "uploads" and self.chance(0.3):
            params.append("mount=" + self.digest())
            if self.chance(0.8):
                params.append("from=" + self.name(writing=False))
        if route in ("catalog", "tags") and self.chance(0.7):
            if self.chance(0.8):
                params.append("n=" + self.pick(["0", "1", "2", "10", "10000", "10001", "-1", "abc", "", "1.5", "0x10",
                                                "99999999999999999999999", " 1", "+3", "1e3", "%31"]))
            if self.chance(0.5):
                params.append("last=" + self.pick(["", "v1", "fuzz/app", "zzz", "\u00e9", "%00", "a" * 3000, "%zz"]))
        if route == "manifest" and method == "PUT" and self.chance(0.2):
            params += ["tag=" + self.reference() for _ in range(r.randrange(1, 4))]
        if route == "referrers" and self.chance(0.4):
            params.append("artifactType=" + self.pick(["application/x", "", "%zz", "a" * 500]))
        if self.chance(0.1):
            params.append(self.pick(["&&", "=", "digest", "digest=&digest=" + self.digest(), "%", "%zz=1", "x=\u00e9",
                                     "n=1&n=2", "a=" + "b" * 5000, "?", "#frag"]))
        if not params:
            return "" if self.chance(0.9) else "?"
        return "?" + "&".join(params)

    # paths ---------------------------------------------------------------------------------------------------------

    def path(self, route: str, method: str, body: bytes):
        writing = method not in READ_METHODS
        name = self.name(writing)
        if route == "base":
            path = "/v2/" if self.chance(0.75) else self.pick(["/v2", "/v2//", "/v2/?", "/V2/", "/v2/%2e", "/v2/."])
        elif route == "catalog":
            path = "/v2/_catalog" if self.chance(0.8) else self.pick(["/v2/_catalog/", "/v2/_catalog/x", "/v2/_Catalog"])
        elif route == "tags":
            path = f"/v2/{name}/tags/list" + ("" if self.chance(0.85) else self.pick(["/", "/x"]))
        elif route == "manifest":
            path = f"/v2/{name}/manifests/{self.reference()}"
        elif route == "blob":
            path = f"/v2/{name}/blobs/{self.digest()}"
        elif route == "uploads":
            path = f"/v2/{name}/blobs/uploads" + self.pick(["/", "/", ""])
        elif route == "upload":
            if self.chance(0.5):
                name, upload = self.pick(self.s.sessions)  # a real session, under its own repository
            else:
                upload = self.upload_id()
            path = f"/v2/{name}/blobs/uploads/{upload}"
        elif route == "referrers":
            path = f"/v2/{name}/referrers/{self.digest()}"
        else:
            path = self.pick([
                f"/v2/{name}", f"/v2/{name}/blobs", f"/v2/{name}/manifests", f"/v2/{name}/blobs/", f"/v2/{name}/x/y",
                "/", "/v3/", "/v2/../v2/", "/v2/../healthz", "/v1/_ping", f"/v2/{name}/manifests/",
                f"/v2/{name}/blobs/uploads/x/y", f"/v2/{name}/tags", "/v2/_catalog/../", "/%76%32/",
            ])
        return path + self.query(route, method, body)

    def target(self, path: str) -> bytes:
        roll = self.r.random()
        raw = path.encode("utf-8", "surrogatepass")
        if not raw.isascii() and self.chance(0.8):  # mostly percent-encoded: raw non-ASCII stops at the HTTP parser
            raw = b"".join(b"%%%02X" % b if b >= 0x80 else bytes([b]) for b in raw)
        if roll < 0.03:
            return b"http://" + self.host + raw  # absolute form
        if roll < 0.04:
            return b"*"
        if roll < 0.05:
            return raw.replace(b"/", b"//", 1)
        if roll < 0.06:
            return raw + b"\x00"
        return raw

    # bodies --------------------------------------------------------------------------------------------------------

    def manifest_json(self) -> bytes:
        r = self.r
        media, body = self.pick(self.manifest_bodies)
        roll = r.random()
        if roll < 0.25:
            return body
        doc = json.loads(body)
        if roll < 0.45:
            # A fresh valid manifest, over seeded or unknown blobs, sometimes with a subject.
            doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": {"mediaType": OCI_CONFIG, "digest": self.digest(), "size": r.randrange(0, 10000)},
                   "layers": [{"mediaType": OCI_LAYER, "digest": self.digest(), "size": r.randrange(0, 10000)}
                              for _ in range(r.randrange(0, 4))],
                   "annotations": {"n": str(r.random())}}
            if self.chance(0.4):
                doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": self.digest(), "size": r.randrange(1, 999)}
            if self.chance(0.2):
                doc["artifactType"] = self.pick(["application/x.fuzz", "", 5, None])
            return json.dumps(doc).encode()
        if roll < 0.8:
            for _ in range(r.randrange(1, 4)):
                self.mutate_doc(doc)
            return json.dumps(doc).encode()
        raw = bytearray(body)
        op = r.randrange(6)
        if op == 0:
            return bytes(raw[: r.randrange(len(raw))])  # truncated
        if op == 1:
            for _ in range(r.randrange(1, 6)):
                raw[r.randrange(len(raw))] = r.randrange(256)
            return bytes(raw)
        if op == 2:
            depth = self.pick([100, 600, 5000, 50000])
            return b'{"schemaVersion":2,"mediaType":"%s","config":' % OCI_MANIFEST.encode() + b"[" * depth + b"]" * depth + b"}"
        if op == 3:
            return b"\xef\xbb\xbf" + body  # BOM
        if op == 4:
            return body + b"\x00" * r.randrange(1, 10)
        return json.dumps([doc, doc]).encode()

    def mutate_doc(self, doc):
        r = self.r
        keys = list(doc)
        key = self.pick(keys) if keys else "schemaVersion"
        values = [None, 0, -1, 1, 2, 3, "2", 2.5, 10 ** 30, -(10 ** 18), 2 ** 63, True, "", [], {}, "x" * 3000,
                  "sha256:" + "0" * 64, {"digest": self.digest(), "size": 1}]
        op = r.randrange(7)
        if op == 0:
            doc.pop(key, None)
        elif op == 1:
            doc[key] = self.pick(values)
        elif op == 2:
            doc["mediaType"] = self.pick([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_LIST, "", "text/plain",
                                          "application/vnd.oci.image.manifest.v1+json; x=y", 7])
        elif op == 3:
            doc["schemaVersion"] = self.pick([1, 3, "2", None, 2.0, -2])
        elif op == 4:
            for list_key in ("layers", "manifests"):
                if isinstance(doc.get(list_key), list) and doc[list_key]:
                    entry = self.pick(doc[list_key])
                    if isinstance(entry, dict):
                        entry[self.pick(["digest", "size", "mediaType", "platform", "urls"])] = self.pick(values)
        elif op == 5:
            if isinstance(doc.get("config"), dict):
                doc["config"]["size"] = self.pick([10 ** 12, -5, 0, 2 ** 64, "12", 1.5])
            else:
                doc["config"] = self.pick(values)
        else:
            doc["\u00e9x\u0000"] = self.pick(values)

    def body_for(self, route: str, method: str) -> bytes:
        r = self.r
        roll = r.random()
        if method in ("GET", "HEAD", "DELETE", "OPTIONS") and roll < 0.85:
            return b""
        if route == "manifest" and method == "PUT" and roll < 0.85:
            return self.manifest_json()
        if roll < 0.2:
            return b""
        if roll < 0.35:
            seeded = self.pick(sorted(self.s.blobs))
            return self.s.blobs[seeded]
        if roll < 0.4:
            return json.dumps({"errors": [], "x": "\u00e9"}).encode()
        size = self.pick([1, 2, 10, 100, 1000, 4096, 4097, 20000, 65536]) if self.chance(0.97) else 1 << 20
        return r.randbytes(size)

    def chunked(self, body: bytes) -> bytes:
        out = bytearray()
        i = 0
        while i < len(body):
            n = min(len(body) - i, self.pick([1, 7, 100, 1000, 4096, 70000]))
            size = "%x" % n
            if self.chance(0.2):
                size = size.upper()
            if self.chance(0.1):
                size = "000" + size
            ext = self.pick([b"", b"", b"", b";ext=1", b";a;b=\"q\""])
            out += size.encode() + ext + b"\r\n" + body[i:i + n] + b"\r\n"
            i += n
        out += b"0\r\n"
        if self.chance(0.15):
            out += b"X-Trailer: yes\r\n"
        out += b"\r\n"
        return bytes(out)

    def chunked_broken(self, body: bytes) -> bytes:
        body = body or b"payload"
        good = self.chunked(body)
        kind = self.r.randrange(10)
        if kind == 0:
            return b"zz\r\n" + body + b"\r\n0\r\n\r\n"  # not hex
        if kind == 1:
            return b"%x\r\n" % (len(body) + 1000) + body  # declares more than comes
        if kind == 2:
            return b"%x\r\n" % len(body) + body + b"XX0\r\n\r\n"  # no CRLF after the data
        if kind == 3:
            return b"-1\r\n" + body + b"\r\n0\r\n\r\n"
        if kind == 4:
            return b"ffffffffffffffffffff\r\n" + body  # overflowing size
        if kind == 5:
            return good[:-5]  # no last chunk
        if kind == 6:
            return good[: self.r.randrange(1, len(good))]  # cut anywhere
        if kind == 7:
            return b"%x \r\n" % len(body) + body + b"\r\n0\r\n\r\n"  # space after the size
        if kind == 8:
            return b"%x\n" % len(body) + body + b"\n0\n\n"  # bare LF
        return b"\r\n" + good  # empty size line

    # headers -------------------------------------------------------------------------------------------------------

    def extra_headers(self, route: str, method: str):
        headers = []
        if self.chance(0.4 if method in ("PUT", "POST", "PATCH") else 0.1):
            headers.append((b"Content-Type", self.pick([
                OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, "application/octet-stream", "application/json",
                "", "text/plain", "application/vnd.oci.image.manifest.v1+json; charset=utf-8", "x" * 2000,
                "application/vnd.oci.image.manifest.v1+json, application/json", "\u00e9",
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
            ]).encode()))
        if self.chance(0.3 if method == "PATCH" else 0.05):
            headers.append((b"Content-Range", self.pick([
                "0-0", "0-99", "0-999", "100-199", "bytes 0-99/100", "bytes=0-9", "bytes 0-99/*", "5-4", "-5", "a-b",
                "0-", "0-1099511627775", "99999999999999999999-99999999999999999999", "", "0-1-2", " 0-9", "1000-1999",
                "bytes */100",
            ]).encode()))
        if self.chance(0.3 if route == "blob" else 0.03):
            headers.append((b"Range", self.pick([
                "bytes=0-0", "bytes=0-10", "bytes=-5", "bytes=5-", "bytes=10-5", "bytes=0-0,5-6", "items=0-1",
                "bytes=99999999-", "bytes=-0", "bytes=", "bytes=a-b", "bytes=0-99999999999999999999", "BYTES=1-2",
                "bytes = 1-2", "bytes=--1",
            ]).encode()))
        if self.chance(0.15):
            headers.append((b"Accept", self.pick([
                OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST + ", " + DOCKER_LIST, "*/*", "", "text/html;q=0.1", "\u00e9",
            ]).encode()))
        if self.chance(0.05):
            headers.append((b"Authorization", self.pick([b"Bearer x", b"Basic !!!", b"Basic " + b"A" * 3000, b""])))
        if self.chance(0.05):
            headers.append((self.pick([b"X-Forwarded-For", b"If-None-Match", b"Docker-Content-Digest", b"Cookie",
                                       b"X-Custom"]), self.pick([b"1.2.3.4", b"\"sha256:x\"", b"x" * 4000, b""])))
        if self.chance(0.01):
            headers.append(self.pick([(b"Bad Header", b"x"), (b"", b"x"), (b"X-Nul", b"a\x00b"), (b"\xff", b"y")]))
        if self.chance(0.2):
            headers.append((b"Connection", self.pick([b"close", b"keep-alive", b"Upgrade", b"close, close"])))
        return headers

    # a whole case --------------------------------------------------------------------------------------------------

    def case(self, index: int) -> Case:
        r = self.r
        route = self.pick(ROUTES)
        roll = r.random()
        if roll < 0.75 and route in ROUTE_METHODS:
            method = self.pick(ROUTE_METHODS[route])  # what the endpoint serves, to reach its handler
        elif roll < 0.92:
            method = self.pick(READ_METHODS + WRITE_METHODS + ["OPTIONS"])
        else:
            method = self.pick(OTHER_METHODS + JUNK_METHODS)
        body = self.body_for(route, method)
        path = self.path(route, method, body)
        headers = []
        if self.chance(0.98):
            headers.append((b"Host", self.host if self.chance(0.95) else self.pick([b"", b"evil.example", b"a" * 300])))
        headers += self.extra_headers(route, method)
        version = b"HTTP/1.1" if self.chance(0.97) else self.pick([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"http/1.1"])

        mode_roll = r.random()
        half_close = False
        expect_body = b""
        if mode_roll < 0.10:
            mode = "chunked"
            headers.append((b"Transfer-Encoding", self.pick([b"chunked", b"chunked", b"Chunked"])))
            wire = self.chunked(body)
        elif mode_roll < 0.16:
            mode = "chunked_bad"
            headers.append((b"Transfer-Encoding", self.pick([b"chunked", b"chunked", b"gzip, chunked", b"chunked, gzip",
                                                              b"identity", b"chunk"])))
            wire = self.chunked_broken(body)
            half_close = True
        elif mode_roll < 0.23:
            mode = "short"  # declares more than it sends, then half-closes
            declared = len(body) + self.pick([1, 2, 100, 4096, 1 << 20, 1 << 40, 10 ** 15])
            headers.append((b"Content-Length", str(declared).encode()))
            wire = body[: r.randrange(len(body) + 1)] if self.chance(0.3) else body
            half_close = True
        elif mode_roll < 0.28 and body:
            mode = "long"  # declares less than it sends: the rest reads as a next request
            declared = r.randrange(len(body))
            headers.append((b"Content-Length", str(declared).encode()))
            wire = body
        elif mode_roll < 0.31 and (method in ("PUT", "POST", "PATCH") or self.chance(0.2)):
            mode = "expect"
            headers.append((b"Expect", self.pick([b"100-continue", b"100-continue", b"100-Continue"])))
            if self.chance(0.8):
                headers.append((b"Content-Length", str(len(body)).encode()))
                expect_body = body
            else:
                headers.append((b"Transfer-Encoding", b"chunked"))
                expect_body = self.chunked(body)
            wire = b""
        elif mode_roll < 0.32:
            mode = "cl_junk"
            headers += self.pick([
                [(b"Content-Length", b"abc")], [(b"Content-Length", b"-1")], [(b"Content-Length", b"1, 2")],
                [(b"Content-Length", b"5"), (b"Content-Length", b"6")], [(b"Content-Length", b"1" * 30)],
                [(b"Content-Length", b"%d" % len(body)), (b"Transfer-Encoding", b"chunked")],
                [(b"Content-Length", b" %d " % len(body))], [(b"Content-Length", b"+%d" % len(body))],
            ])
            wire = body
            half_close = True
        else:
            mode = "normal"
            if body or self.chance(0.5):
                headers.append((b"Content-Length", str(len(body)).encode()))
            elif method in ("PUT", "POST", "PATCH") and self.chance(0.5):
                pass  # no framing header at all: an empty body
            wire = body
        if self.chance(0.3):
            r.shuffle(headers)
        return Case(index, method.encode("utf-8", "surrogatepass"), self.target(path), headers, wire, mode, route,
                    half_close, version, expect_body)


# --- the raw HTTP/1.1 client ------------------------------------------------------------------------------------


class Timeout(Exception):
    pass


class Closed(Exception):
    pass


class Unframed(Exception):
    """A response with neither Content-Length nor chunked framing whose connection then stayed open."""


@dataclass
class Answer:
    status: int
    reason: str
    headers: dict  # lower-case name -> list of values
    body: bytes

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[0] if values else None


class Reader:
    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.eof = False

    def fill(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout() from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise Closed()
        self.buffer += data

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > 1 << 20:
                raise ValueError("response head larger than 1 MiB")
            self.fill()
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def rest(self) -> bytes:
        try:
            while True:
                self.fill()
        except Closed:
            pass
        except Timeout:
            raise Unframed() from None
        data, self.buffer = self.buffer, b""
        return data


def read_head(reader: Reader):
    head = reader.until(b"\r\n\r\n").decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"malformed status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" not in line:
            raise ValueError(f"malformed header line {line!r}")
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(parts[1]), (parts[2] if len(parts) > 2 else ""), headers


def read_body(reader: Reader, method: bytes, status: int, headers: dict) -> bytes:
    if method == b"HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    te = ",".join(headers.get("transfer-encoding", [])).lower()
    if "chunked" in te:
        body = b""
        while True:
            size_line = reader.until(b"\r\n").split(b";")[0].strip()
            size = int(size_line, 16)
            if size == 0:
                while reader.until(b"\r\n"):
                    pass  # trailers
                return body
            body += reader.exactly(size)
            if reader.exactly(2) != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
    lengths = headers.get("content-length")
    if lengths:
        if len(set(lengths)) != 1:
            raise ValueError(f"conflicting Content-Length {lengths}")
        return reader.exactly(int(lengths[0]))
    return reader.rest()


def read_answer(reader: Reader, method: bytes, interim_ok=True) -> Answer:
    while True:
        status, reason, headers = read_head(reader)
        if 100 <= status < 200 and interim_ok:
            continue  # an interim answer; the final one follows
        return Answer(status, reason, headers, read_body(reader, method, status, headers))


def exchange(port: int, case: Case):
    """Sends one case on a fresh connection; returns (Answer or None, problem or None)."""
    deadline = time.monotonic() + REQUEST_TIMEOUT
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
    except OSError as error:
        return None, f"cannot connect: {error}"
    with sock:
        reader = Reader(sock, deadline)
        try:
            try:
                if case.mode == "expect":
                    sock.sendall(case.head())
                    reader.deadline = time.monotonic() + EXPECT_WAIT
                    try:
                        status, reason, headers = read_head(reader)
                    except Timeout:
                        return None, f"no `100 Continue` and no final answer within {EXPECT_WAIT}s after " \
                                     f"`Expect: 100-continue`"
                    reader.deadline = deadline
                    if status != 100:
                        if 100 < status < 200:
                            return None, f"interim {status} instead of 100 after `Expect: 100-continue`"
                        # A final answer without reading the body: allowed; the connection is then not reusable.
                        return Answer(status, reason, headers, read_body(reader, case.method, status, headers)), None
                    sock.sendall(case.expect_body)
                else:
                    sock.sendall(case.head() + case.body)
                    if case.half_close:
                        sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early and closed: read what it said
            return read_answer(reader, case.method), None
        except Timeout:
            return None, f"no complete answer within {REQUEST_TIMEOUT}s"
        except Unframed:
            return None, "response without Content-Length or chunked encoding, and the connection not closed after it"
        except Closed:
            if case.mode in BROKEN_FRAMING:
                return None, None  # dropping a connection whose request the test broke is fine
            got = reader.buffer[:200]
            return None, "connection closed without a complete answer" + (f" (got {got!r})" if got else "")
        except (ValueError, UnicodeError) as error:
            return None, f"malformed response: {error}"


def judge(case: Case, answer: Answer):
    """The problems with one answer (empty when it is fine)."""
    problems = []
    status = answer.status
    summary = f"{status} {answer.reason}".strip()
    code = error_code(answer) if status >= 400 and case.method != b"HEAD" else None
    if status >= 500:
        problems.append(("server error", f"{summary} {code or ''}".strip()))
    if status == 405 and not answer.header("allow"):
        problems.append(("405 without Allow", f"{summary} {code or ''}".strip()))
    if 400 <= status < 500 and case.method != b"HEAD":
        connection = ",".join(answer.headers.get("connection", [])).lower()
        if status == 400 and not answer.body and "close" in connection:
            pass  # the HTTP layer's answer to a request it cannot parse
        elif case.method == b"CONNECT" and not answer.body and "close" in connection:
            pass  # NIO frames every answer to CONNECT without a body, so the server ends it with the connection
        else:
            problem = error_body_problem(answer.body)
            if problem:
                problems.append((f"4xx without a spec error body ({problem})",
                                 f"{summary}; body {answer.body[:160]!r}"))
    return problems


STANDARD_METHODS = {b"GET", b"HEAD", b"PUT", b"POST", b"PATCH", b"DELETE", b"OPTIONS"}


def failure_class(kind: str, case: Case, answer: str):
    """What a failure is deduplicated by: the problem, the answer, and the kind of request."""
    if case.method == b"CONNECT":
        request = "CONNECT"
    elif case.method not in STANDARD_METHODS:
        request = "other method"
    else:
        request = {"normal": "framed body", "chunked": "valid chunked body", "chunked_bad": "malformed chunked body",
                   "short": "body shorter than Content-Length, half-closed", "long": "body longer than Content-Length",
                   "expect": "Expect: 100-continue", "cl_junk": "invalid Content-Length"}[case.mode]
    return kind, answer, request


def error_code(answer: Answer):
    try:
        return json.loads(answer.body)["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def error_body_problem(body: bytes):
    try:
        doc = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list) or not doc["errors"]:
        return "no errors list"
    for entry in doc["errors"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("message"), str):
            return "entry without message"
        if entry.get("code") not in SPEC_CODES:
            return f"non-spec code {entry.get('code')!r}"
    return None


# --- the test -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, request):
    server = serve(request, tmp_path_factory.mktemp("fuzz") / "data")
    yield server
    server.stop()


def check_survivor(server: Server, seeded: Seeded):
    """The server still runs, answers /v2/ and serves the read-only repository byte for byte."""
    problems = []
    if server.process.poll() is not None:
        return [f"the server exited with {server.process.returncode}"]
    try:
        status, _, body = call(server.url + "/v2/", "GET")
        if status != 200:
            problems.append(f"GET /v2/ answered {status} {body[:200]!r}")
        repo = seeded.keep_repo
        for digest, data in seeded.keep_blobs.items():
            status, headers, body = call(f"{server.url}/v2/{repo}/blobs/{digest}", "GET")
            if status != 200 or body != data:
                problems.append(f"GET /v2/{repo}/blobs/{digest}: {status}, {len(body)} bytes, "
                                f"{'same' if body == data else 'different'} content")
        for ref, (media, data) in seeded.keep_refs.items():
            status, headers, body = call(f"{server.url}/v2/{repo}/manifests/{ref}", "GET", headers={"Accept": media})
            if status != 200 or body != data or headers.get("Docker-Content-Digest") != sha256(data):
                problems.append(f"GET /v2/{repo}/manifests/{ref}: {status}, {len(body)} bytes, "
                                f"{'same' if body == data else 'different'} content")
        status, _, body = call(f"{server.url}/v2/{repo}/tags/list", "GET")
        if status != 200 or sorted(json.loads(body).get("tags", [])) != ["multi", "other", "v1"]:
            problems.append(f"GET /v2/{repo}/tags/list: {status} {body[:200]!r}")
        session_repo, session_id, written = seeded.keep_session
        status, headers, _ = call(f"{server.url}/v2/{session_repo}/blobs/uploads/{session_id}", "GET")
        if status != 204 or headers.get("Range") != f"0-{written - 1}":
            problems.append(f"the read-only repository's upload session: {status}, Range {headers.get('Range')}")
    except OSError as error:
        problems.append(f"the server does not answer after the fuzzing: {error}")
    if server.process.poll() is not None:
        problems.append(f"the server exited with {server.process.returncode}")
    return problems


def test_fuzz_distribution_api(fuzz_server):
    started = time.monotonic()
    seeded = seed_registry(fuzz_server.url)
    generator = Generator(random.Random(SEED), seeded, fuzz_server.host)
    cases = [generator.case(i) for i in range(BUDGET)]  # all drawn before anything runs: the order of threads
    if ONLY:  # does not change what is sent
        cases = [c for c in cases if c.index in ONLY]

    results = [None] * len(cases)
    lock = threading.Lock()

    ports = [i.port for i in getattr(fuzz_server, "instances", [fuzz_server])]

    def run(position):
        outcome = exchange(ports[position % len(ports)], cases[position])
        with lock:
            results[position] = outcome

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, range(len(cases))))

    failures = []  # (class, case, detail)
    statuses = Counter()
    answers = Counter()
    for case, (answer, problem) in zip(cases, results):
        if problem:
            failures.append((failure_class(problem.split(" (got")[0], case, "no answer"), case, problem))
            statuses["none"] += 1
            continue
        if answer is None:
            statuses["dropped"] += 1
            continue
        statuses[answer.status] += 1
        code = error_code(answer) if case.method != b"HEAD" else None
        answers[(answer.status, code)] += 1
        for kind, detail in judge(case, answer):
            failures.append((failure_class(kind, case, f"{answer.status} {code or ''}".strip()), case, detail))

    survivor = [problem for server in getattr(fuzz_server, "instances", [fuzz_server])
                for problem in check_survivor(server, seeded)]
    successes = sum(n for status, n in statuses.items() if isinstance(status, int) and 200 <= status < 300)
    if not ONLY and successes < len(cases) // 20:
        survivor.append(f"only {successes} of {len(cases)} requests succeeded: the fuzzer no longer reaches the "
                        f"handlers")
    elapsed = time.monotonic() - started
    if not failures and not survivor:
        return

    classes = Counter(key for key, _, _ in failures)
    lines = [f"{len(failures)} failures in {len(cases)} requests (seed {SEED}, {elapsed:.1f}s)",
             "Answers (status code: count): "
             + ", ".join(f"{status} {code or '-'}: {n}" for (status, code), n in answers.most_common(30))
             + f"; no answer: {statuses['none']}, dropped (allowed): {statuses['dropped']}"]
    for problem in survivor:
        lines.append(f"AFTER THE FUZZING: {problem}")
    lines.append("Failure classes (problem | answer | request: count):")
    for key, count in classes.most_common():
        lines.append(f"  {' | '.join(key)}: {count}")
    lines.append(f"First {min(MAX_REPORTED, len(failures))} failures, one of each class first, with raw requests:")
    shown, seen = [], set()
    for item in failures:
        if item[0] not in seen:
            seen.add(item[0])
            shown.append(item)
    shown += [item for item in failures if item not in shown]
    for key, case, detail in shown[:MAX_REPORTED]:
        lines.append(f"- {key[0]}: {detail}\n    {case.reproduction()}")
    if hasattr(fuzz_server, "instances"):  # a cluster
        log = fuzz_server.log()[-6000:]
    else:
        log = fuzz_server.log_path.read_text(errors="replace")[-3000:] if fuzz_server.log_path.exists() else ""
    if log.strip():
        lines.append("Server log (tail):\n" + log)
    pytest.fail("\n".join(lines), pytrace=False)
