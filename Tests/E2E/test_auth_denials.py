"""Access control's refusals: the negative matrix (each refused with the right status, code and challenge),
private repositories that do not betray their existence, filtered listings, mounts, the admin API, failed-login
throttling, signing-key rotation, what the audit log records, and that no secret reaches a log."""

import base64
import http.client
import json
import ssl
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from images import Layout, push_layout_blobs_and_manifests
from secure_registry import PASSWORDS, start_secure

SEEN_SECRETS = set()  # every password, robot secret and token these tests used; none may reach a log


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    registry = start_secure(tmp_path_factory.mktemp("auth-denials"))
    SEEN_SECRETS.update(PASSWORDS.values())
    SEEN_SECRETS.add(registry.robot_secret)
    # team-a/app:v1 exists (private); team-b/app:v1 too; public/app:v1 is public.
    layout = Layout(registry.base / "image")
    top = layout.image({"app.txt": b"private content\n"}, tag="v1")
    for repo, user, tag in (("team-a/app", "alice", "v1"), ("team-a/app", "alice", "deleteme"),
                            ("team-b/app", "carol", "v1"), ("public/app", "alice", "v1")):
        push_layout_blobs_and_manifests_as(registry, repo, layout, top, user, tag)
    registry.layer = json.loads((layout.path / "blobs" / "sha256" / top["digest"][7:]).read_text())["layers"][0]
    yield registry
    registry.server.stop()


def push_layout_blobs_and_manifests_as(registry, repo, layout, top, user, tag):
    token = registry.token(f"repository:{repo}:pull,push", user)
    SEEN_SECRETS.add(token)
    push_layout_blobs_and_manifests(registry.tls_url, repo, layout, tag, top,
                                    auth_headers={"Authorization": f"Bearer {token}"},
                                    ssl_context=ssl.create_default_context(cafile=registry.ca))


class RawAnswer:
    """An answer to a request sent byte for byte (requests would normalise `..` away)."""

    def __init__(self, response):
        self.status_code = response.status
        self.headers = response.headers
        self.text = response.read().decode()

    def json(self):
        return json.loads(self.text)


def raw_get(secure, path, auth):
    host, port = secure.tls_host.split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=secure.ca))
    credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    connection.request("GET", path, headers={"Authorization": f"Basic {credentials}"})
    return RawAnswer(connection.getresponse())


def basic(user, password=None):
    return (user, password or PASSWORDS[user])


def error_code(answer):
    return answer.json()["errors"][0]["code"]


def challenge(answer):
    return answer.headers.get("WWW-Authenticate", "")


def signing_key(secure):
    keys = secure.server.data_dir / "auth" / "token-keys"
    kid = (keys / "active").read_text().strip()
    return kid, (keys / f"{kid}.pem").read_text()


def claims(**overrides):
    now = int(time.time())
    base = {"iss": "wharf", "sub": "alice", "aud": "wharf", "exp": now + 300, "nbf": now - 1, "iat": now,
            "jti": "test", "kind": "user", "use": "access",
            "access": [{"type": "repository", "name": "team-a/app", "actions": ["pull"]}]}
    return {**base, **overrides}


