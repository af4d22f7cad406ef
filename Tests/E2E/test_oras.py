"""oras (the Python SDK) against Wharf: artifacts, chunked uploads, artifactType, subject and referrers."""

import os

import oras.client
import oras.oci
import requests

from images import sha256


def client():
    return oras.client.OrasClient(insecure=True)


def test_push_pull_artifact_monolithic_and_chunked(registry, work, monkeypatch):
    monkeypatch.chdir(work)
    small = work / "notes.txt"
    small.write_text("an artifact\n")
    big = work / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    c = client()
    for chunked, tag in ((False, "mono"), (True, "chunked")):
        c.push(
            target=f"{registry.host}/e2e/oras/files:{tag}",
            files=["notes.txt", "big.bin:application/octet-stream"],
            do_chunked=chunked, chunk_size=1 << 20,
        )
        out = work / f"out-{tag}"
        paths = c.pull(target=f"{registry.host}/e2e/oras/files:{tag}", outdir=str(out))
        names = sorted(os.path.basename(p) for p in paths)
        assert names == ["big.bin", "notes.txt"]
        assert (out / "big.bin").read_bytes() == big.read_bytes()


def test_artifact_type_subject_and_referrers(registry, work, monkeypatch):
    monkeypatch.chdir(work)
    repo = f"{registry.host}/e2e/oras/signed"
    (work / "app.txt").write_text("the subject\n")
    c = client()
    c.push(target=f"{repo}:v1", files=["app.txt"])
    subject_raw = requests.get(f"{registry.url}/v2/e2e/oras/signed/manifests/v1",
                               headers={"Accept": oras.defaults.default_manifest_media_type})
    subject = oras.oci.Subject(
        mediaType=subject_raw.headers["Content-Type"], digest=sha256(subject_raw.content), size=len(subject_raw.content)
    )

    # A referrer whose config media type is its artifact type, pushed by oras' own push with a subject.
    (work / "sbom.json").write_text('{"packages": []}')
    (work / "config.json").write_text("{}")
    c.push(target=f"{repo}:sbom", files=["sbom.json"], subject=subject,
           manifest_config="config.json:application/vnd.example.sbom.v1")

    # A referrer with an explicit artifactType and the empty config, uploaded with oras' manifest upload.
    container = c.get_container(f"{repo}:sig")
    empty = b"{}"
    c.upload_blob(str(work / "config.json"), container,
                         {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2})
    signature = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2}],
        "subject": {"mediaType": subject.mediaType, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.example.signed-by": "wharf-tests"},
    }
    response = c.upload_manifest(signature, container)
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == subject.digest

    referrers = requests.get(f"{registry.url}/v2/e2e/oras/signed/referrers/{subject.digest}")
    assert referrers.status_code == 200
    assert referrers.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    index = referrers.json()
    types = sorted(m["artifactType"] for m in index["manifests"])
    assert types == ["application/vnd.example.sbom.v1", "application/vnd.example.signature.v1"]
    signed = [m for m in index["manifests"] if m["artifactType"].endswith("signature.v1")][0]
    assert signed["annotations"] == {"org.example.signed-by": "wharf-tests"}
    stored = requests.get(f"{registry.url}/v2/e2e/oras/signed/manifests/sig")
    assert signed["digest"] == sha256(stored.content) and signed["size"] == len(stored.content)

    filtered = requests.get(f"{registry.url}/v2/e2e/oras/signed/referrers/{subject.digest}",
                            params={"artifactType": "application/vnd.example.sbom.v1"})
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["artifactType"] for m in filtered.json()["manifests"]] == ["application/vnd.example.sbom.v1"]

    # oras pulls the referrer back by tag with its subject intact.
    manifest = c.get_manifest(f"{repo}:sig")
    assert manifest["subject"]["digest"] == subject.digest
