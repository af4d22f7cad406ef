"""Access control on every piece (issue 16), with access control on at the origin: a client without pull rights on a
private repository gets nothing through its agent, from the origin or from any peer; a peer serves a piece only
against an unexpired piece token for that very blob, signed by the registry's key."""

import hashlib
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agents import PASSWORDS, Agent, private_origin
from images import Layout, push_layout_blobs_and_manifests



@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    base = tmp_path_factory.mktemp("p2p-access")
    server = private_origin(base)
    layout = Layout(base / "layout")
    top = layout.image({"secret.txt": b"private"}, big_layer=12 << 20, tag="v1")
    auth = requests.auth._basic_auth_str("root", PASSWORDS["root"])
    push_layout_blobs_and_manifests(server.url, "private/app", layout, "v1", top, auth_headers={"Authorization": auth})
    manifest = json.loads((layout.path / "blobs" / "sha256" / top["digest"][7:]).read_bytes())
    server.layer = manifest["layers"][-1]
    server.data = base / "data"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alices_agent(origin, tmp_path_factory):
    """An agent whose node pulled the private image with alice's credentials: it holds every piece."""
    base = tmp_path_factory.mktemp("alice-node")
    agent = Agent(base, origin.url)
    agent.pull(f"{origin.host}/private/app:v1", base / "out", creds=f"alice:{PASSWORDS['alice']}")
    yield agent
    agent.stop()


def piece_url(agent, digest, index=0):
    return f"http://127.0.0.1:{agent.peer_port}/p2p/v1/blobs/{digest}/pieces/{index}"


def test_a_client_without_pull_rights_gets_nothing_from_origin_or_peers(origin, alices_agent, tmp_path):
    bobs_agent = Agent(tmp_path / "bob-node", origin.url)
    try:
        for creds in (f"bob:{PASSWORDS['bob']}", None):
            pulled = bobs_agent.pull(f"{origin.host}/private/app:v1", tmp_path / "out", creds=creds, check=False)
            assert pulled.returncode != 0
            assert any(word in pulled.stderr.lower() for word in ("unauthorized", "denied", "401", "403")), pulled.stderr
        # bob's agent asked the tracker for him and was refused: it never got a token, so no peer was asked.
        blob = requests.get(f"{bobs_agent.url}/v2/private/app/blobs/{origin.layer['digest']}",
                            auth=("bob", PASSWORDS["bob"]), timeout=10)
        assert blob.status_code in (401, 403), blob.status_code
        stats = bobs_agent.metrics()
        assert stats["wharf_agent_peer_bytes_total"] == 0 and stats["wharf_agent_origin_bytes_total"] == 0
        # Nor does any peer serve bob without a token, or with one made up.
        assert requests.get(piece_url(alices_agent, origin.layer["digest"]), timeout=10).status_code == 401
        forged = requests.get(piece_url(alices_agent, origin.layer["digest"]), timeout=10,
                              headers={"Authorization": "Bearer not.a.token"})
        assert forged.status_code == 403
    finally:
        bobs_agent.stop()


def sign(origin, claims, key=None):
    """A piece token with these claims, signed with the registry's own P2P key (or with `key`)."""
    if key is None:
        key = serialization.load_pem_private_key((origin.data / "p2p" / "key.pem").read_bytes(), password=None)
    public = requests.get(f"{origin.url}/p2p/v1/key", timeout=10).json()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": public["keyID"]})


def test_a_peer_refuses_expired_tokens_tokens_for_another_blob_and_other_keys(origin, alices_agent):
    digest = origin.layer["digest"]
    now = int(time.time())
    good = {"sub": "alice", "aud": "wharf-p2p", "iat": now, "exp": now + 300, "repository": "private/app",
            "digest": digest}
    url = piece_url(alices_agent, digest)
    piece = requests.get(url, headers={"Authorization": f"Bearer {sign(origin, good)}"}, timeout=10)
    assert piece.status_code == 200 and len(piece.content) == 4 << 20
    grant = requests.get(f"{origin.url}/p2p/v1/pieces", params={"repository": "private/app", "digest": digest},
                         auth=("alice", PASSWORDS["alice"]), timeout=10).json()
    assert hashlib.sha256(piece.content).hexdigest() == grant["list"]["list"]["pieces"][0]
    refused_before = alices_agent.metrics()["wharf_agent_refused_requests_total"]
    bad = [
        sign(origin, dict(good, iat=now - 600, exp=now - 300)),  # expired
        sign(origin, dict(good, digest="sha256:" + "2" * 64)),  # another blob
        sign(origin, dict(good, aud="someone-else")),  # not a piece token
        sign(origin, good, key=ec.generate_private_key(ec.SECP256R1())),  # another key
    ]
    for token in bad:
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 403, answer.text
        assert answer.json()["errors"][0]["code"] == "DENIED"
    assert alices_agent.metrics()["wharf_agent_refused_requests_total"] == refused_before + len(bad)
