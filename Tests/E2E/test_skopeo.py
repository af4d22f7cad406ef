"""skopeo against a live Wharf: OCI layouts, docker-archive, multi-arch, inspect, list-tags, delete."""

import json

from conftest import require, run
from images import Layout, push_layout_blobs_and_manifests, sha256

TLS = "--dest-tls-verify=false"


def skopeo(*args, **kwargs):
    return run(require("skopeo"), "--insecure-policy", *args, **kwargs)


def test_oci_layout_round_trip_with_big_layer(registry, work):
    layout = Layout(work / "src")
    desc = layout.image({"hello.txt": b"hello wharf\n"}, big_layer=64 << 20, tag="v1")
    ref = f"docker://{registry.host}/e2e/skopeo/big:v1"
    skopeo("copy", "--preserve-digests", TLS, f"oci:{layout.path}:v1", ref)

    raw = skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout
    assert sha256(raw.encode()) == desc["digest"]

    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", ref, f"oci:{work / 'dst'}:v1")
    index = json.loads((work / "dst" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == desc["digest"]
    manifest = json.loads((work / "dst" / "blobs" / "sha256" / desc["digest"][7:]).read_bytes())
    for layer in manifest["layers"]:
        pulled = (work / "dst" / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()
        assert sha256(pulled) == layer["digest"] and len(pulled) == layer["size"]


def test_docker_archive_round_trip(registry, work):
    layout = Layout(work / "src")
    layout.image({"a.txt": b"docker archive\n"}, tag="v1")
    skopeo("copy", f"oci:{layout.path}:v1", f"docker-archive:{work / 'image.tar'}:e2e/archive:v1")
    ref = f"docker://{registry.host}/e2e/archive:v1"
    skopeo("copy", TLS, f"docker-archive:{work / 'image.tar'}", ref)
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert inspected["Architecture"] == "amd64"
    raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    skopeo("copy", "--src-tls-verify=false", ref, f"docker-archive:{work / 'back.tar'}:e2e/archive:v1")
    assert (work / "back.tar").stat().st_size > 0


def test_multi_arch_oci_index_and_docker_list_keep_their_digests(registry, work):
    for docker, repo in ((False, "e2e/multi/oci"), (True, "e2e/multi/docker")):
        layout = Layout(work / repo.replace("/", "_"))
        index = layout.multi_arch("v1", docker=docker)
        ref = f"docker://{registry.host}/{repo}:v1"
        if docker:
            # An OCI layout cannot name a Docker manifest list, so it is seeded over HTTP, then copied
            # registry to registry by skopeo.
            push_layout_blobs_and_manifests(registry.url, "e2e/multi/seed", layout, "v1", index)
            source = f"docker://{registry.host}/e2e/multi/seed:v1"
            skopeo("copy", "--all", "--preserve-digests", TLS, "--src-tls-verify=false", source, ref)
        else:
            skopeo("copy", "--all", "--preserve-digests", TLS, f"oci:{layout.path}:v1", ref)
        raw = skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout
        assert sha256(raw.encode()) == index["digest"]
        assert json.loads(raw)["mediaType"] == index["mediaType"]
        out = work / (repo.replace("/", "_") + "_out")
        skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", ref, f"dir:{out}")
        assert sha256((out / "manifest.json").read_bytes()) == index["digest"]
        for arch in ("amd64", "arm64"):
            config = json.loads(
                skopeo("inspect", "--tls-verify=false", "--override-arch", arch, "--config", ref).stdout
            )
            assert config["architecture"] == arch


def test_list_tags_and_delete(registry, work):
    layout = Layout(work / "src")
    layout.image({"t.txt": b"tags\n"}, tag="v1")
    repo = f"{registry.host}/e2e/tags"
    for tag in ("b", "a", "c"):
        skopeo("copy", TLS, f"oci:{layout.path}:v1", f"docker://{repo}:{tag}")
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout)["Tags"]
    assert tags == ["a", "b", "c"]

    skopeo("delete", "--tls-verify=false", f"docker://{repo}:a")
    # Deleting through skopeo removes the manifest by digest, and with it every tag that pointed at it.
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout)["Tags"]
    assert tags == []
    missing = skopeo("inspect", "--tls-verify=false", f"docker://{repo}:b", check=False)
    assert missing.returncode != 0