def test_negative_matrix(secure):
    manifest = "/v2/team-a/app/manifests/v1"
    kid, pem = signing_key(secure)
    alice_token = secure.token("repository:team-a/app:pull", "alice")
    robot_token = secure.token("repository:team-a/app:pull,push", "robot$ci", secure.robot_secret)
    SEEN_SECRETS.update([alice_token, robot_token])
    other_key = ec.generate_private_key(ec.SECP256R1())
    unsigned = (base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode()).rstrip(b"=")
                + b"." + base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=") + b".").decode()
    cases = {
        "no credentials": (secure.get(manifest), 401, "UNAUTHORIZED"),
        "wrong password": (secure.get(manifest, auth=basic("alice", "not-her-password")), 401, "UNAUTHORIZED"),
        "unknown user": (secure.get(manifest, auth=basic("mallory", "whatever-password")), 401, "UNAUTHORIZED"),
        "expired token": (secure.get(manifest, token=jwt.encode(
            claims(exp=int(time.time()) - 10), pem, algorithm="ES256", headers={"kid": kid})), 401, "UNAUTHORIZED"),
        "token for another repository": (secure.get("/v2/team-a/other/manifests/v1", token=alice_token), 403, "DENIED"),
        "token for a repository without rights": (secure.get("/v2/team-b/app/manifests/v1", token=alice_token), 403,
                                                  "DENIED"),
        "forged signature": (secure.get(manifest, token=jwt.encode(
            claims(), other_key, algorithm="ES256", headers={"kid": kid})), 401, "UNAUTHORIZED"),
        "alg none": (secure.get(manifest, token=unsigned), 401, "UNAUTHORIZED"),
        "another issuer": (secure.get(manifest, token=jwt.encode(
            claims(iss="elsewhere"), pem, algorithm="ES256", headers={"kid": kid})), 401, "UNAUTHORIZED"),
        "a refresh token as access token": (secure.get(manifest, token=jwt.encode(
            claims(use="refresh"), pem, algorithm="ES256", headers={"kid": kid})), 401, "UNAUTHORIZED"),
        "pull-only robot pushing": (secure.get("/v2/team-a/app/blobs/uploads/", "POST", token=robot_token), 403,
                                    "DENIED"),
        "pull-only robot pushing with Basic": (secure.get("/v2/team-a/app/blobs/uploads/", "POST",
                                                          auth=("robot$ci", secure.robot_secret)), 403, "DENIED"),
        "delete without the delete right": (secure.get("/v2/team-a/app/manifests/deleteme", "DELETE",
                                                       auth=basic("alice")), 403, "DENIED"),
        "scope with a path trick": (secure.get("/auth/token", params={"scope": "repository:team-a/../team-b/app:pull"},
                                               auth=basic("alice")), 400, "NAME_INVALID"),
        "scope with an absolute path": (secure.get("/auth/token", params={"scope": "repository:/etc/passwd:pull"},
                                                   auth=basic("alice")), 400, "NAME_INVALID"),
        "request path with a path trick": (raw_get(secure, "/v2/team-a/../team-b/app/manifests/v1", basic("alice")),
                                           400, "NAME_INVALID"),
        "admin API anonymously": (secure.get("/api/v1/keys"), 401, "UNAUTHORIZED"),
        "admin API without admin": (secure.get("/api/v1/keys", auth=basic("alice")), 403, "DENIED"),
        "token endpoint with a wrong password": (secure.get("/auth/token", params={"scope": "repository:team-a/app:pull"},
                                                            auth=basic("alice", "wrong-password")), 401, "UNAUTHORIZED"),
    }
    for name, (answer, status, code) in cases.items():
        assert (answer.status_code, error_code(answer)) == (status, code), f"{name}: {answer.status_code} {answer.text}"
        if status == 401:
            assert challenge(answer).startswith("Bearer realm="), name

    assert challenge(cases["no credentials"][0]) == (
        f'Bearer realm="{secure.tls_url}/auth/token",service="wharf",scope="repository:team-a/app:pull"')
    assert 'error="invalid_token"' in challenge(cases["expired token"][0])
    # The identity may pull team-a/other, but this token does not say so: a challenge for the right scope.
    assert 'scope="repository:team-a/other:pull",error="insufficient_scope"' in challenge(
        cases["token for another repository"][0])
    assert "insufficient_scope" not in challenge(cases["token for a repository without rights"][0])

    # What is allowed still is: the same credentials on what they may do.
    assert secure.get(manifest, token=alice_token).status_code == 200
    assert secure.get(manifest, token=jwt.encode(claims(), pem, algorithm="ES256", headers={"kid": kid})).status_code == 200
    assert secure.get("/api/v1/keys", auth=basic("root")).status_code == 200
    assert secure.get("/v2/team-a/app/manifests/deleteme", "DELETE", auth=basic("dave")).status_code == 202


