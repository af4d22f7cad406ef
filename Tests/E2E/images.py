"""Builds OCI image layouts offline, byte for byte, so tests know every digest in advance."""

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout directory (`oci:` for skopeo, podman and buildah)."""

    def __init__(self, path: Path):
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    def blob(self, data: bytes, media_type: str, **extra) -> dict:
        digest = sha256(data)
        (self.path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def big_blob(self, size: int, media_type: str) -> dict:
        """A tar layer holding one file of `size` random bytes, written and hashed in pieces."""
        tmp = self.path / "tmp-layer"
        with open(tmp, "wb") as out:
            with tarfile.open(fileobj=out, mode="w") as tar:
                info = tarfile.TarInfo("big.bin")
                info.size = size
                tar.addfile(info, _RandomReader(size))
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        length = tmp.stat().st_size
        tmp.rename(self.path / "blobs" / "sha256" / digest[7:])
        return {"mediaType": media_type, "digest": digest, "size": length}

    def image(self, files: dict, arch="amd64", docker=False, big_layer=0, tag=None, marker="") -> dict:
        """Adds a single-platform image; returns its manifest descriptor (with platform)."""
        layer_type = DOCKER_LAYER if docker else OCI_LAYER
        layers = [self.blob(tar_of(files), layer_type)]
        if big_layer:
            layers.append(self.big_blob(big_layer, layer_type))
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {"Labels": {"marker": marker}},
            "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
        }
        config_desc = self.blob(json.dumps(config).encode(), DOCKER_CONFIG if docker else OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": config_desc,
            "layers": layers,
        }
        desc = self.blob(json.dumps(manifest, indent=2).encode(), manifest["mediaType"])
        desc["platform"] = {"architecture": arch, "os": "linux"}
        if tag:
            self.add(desc, tag)
        return desc

    def multi_arch(self, tag: str, docker=False) -> dict:
        """Adds an index (or Docker manifest list) of an amd64 and an arm64 image."""
        children = [self.image({"arch.txt": arch.encode()}, arch=arch, docker=docker) for arch in ("amd64", "arm64")]
        index = {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST if docker else OCI_INDEX,
            "manifests": children,
        }
        desc = self.blob(json.dumps(index, indent=2).encode(), index["mediaType"])
        self.add(desc, tag)
        return desc

    def add(self, desc: dict, tag: str):
        entry = {k: v for k, v in desc.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index["manifests"].append(entry)
        (self.path / "index.json").write_text(json.dumps(self.index))


def tar_of(files: dict) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class _RandomReader(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def push_layout_blobs_and_manifests(url: str, repo: str, layout: "Layout", tag: str, top: dict, auth_headers=None,
                                    ssl_context=None):
    """Pushes a layout's content (POST + PUT uploads), children before the top manifest; `auth_headers` go with
    every request, `ssl_context` is for https URLs."""
    import urllib.request

    def request(method, path, data=None, headers=None):
        req = urllib.request.Request(url + path, data=data, method=method, headers={**(auth_headers or {}),
                                                                                     **(headers or {})})
        with urllib.request.urlopen(req, context=ssl_context) as response:
            return response

    def put_manifest(desc, ref):
        body = (layout.path / "blobs" / "sha256" / desc["digest"][7:]).read_bytes()
        manifest = json.loads(body)
        for child in manifest.get("manifests", []):
            put_manifest(child, child["digest"])
        for blob in [manifest.get("config")] + manifest.get("layers", []):
            if blob:
                data = (layout.path / "blobs" / "sha256" / blob["digest"][7:]).read_bytes()
                request("POST", f"/v2/{repo}/blobs/uploads/?digest={blob['digest']}", data)
        request("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": desc["mediaType"]})

    put_manifest(top, tag)
