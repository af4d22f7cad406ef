"""docs/openapi.yaml against a live server: schemathesis generates requests for every documented operation (the
management API, the token endpoint, the probes, the chart repositories) and checks every answer against the document
(status, content type, headers, JSON schema, no 5xx). Once as a registry administrator, once as callers the gate
must refuse: nobody, a wrong password, an unknown user, a forged token, and a user who is not an administrator."""

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.specs.openapi.checks import ignored_auth

from conftest import ROOT, Server, add_users, cluster_env, cluster_size

DOC = ROOT / "docs" / "openapi.yaml"
SEED = 20261202
PASSWORDS = {"root": "root-secret-pw-4444", "alice": "alice-secret-pw-1"}
ADMIN = ("root", PASSWORDS["root"])
CONFIG = """
auth:
  enabled: true
  policies:
    - { repositories: ["**"], role: admin, users: [root] }
    - { repositories: ["team/**"], role: push, users: [alice] }
  # The refused callers fail many logins from this address; the default limit would lock everybody out.
  loginFailures: { limit: 1000000, window: 1m }
"""
BLOB = b"a blob that must survive the fuzzing\n"
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


class Wharf:
    def __init__(self, base: Path, request):
        self.config = base / "wharf.yaml"
        self.config.write_text(CONFIG)
        data = base / "data"
        # On a cluster (WHARF_E2E_CLUSTER) the users are in its database.
        self.cluster_env = cluster_env(request) if cluster_size() else None
        add_users(self.config, data, PASSWORDS, env=self.cluster_env)
        self.data = data
        self.server = None
        self.start()

    def start(self):
        """Starts the server on its data, or on a cluster the instances that are not running."""
        if self.cluster_env is None:
            self.server = Server(self.data, args=["--config", self.config])
        elif self.server is None:
            from cluster import Cluster
            self.server = Cluster(self.data, self.cluster_env, cluster_size(), args=["--config", self.config])
        else:
            self.server.revive()
        self.url = self.server.url

    def direct_url(self, n):
        """The URL the generated requests go to: the server's, or on a cluster its instance n's, directly (through
        nginx, methods such as TRACE get nginx's own answer, without the `Allow` the document promises)."""
        instances = getattr(self.server, "instances", None)
        return instances[n % len(instances)].url if instances else self.url

    def request(self, method, path, auth=ADMIN, **kwargs):
        return requests.request(method, self.url + path, auth=auth, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def wharf(tmp_path_factory, request):
    server = Wharf(tmp_path_factory.mktemp("management"), request)
    # Something for the keys and the audit log to count: a stored blob and an upload session in progress.
    answer = server.request("POST", f"/v2/team/app/blobs/uploads/?digest={DIGEST}", data=BLOB)
    assert answer.status_code == 201, answer.text
    answer = server.request("POST", "/v2/team/app/blobs/uploads/")
    assert answer.status_code == 202, answer.text
    yield server
    server.server.stop()


def load_schema(url: str) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({
        "base-url": url,
        "seed": SEED,
        "generation": {"max-examples": 12, "database": "none", "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # The refused runs answer 401 before any parameter is looked at, and the token endpoint answers 401
            # to made-up credentials: "valid data gets a 2xx" cannot hold for them. Every other default check
            # runs, status, content type, headers and schema conformance and "no 5xx" among them.
            "positive_data_acceptance": {"enabled": False},
        },
    })
    return schemathesis.openapi.from_path(DOC, config=config)


@pytest.fixture(scope="module")
def api(wharf):
    return load_schema(wharf.direct_url(1))


@pytest.fixture(scope="module")
def admin_api(wharf):
    # An administrator's made-up replication rules would send traffic to made-up remotes (test traffic stays on
    # loopback): creating, replacing and running rules is tested apart, with loopback remotes.
    return load_schema(wharf.direct_url(0)).exclude(
        operation_id=["createReplicationRule", "replaceReplicationRule", "replicationRun"])


schema = schemathesis.pytest.from_fixture("api")
admin_schema = schemathesis.pytest.from_fixture("admin_api")

PROTECTED = re.compile(r"^/api/v1/")
P2P_GRANTED = {"/p2p/v1/pieces", "/p2p/v1/announce", "/p2p/v1/peers"}
LOGGED_IN = {"/p2p/v1/preheat", "/api/v1/charts", "/api/v1/repositories"}
REPOSITORY_READ = {"/api/v1/tags", "/api/v1/manifests"}
CHART_REPOSITORY = re.compile(r"^/helm/")


@admin_schema.parametrize()
def test_as_administrator(case, wharf):
    """Every answer to the administrator is documented and matches its schema; none is a 5xx."""
    response = case.call_and_validate(auth=ADMIN)
    if PROTECTED.match(case.path):
        assert response.status_code not in (401, 403, 429), response.text


REFUSED = {
    "anonymous": {},
    "wrong password": {"auth": ("root", "not-the-password")},
    "unknown user": {"auth": ("mallory", "whatever-pw")},
    "forged token": {"headers": {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0."}},
    "not an administrator": {"auth": ("alice", PASSWORDS["alice"])},
}


@schema.parametrize()
def test_as_refused_caller(case, wharf):
    """Callers who are not registry administrators get the documented 401 or 403 from /api/v1/, with a
    challenge on 401; the probes and the token endpoint need no credentials."""
    # Schemathesis fills in made-up credentials for the security schemes; each caller here brings its own.
    if case.headers:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
    for name, credentials in REFUSED.items():
        response = case.call(**credentials)
        # A path any accepted credentials may read answers alice with a 200, which is right: schemathesis's
        # ignored-auth check would replay her own credentials and call it ignored.
        case.validate_response(response, headers=credentials.get("headers"),
                               excluded_checks=[ignored_auth] if case.path in LOGGED_IN | REPOSITORY_READ or CHART_REPOSITORY.match(case.path)
                               else None)
        status = response.status_code
        where = f"{name}: {case.method} {case.formatted_path} answered {status}: {response.text}"
        if case.method.upper() != case.operation.method.upper():
            # The coverage phase also tries methods the path does not answer: 405 before access control.
            assert status == 405 and response.headers.get("allow"), where
        elif case.path in REPOSITORY_READ:
            # Pull on the repository the query names: alice has it on team/** only.
            allowed = (400, 403, 404) if name == "not an administrator" else (400, 401)
            assert status in allowed or (name == "not an administrator" and status == 200), where
        elif PROTECTED.match(case.path) and case.path not in LOGGED_IN:
            assert status == (403 if name == "not an administrator" else 401), where
            if status == 401:
                assert response.headers["www-authenticate"][0].startswith("Bearer realm="), where
        elif case.path in P2P_GRANTED:
            # A piece list needs the pull right; the tracker's other calls, a piece token, which no caller here has.
            assert status >= 400, where
        elif CHART_REPOSITORY.match(case.path):
            # Credentials are needed (no anonymous pulls here); alice's then depend on the made-up chart and form. A
            # namespace that is no repository name is a 400 before any of that.
            allowed = status != 401 and status < 500 if name == "not an administrator" else status in (400, 401)
            assert allowed, where
        elif case.path in LOGGED_IN:
            # Any accepted credentials (then a 200, or a 400 for a made-up `after`); the list shows what they may pull.
            assert status in ((200, 400) if name == "not an administrator" else (401,)), where
        elif case.path != "/auth/token":
            assert status == 200, where


def test_token_flows_match_the_document(wharf, api):
    """What the generator cannot make up: a password grant with a refresh token, the refresh grant, and the access
    token as bearer credentials on the management API, each answer checked against the document."""
    form = "application/x-www-form-urlencoded"
    answer = api["/auth/token"]["POST"].Case(media_type=form, body={
        "grant_type": "password", "username": "root", "password": PASSWORDS["root"], "access_type": "offline",
        "service": "wharf", "scope": "repository:team/app:pull,push"}).call_and_validate()
    token = answer.json()
    assert token["scope"] == "repository:team/app:pull,push" and "refresh_token" in token
    answer = api["/auth/token"]["POST"].Case(media_type=form, body={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).call_and_validate()
    assert answer.json()["scope"] == "" and "refresh_token" in answer.json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert api["/api/v1/keys"]["GET"].Case().call_and_validate(headers=bearer).status_code == 200
    alice = requests.get(wharf.url + "/auth/token", auth=("alice", PASSWORDS["alice"]), timeout=30).json()["token"]
    denied = api["/api/v1/keys"]["GET"].Case().call_and_validate(headers={"Authorization": f"Bearer {alice}"})
    assert denied.status_code == 403


def test_store_survives_the_fuzzing(wharf):
    """The runs above rotated and retired keys, collected garbage and queried the log (the fixtures are the
    module's, so this sees what they left): the blob still reads back, every data key is wrapped by a key the
    registry holds, and the audit log answers."""
    answer = wharf.request("GET", f"/v2/team/app/blobs/{DIGEST}")
    assert answer.status_code == 200 and answer.content == BLOB
    status = wharf.request("GET", "/api/v1/keys").json()
    assert status["unreadable"] == [] and status["unencrypted"] == 0
    assert status["keys"][status["active"]] >= 1
    assert wharf.request("GET", "/api/v1/audit?limit=1").status_code == 200
    assert wharf.server.process.poll() is None


# Inputs the generator is unlikely to hit, each answered as the document says (the query values are 400s there,
# and no answer may be a 5xx). Last in the module: when this was written the form got a 500 and each of the three
# queries crashed the server (an integer conversion trap in AuditTime.parse), which is then started again.
EDGE_CASES = [
    ("POST", "/auth/token", {"body": {"grant_type": "password", "username": "root", "password": "x" * 70_000},
                             "media_type": "application/x-www-form-urlencoded"}),
    ("GET", "/api/v1/audit", {"query": {"since": "99999999999-01-01T00:00:00Z"}}),
    ("GET", "/api/v1/audit", {"query": {"since": "2026-01-01T00:00:00.9223372036854775807Z"}}),
    ("GET", "/api/v1/audit", {"query": {"until": "2026-01-01T99999999999:00:00Z"}}),
]

# Inputs that were once taken for something else: each is now refused with the documented status.
ONCE_MISREAD = [
    ("DELETE", "/api/v1/keys/0123456789abcdef", 404),  # no such key: it said 204 and did nothing
    ("DELETE", "/api/v1/keys/ABCDEF", 404),  # ids are lower-case hex
    ("POST", "/api/v1/keys/rotate?newKey=yes", 400),  # it kept the key, as if `false`
    ("POST", "/api/v1/gc?dryRun=maybe", 400),  # it deleted, as if `false`
    ("GET", "/auth/token?grant_type=password&username=root&password=x", 400),  # a password in a URL
    ("GET", "/api/v1/audit?since=99999999999-01-01T00:00:00Z", 400),  # it crashed the server
]


def test_inputs_once_misread_are_refused(wharf):
    for method, path, status in ONCE_MISREAD:
        answer = wharf.request(method, path)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        assert answer.json()["errors"][0]["code"] in ("UNSUPPORTED", "DIGEST_INVALID"), answer.text
    assert wharf.server.process.poll() is None


def test_edge_inputs_are_answered_as_documented(wharf, api):
    failures = []
    for method, path, data in EDGE_CASES:
        case = api[path][method].Case(**data)
        try:
            case.call_and_validate(base_url=wharf.url, auth=ADMIN)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - all are reported together below
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            failures.append(f"{method} {path} {data.get('query') or '(a 70 kB form)'}: {' '.join(lines[:6])[:400]}")
            if isinstance(error, requests.ConnectionError):
                try:
                    wharf.server.process.wait(timeout=30)  # a crash's backtrace takes a few seconds
                except subprocess.TimeoutExpired:
                    pass
            if wharf.server.process.poll() is not None:
                failures[-1] += f" -- THE SERVER DIED: {getattr(wharf.server, 'log_path', 'see the instances logs')}"
                wharf.start()  # on the same data, for the next input
    assert not failures, "\n".join(failures)