def test_disabled_and_expired_robots_are_refused(secure):
    created = secure.wharf("robots", "add", "temp").stdout
    secret = [line for line in created.splitlines() if line.startswith("wharf_")][0]
    SEEN_SECRETS.add(secret)
    time.sleep(1.2)  # the server rereads the identity store at most once a second
    token = secure.token("repository:team-a/app:pull", "robot$temp", secret)
    SEEN_SECRETS.add(token)
    assert secure.get("/v2/team-a/app/manifests/v1", token=token).status_code == 200
    secure.wharf("robots", "disable", "temp")
    time.sleep(1.2)
    for answer in (secure.get("/v2/team-a/app/manifests/v1", token=token),
                   secure.get("/v2/team-a/app/manifests/v1", auth=("robot$temp", secret)),
                   secure.get("/auth/token", auth=("robot$temp", secret))):
        assert (answer.status_code, error_code(answer)) == (401, "UNAUTHORIZED")
    assert "disabled" in secure.wharf("robots", "list").stdout
    secure.wharf("robots", "enable", "temp")
    time.sleep(1.2)
    assert secure.get("/v2/team-a/app/manifests/v1", auth=("robot$temp", secret)).status_code == 200

    created = secure.wharf("robots", "add", "brief", "--expires-in", "1s").stdout
    brief = [line for line in created.splitlines() if line.startswith("wharf_")][0]
    SEEN_SECRETS.add(brief)
    time.sleep(2.2)
    answer = secure.get("/v2/team-a/app/manifests/v1", auth=("robot$brief", brief))
    assert (answer.status_code, error_code(answer)) == (401, "UNAUTHORIZED")


def test_user_management_takes_effect_live(secure):
    secure.wharf("users", "add", "erin", "--group", "team-b", "--password-stdin", input="erin-first-pw\n")
    listed = secure.wharf("users", "list").stdout
    assert any(line.split("\t")[:2] == ["erin", "team-b"] for line in listed.splitlines()), listed
    time.sleep(1.2)  # the server rereads the identity store at most once a second
    assert secure.get("/v2/team-b/app/tags/list", auth=("erin", "erin-first-pw")).status_code == 200  # via team-b
    secure.wharf("users", "passwd", "erin", "--password-stdin", input="erin-second-pw\n")
    time.sleep(1.2)
    assert secure.get("/v2/", auth=("erin", "erin-first-pw")).status_code == 401
    assert secure.get("/v2/", auth=("erin", "erin-second-pw")).status_code == 200
    secure.wharf("users", "remove", "erin")
    time.sleep(1.2)
    assert secure.get("/v2/", auth=("erin", "erin-second-pw")).status_code == 401
    short = secure.wharf("users", "add", "frank", "--password-stdin", input="short\n", check=False)
    assert short.returncode != 0 and "at least 8" in short.stderr
    SEEN_SECRETS.update(["erin-first-pw", "erin-second-pw"])


def test_private_repositories_do_not_betray_their_existence(secure):
    """Who may not pull cannot tell an existing repository, tag or blob from a missing one."""
    digest = secure.layer["digest"]

    def same(text):
        return text.replace("team-b/app", "X").replace("team-b/ghost", "X").replace("team-b\\/app", "X").replace(
            "team-b\\/ghost", "X")

    pairs = [
        ("/v2/team-b/app/manifests/v1", "/v2/team-b/ghost/manifests/v1"),
        ("/v2/team-b/app/manifests/v1", "/v2/team-b/app/manifests/nope"),
        (f"/v2/team-b/app/blobs/{digest}", f"/v2/team-b/ghost/blobs/{digest}"),
        ("/v2/team-b/app/tags/list", "/v2/team-b/ghost/tags/list"),
    ]
    for auth in (None, basic("alice")):
        for existing, missing in pairs:
            a, b = secure.get(existing, auth=auth), secure.get(missing, auth=auth)
            assert a.status_code == b.status_code == (401 if auth is None else 403), (existing, a.text)
            assert error_code(a) == error_code(b)
            assert same(a.text) == same(b.text)
            assert same(challenge(a)) == same(challenge(b))


