"""Access control with real clients over TLS: skopeo, podman, buildah, helm 3 and 4, and oras log in (or pass credentials),
push and pull; robots and htpasswd users work; anonymous pull works only where allowed; Basic-only mode."""

import json
import os
import socket
import ssl
import subprocess
import uuid

import oras.client
import pytest

from conftest import require, run
from images import Layout
from secure_registry import PASSWORDS, start_secure
from test_helm import helm_binary, helm_env
from test_podman_buildah import buildah, podman, storage  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    registry = start_secure(tmp_path_factory.mktemp("auth-clients"))
    yield registry
    registry.server.stop()


def skopeo(*args, **kwargs):
    return run(require("skopeo"), "--insecure-policy", *args, **kwargs)


def creds(user):
    return f"{user}:{PASSWORDS[user]}"


def test_plain_port_answers_a_tls_client_hello_with_400(secure):
    """Clients that try HTTPS first on a plain port get an HTTP answer they understand, not a hang."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    with socket.create_connection(("127.0.0.1", secure.server.port), timeout=10) as sock:
        sock.sendall(outgoing.read())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer


def test_skopeo_with_credentials_login_robot_and_anonymous(secure, work):
    layout = Layout(work / "src")
    layout.image({"skopeo.txt": b"pushed with credentials\n"}, tag="v1")
    certs = ["--dest-cert-dir", secure.cert_dir]
    ref = f"docker://{secure.tls_host}/team-a/skopeo:v1"
    skopeo("copy", *certs, "--dest-creds", creds("alice"), f"oci:{layout.path}:v1", ref)

    # skopeo login stores the credentials; later commands use them.
    auth_file = work / "auth.json"
    env = dict(os.environ, REGISTRY_AUTH_FILE=str(auth_file))
    skopeo("login", "--cert-dir", secure.cert_dir, "--username", "alice", "--password-stdin", secure.tls_host,
           input=PASSWORDS["alice"] + "\n", env=env)
    assert secure.tls_host in json.loads(auth_file.read_text())["auths"]
    inspected = json.loads(skopeo("inspect", "--cert-dir", secure.cert_dir, ref, env=env).stdout)
    assert inspected["RepoTags"] == ["v1"]

    # The robot pulls with its secret; without credentials the private repository is refused.
    skopeo("inspect", "--cert-dir", secure.cert_dir, "--creds", f"robot$ci:{secure.robot_secret}", ref)
    refused = skopeo("inspect", "--cert-dir", secure.cert_dir, "--no-creds", ref, check=False)
    assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower()

    # A public repository is pulled anonymously.
    public = f"docker://{secure.tls_host}/public/skopeo:v1"
    skopeo("copy", *certs, "--dest-creds", creds("alice"), f"oci:{layout.path}:v1", public)
    skopeo("copy", "--src-cert-dir", secure.cert_dir, "--src-no-creds", public, f"oci:{work / 'anon'}:v1")


def test_htpasswd_user_with_a_group_from_the_configuration(secure, work):
    layout = Layout(work / "src")
    layout.image({"carol.txt": b"from an htpasswd user\n"}, tag="v1")
    certs = ["--dest-cert-dir", secure.cert_dir]
    skopeo("copy", *certs, "--dest-creds", creds("carol"), f"oci:{layout.path}:v1",
           f"docker://{secure.tls_host}/team-b/app:v1")
    denied = skopeo("copy", *certs, "--dest-creds", creds("carol"), f"oci:{layout.path}:v1",
                    f"docker://{secure.tls_host}/team-a/carol:v1", check=False)
    assert denied.returncode != 0 and "403 (forbidden)" in denied.stderr.lower()


def test_podman_login_push_pull(secure, work, storage):  # noqa: F811 (the fixture)
    layout = Layout(work / "src")
    layout.image({"podman.txt": b"podman over tls\n"}, tag="v1")
    env = dict(os.environ, REGISTRY_AUTH_FILE=str(work / "auth.json"))
    certs = ["--cert-dir", secure.cert_dir]
    podman(storage, "login", *certs, "--username", "alice", "--password-stdin", secure.tls_host,
           input=PASSWORDS["alice"] + "\n", env=env)
    podman(storage, "pull", f"oci:{layout.path}:v1", env=env)
    image_id = podman(storage, "images", "--format", "{{.ID}}", env=env).stdout.split()[0]
    ref = f"{secure.tls_host}/team-a/podman:v1"
    podman(storage, "push", *certs, image_id, ref, env=env)
    podman(storage, "rmi", "--all", "--force", env=env)
    podman(storage, "pull", *certs, ref, env=env)
    assert json.loads(podman(storage, "image", "inspect", ref, env=env).stdout)[0]["Id"].startswith(image_id)

    podman(storage, "logout", secure.tls_host, env=env)
    refused = podman(storage, "pull", *certs, ref, env=env, check=False)
    assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower()

    # buildah, from the same storage, with --creds instead of a login; the robot may pull but not push.
    built = f"{secure.tls_host}/team-a/buildah:v1"
    buildah(storage, "push", *certs, "--creds", creds("alice"), image_id, f"docker://{built}", env=env)
    buildah(storage, "pull", *certs, "--creds", f"robot$ci:{secure.robot_secret}", built, env=env)
    denied = buildah(storage, "push", *certs, "--creds", f"robot$ci:{secure.robot_secret}", image_id,
                     f"docker://{secure.tls_host}/team-a/robot-push:v1", env=env, check=False)
    assert denied.returncode != 0 and "denied" in denied.stderr.lower(), denied.stderr


def test_oras_login_push_pull(secure, work, monkeypatch):
    # oras-py keeps logins in ~/.docker/config.json: give it its own home. It trusts the CA through requests.
    monkeypatch.setenv("HOME", str(work))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(secure.ca))
    monkeypatch.chdir(work)
    (work / "notes.txt").write_text("an artifact behind a login\n")
    client = oras.client.OrasClient(hostname=secure.tls_host, tls_verify=True)
    assert client.login(hostname=secure.tls_host, username="alice", password=PASSWORDS["alice"])["Status"] == (
        "Login Succeeded")
    target = f"{secure.tls_host}/team-a/oras:v1"
    client.push(target=target, files=["notes.txt"])
    pulled = client.pull(target=target, outdir=str(work / "out"))
    assert [open(p).read() for p in pulled] == ["an artifact behind a login\n"]

    stranger = oras.client.OrasClient(hostname=secure.tls_host, tls_verify=True)
    (work / ".docker" / "config.json").unlink()
    with pytest.raises(Exception):
        stranger.pull(target=target, outdir=str(work / "anon"))
    assert not (work / "anon" / "notes.txt").exists()


@pytest.fixture
def netns():
    """helm 3.8 always speaks plain HTTP to loopback addresses, so the TLS test gives the server a non-loopback
    address inside a network namespace of its own."""
    name = f"wharf-{uuid.uuid4().hex[:8]}"
    run("ip", "netns", "add", name)
    run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    run("ip", "netns", "exec", name, "ip", "addr", "add", "10.77.0.1/32", "dev", "lo")
    yield name
    subprocess.run(["ip", "netns", "del", name])


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_helm_registry_login_push_pull(tmp_path, netns, helm):
    secure = start_secure(tmp_path / "registry", hosts=("10.77.0.1",), tls_ip="10.77.0.1", netns=netns)
    try:
        binary = helm_binary(helm)
        env = helm_env(tmp_path, SSL_CERT_FILE=str(secure.ca))
        inside = ["ip", "netns", "exec", netns, binary]
        run(*inside, "registry", "login", secure.tls_host, "--username", "alice", "--password-stdin",
            input=PASSWORDS["alice"] + "\n", env=env)
        run(*inside, "create", tmp_path / "chart", env=env)
        run(*inside, "package", tmp_path / "chart", "--destination", tmp_path, env=env)
        pushed = run(*inside, "push", tmp_path / "chart-0.1.0.tgz", f"oci://{secure.tls_host}/team-a/charts", env=env)
        assert "Digest: sha256:" in pushed.stdout + pushed.stderr
        out = tmp_path / "pulled"
        out.mkdir()
        run(*inside, "pull", f"oci://{secure.tls_host}/team-a/charts/chart", "--version", "0.1.0", "--destination",
            out, env=env)
        assert (out / "chart-0.1.0.tgz").exists()

        run(*inside, "registry", "logout", secure.tls_host, env=env)
        refused = run(*inside, "pull", f"oci://{secure.tls_host}/team-a/charts/chart", "--version", "0.1.0",
                      "--destination", tmp_path / "anon", env=env, check=False)
        assert refused.returncode != 0
    finally:
        secure.server.stop()


def test_basic_challenge_when_tokens_are_off(tmp_path, work):
    secure = start_secure(tmp_path / "registry", extra_env={"WHARF_AUTH_TOKEN": "off"})
    try:
        challenged = secure.get("/v2/")
        assert challenged.status_code == 401
        assert challenged.headers["WWW-Authenticate"] == 'Basic realm="wharf"'
        assert secure.get("/auth/token").status_code == 404
        layout = Layout(work / "src")
        layout.image({"basic.txt": b"basic auth only\n"}, tag="v1")
        ref = f"docker://{secure.tls_host}/team-a/basic:v1"
        skopeo("copy", "--dest-cert-dir", secure.cert_dir, "--dest-creds", creds("alice"), f"oci:{layout.path}:v1", ref)
        wrong = skopeo("inspect", "--cert-dir", secure.cert_dir, "--creds", "dave:wrong-password", ref, check=False)
        assert wrong.returncode != 0 and "unauthorized" in wrong.stderr.lower()
        assert json.loads(skopeo("inspect", "--cert-dir", secure.cert_dir, "--creds", creds("dave"), ref).stdout)[
            "RepoTags"] == ["v1"]
    finally:
        secure.server.stop()
