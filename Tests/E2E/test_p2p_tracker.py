"""The P2P tracker in `wharf serve` (docs/p2p.md), with access control on: a piece list is signed with the
registry's P2P key and checks against the blob, its piece token only goes to who may pull the blob and verifies with
the public key alone, and announcements and peer lists need a valid token."""

import base64
import hashlib
import json
import os

import jwt
import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from agents import PASSWORDS, private_origin

PIECE = 4 << 20
BLOB = os.urandom(2 * PIECE + 12345)  # three pieces, the last one short
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    server = private_origin(tmp_path_factory.mktemp("p2p"))
    answer = requests.post(f"{server.url}/v2/private/big/blobs/uploads/?digest={DIGEST}", data=BLOB,
                           auth=("root", PASSWORDS["root"]), timeout=60)
    assert answer.status_code == 201, answer.text
    yield server
    server.stop()


def pieces(origin, user):
    return requests.get(f"{origin.url}/p2p/v1/pieces", params={"repository": "private/big", "digest": DIGEST},
                        auth=(user, PASSWORDS[user]) if user else None, timeout=60)


def test_the_piece_list_is_signed_and_matches_the_blob(origin):
    key = requests.get(f"{origin.url}/p2p/v1/key", timeout=10).json()
    public = serialization.load_pem_public_key(key["publicKey"].encode())
    answer = pieces(origin, "alice")
    assert answer.status_code == 200, answer.text
    signed = answer.json()["list"]
    listed = signed["list"]
    assert listed["digest"] == DIGEST and listed["size"] == len(BLOB) and listed["pieceSize"] == PIECE
    assert listed["pieces"] == [hashlib.sha256(BLOB[i:i + PIECE]).hexdigest() for i in range(0, len(BLOB), PIECE)]
    assert signed["keyID"] == key["keyID"]

    def verify(document):
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        raw = base64.b64decode(signed["signature"])
        signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(signature, canonical, ec.ECDSA(hashes.SHA256()))

    verify(listed)
    forged = dict(listed, pieces=[listed["pieces"][1]] + listed["pieces"][1:])
    with pytest.raises(InvalidSignature):
        verify(forged)
    # Kept: the same list again, without reading the blob anew.
    assert pieces(origin, "root").json()["list"]["list"] == listed


def test_the_piece_token_goes_only_to_who_may_pull(origin):
    assert pieces(origin, None).status_code == 401
    assert pieces(origin, "bob").status_code == 403
    key = requests.get(f"{origin.url}/p2p/v1/key", timeout=10).json()["publicKey"]
    token = pieces(origin, "alice").json()["token"]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="wharf-p2p")
    assert claims["sub"] == "alice" and claims["repository"] == "private/big" and claims["digest"] == DIGEST
    assert 0 < claims["exp"] - claims["iat"] <= 300
    unknown = requests.get(f"{origin.url}/p2p/v1/pieces", auth=("root", PASSWORDS["root"]), timeout=10,
                           params={"repository": "private/big", "digest": "sha256:" + "0" * 64})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_announcements_and_peers_need_a_valid_token(origin):
    token = pieces(origin, "alice").json()["token"]
    announce = {"token": token, "peer": "agent-1", "address": "127.0.0.1:7001", "have": [0, 1], "uploads": 0,
                "capacity": 4}
    assert requests.post(f"{origin.url}/p2p/v1/announce", json=announce, timeout=10).status_code == 204
    plan = requests.post(f"{origin.url}/p2p/v1/peers", timeout=10,
                         json={"token": token, "peer": "agent-2", "lacking": [0, 1, 2]}).json()
    assert plan["peers"] == [{"id": "agent-1", "address": "127.0.0.1:7001", "have": [0, 1]}]
    assert plan["fromOrigin"] == [2], "a piece a peer holds was sent to the origin"
    # The next agent is not sent to the origin for the piece agent-2 is fetching.
    plan = requests.post(f"{origin.url}/p2p/v1/peers", timeout=10,
                         json={"token": token, "peer": "agent-3", "lacking": [0, 1, 2]}).json()
    assert plan["fromOrigin"] == []

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["digest"] = "sha256:" + "1" * 64
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    for bad in (forged, "not-a-token"):
        answer = requests.post(f"{origin.url}/p2p/v1/announce", json=dict(announce, token=bad), timeout=10)
        assert answer.status_code == 403 and answer.json()["errors"][0]["code"] == "DENIED", answer.text
    assert requests.post(f"{origin.url}/p2p/v1/peers", data=b"{", timeout=10).status_code == 400