def test_catalog_and_tag_lists_show_only_what_the_caller_may_pull(secure):
    def catalog(user=None, password=None):
        token = secure.token("registry:catalog:*", user, password)
        SEEN_SECRETS.add(token)
        answer = secure.get("/v2/_catalog", token=token)
        assert answer.status_code == 200, answer.text
        return answer.json()["repositories"]

    assert catalog("alice") == ["public/app", "team-a/app"]
    assert catalog("carol") == ["public/app", "team-b/app"]
    assert catalog("bob") == ["public/app", "team-a/app"]
    assert catalog() == ["public/app"]  # anonymous
    assert catalog("root") == ["public/app", "team-a/app", "team-b/app"]
    assert secure.get("/v2/_catalog").status_code == 401  # no credentials at all: the client is told to log in
    paged = secure.get("/v2/_catalog?n=1", auth=basic("carol"))
    assert paged.json()["repositories"] == ["public/app"] and "last=public%2Fapp" in paged.headers["Link"]
    assert secure.get("/v2/_catalog?n=1&last=public%2Fapp", auth=basic("carol")).json()["repositories"] == ["team-b/app"]

    assert secure.get("/v2/team-a/app/tags/list", auth=basic("bob")).json()["tags"] == ["v1"]
    assert secure.get("/v2/team-b/app/tags/list", auth=basic("bob")).status_code == 403


def test_mount_needs_pull_on_the_source(secure):
    digest = secure.layer["digest"]
    # alice may not pull team-b: the mount falls back to an upload session, and says nothing about team-b.
    fallback = secure.get(f"/v2/team-a/mounted/blobs/uploads/?mount={digest}&from=team-b/app", "POST",
                          auth=basic("alice"))
    assert fallback.status_code == 202 and "/blobs/uploads/" in fallback.headers["Location"]
    # From a repository she may pull, it mounts.
    mounted = secure.get(f"/v2/public/mounted/blobs/uploads/?mount={digest}&from=team-a/app", "POST",
                         auth=basic("alice"))
    assert mounted.status_code == 201
    # With a token, the token must grant pull on the source too.
    token = secure.token("repository:team-a/mounted2:pull,push", "alice")
    SEEN_SECRETS.add(token)
    assert secure.get(f"/v2/team-a/mounted2/blobs/uploads/?mount={digest}&from=team-a/app", "POST",
                      token=token).status_code == 202
    token = secure.token("repository:team-a/mounted2:pull,push repository:team-a/app:pull", "alice")
    SEEN_SECRETS.add(token)
    assert secure.get(f"/v2/team-a/mounted2/blobs/uploads/?mount={digest}&from=team-a/app", "POST",
                      token=token).status_code == 201


def test_oauth2_password_and_refresh_token_grants(secure):
    form = {"grant_type": "password", "username": "alice", "password": PASSWORDS["alice"], "service": "wharf",
            "client_id": "e2e", "access_type": "offline", "scope": "repository:team-a/app:pull"}
    answer = secure.get("/auth/token", "POST", data=form)
    assert answer.status_code == 200, answer.text
    issued = answer.json()
    SEEN_SECRETS.update([issued["access_token"], issued["refresh_token"]])
    assert issued["scope"] == "repository:team-a/app:pull" and issued["expires_in"] == 300
    assert secure.get("/v2/team-a/app/manifests/v1", token=issued["access_token"]).status_code == 200

    refreshed = secure.get("/auth/token", "POST", data={
        "grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "service": "wharf",
        "client_id": "e2e", "scope": "repository:team-a/app:pull,push repository:team-b/app:pull"}).json()
    SEEN_SECRETS.update([refreshed["access_token"], refreshed["refresh_token"]])
    assert refreshed["scope"] == "repository:team-a/app:pull,push"  # team-b is not hers to pull
    assert secure.get("/v2/team-a/app/manifests/v1", token=refreshed["access_token"]).status_code == 200
    # A refresh token is not an access token, and a wrong password gets no token.
    assert secure.get("/v2/team-a/app/manifests/v1", token=issued["refresh_token"]).status_code == 401
    assert secure.get("/auth/token", "POST", data={**form, "password": "wrong-password"}).status_code == 401
    bad = secure.get("/auth/token", "POST", data={"grant_type": "refresh_token", "refresh_token": "garbage"})
    assert (bad.status_code, error_code(bad)) == (401, "UNAUTHORIZED")


def test_signing_key_rotation_and_rs256(secure):
    def header(token):
        return jwt.get_unverified_header(token)

    old = secure.token("repository:team-a/app:pull", "alice")
    old_kid = header(old)["kid"]
    secure.wharf("auth", "rotate-signing-key", "--algorithm", "RS256")
    deadline = time.time() + 30
    new = old
    while header(new)["kid"] == old_kid and time.time() < deadline:
        time.sleep(0.5)
        new = secure.token("repository:team-a/app:pull", "alice")
    SEEN_SECRETS.update([old, new])
    assert header(new)["alg"] == "RS256" and header(new)["kid"] != old_kid
    assert "verifies only" in secure.wharf("auth", "signing-keys").stdout
    for token in (old, new):  # tokens of the old key stay good until it is retired
        assert secure.get("/v2/team-a/app/manifests/v1", token=token).status_code == 200

    secure.wharf("auth", "retire-signing-key", old_kid)
    deadline = time.time() + 30
    while secure.get("/v2/team-a/app/manifests/v1", token=old).status_code == 200 and time.time() < deadline:
        time.sleep(0.5)
    assert secure.get("/v2/team-a/app/manifests/v1", token=old).status_code == 401
    assert secure.get("/v2/team-a/app/manifests/v1", token=new).status_code == 200


def test_failed_logins_are_throttled_per_address_and_per_user(tmp_path):
    secure = start_secure(tmp_path / "registry", limit=3, window="4s")
    try:
        def login(user, password, address):
            return secure.get("/v2/", auth=(user, password), headers={"X-Forwarded-For": address})

        # Per address: three wrong guesses for three names, then even a right password from there waits.
        for user in ("alice", "bob", "dave"):
            assert login(user, "wrong-password", "192.0.2.1").status_code == 401
        refused = login("root", PASSWORDS["root"], "192.0.2.1")
        assert (refused.status_code, error_code(refused)) == (429, "TOOMANYREQUESTS")
        assert 1 <= int(refused.headers["Retry-After"]) <= 5
        assert login("root", PASSWORDS["root"], "192.0.2.2").status_code == 200  # another address is not held up

        # Per user: three addresses guessing one name lock that name, the token endpoint included.
        for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            assert login("carol", "wrong-password", address).status_code == 401
        assert login("carol", PASSWORDS["carol"], "198.51.100.4").status_code == 429
        token = secure.get("/auth/token", auth=basic("carol"), headers={"X-Forwarded-For": "198.51.100.5"})
        assert (token.status_code, error_code(token)) == (429, "TOOMANYREQUESTS")

        time.sleep(int(refused.headers["Retry-After"]) + 0.5)
        assert login("carol", PASSWORDS["carol"], "198.51.100.4").status_code == 200
    finally:
        secure.server.stop()


def test_audit_records_who_did_what(secure):
    secure.get("/v2/", auth=basic("bob"))
    secure.get("/v2/", auth=("mallory", "guessing-password"))
    secure.get("/v2/team-b/app/manifests/v1", auth=basic("bob"))
    time.sleep(0.5)  # reads are recorded within audit.flushInterval (100 ms)

    def records(**query):
        answer = secure.get("/api/v1/audit", auth=basic("root"), params=query)
        assert answer.status_code == 200, answer.text
        return answer.json()["records"]

    bob = records(actor="bob")
    assert {(r["action"], r["status"], r["auth"], r["actorKind"]) for r in bob} >= {
        ("login", 200, "basic", "user"), ("pull-manifest", 403, "basic", "user")}
    failed = [r for r in records(action="login", status="401") if r.get("detail") == "failed login as mallory"]
    assert failed and failed[0]["actor"] == "anonymous"
    tokens = records(action="token", actor="alice")
    assert tokens and tokens[0]["auth"] in ("basic", "password", "refresh-token")
    robot = records(actor="robot$ci")
    assert robot and all(r["actorKind"] == "robot" for r in robot)
    assert secure.get("/api/v1/audit", auth=basic("alice")).status_code == 403


def test_no_secret_reaches_a_log_or_the_store(secure):
    """Run last in this file: every password, robot secret and token used above, searched for in the server's
    debug log and every file under the data directory (audit log, identity store, metadata)."""
    assert SEEN_SECRETS
    files = [secure.server.log_path] + [p for p in Path(secure.server.data_dir).rglob("*") if p.is_file()]
    for path in files:
        content = path.read_bytes()
        for secret in SEEN_SECRETS:
            assert secret.encode() not in content, f"a secret is in {path}"
