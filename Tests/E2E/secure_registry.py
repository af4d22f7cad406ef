"""A Wharf with access control on, for the auth tests: a self-signed CA, users (Wharf's own and htpasswd), a robot,
policies, a plain port and a TLS port."""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from conftest import Server, add_users, free_port, require, run, wharf_binary

PASSWORDS = {
    "alice": "alice-secret-pw-1",  # push on team-a/** and public/**
    "bob": "bob-secret-pw-22",  # pull on team-a/app only
    "dave": "dave-secret-pw-333",  # delete on team-a/**
    "root": "root-secret-pw-4444",  # admin on **
    "carol": "carol-secret-pw-55555",  # htpasswd user, group team-b: push on team-b/**
}

CONFIG = """
auth:
  enabled: true
  htpasswd: {htpasswd}
  groups: {{ team-b: [carol] }}
  anonymousPull: ["public/**"]
  policies:
    - {{ repositories: ["team-a/**", "public/**"], role: push, users: [alice] }}
    - {{ repositories: ["team-a/app"], role: pull, users: [bob] }}
    - {{ repositories: ["team-a/**"], role: delete, users: [dave] }}
    - {{ repositories: ["**"], role: admin, users: [root] }}
    - {{ repositories: ["team-a/**"], role: pull, robots: [ci, temp, brief] }}
    - {{ repositories: ["team-b/**"], role: push, groups: [team-b] }}
  loginFailures: {{ limit: {limit}, window: {window} }}
audit:
  trustedProxies: ["127.0.0.1/32"]
"""


@dataclass
class Secure:
    server: Server
    base: Path
    config: Path
    tls_host: str
    ca: Path
    cert_dir: Path  # ca.crt, as podman and skopeo want it
    robot_secret: str

    @property
    def tls_url(self):
        return f"https://{self.tls_host}"

    def wharf(self, *args, **kwargs):
        return run(wharf_binary(), *args, "--config", self.config, "--data-dir", self.server.data_dir, **kwargs)

    def get(self, path, method="GET", auth=None, token=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.tls_url + path, auth=auth, headers=headers, verify=str(self.ca),
                                allow_redirects=False, timeout=30, **kwargs)

    def token(self, scope, user=None, password=None):
        auth = (user, password or PASSWORDS[user]) if user else None
        answer = self.get("/auth/token", params={"service": "wharf", "scope": scope}, auth=auth)
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]


def start_secure(base: Path, hosts=("127.0.0.1", "localhost"), tls_ip="127.0.0.1", netns=None, limit=1000,
                 window="1m", extra_env=None) -> Secure:
    wharf = wharf_binary()
    run(wharf, "certs", "self-signed", *(a for h in hosts for a in ("--host", h)), "--out", base / "certs")
    cert_dir = base / "certdir"
    cert_dir.mkdir()
    shutil.copy(base / "certs" / "ca.pem", cert_dir / "ca.crt")
    htpasswd = base / "htpasswd"
    run(require("htpasswd"), "-B", "-b", "-c", htpasswd, "carol", PASSWORDS["carol"])
    config = base / "wharf.yaml"
    config.write_text(CONFIG.format(htpasswd=htpasswd, limit=limit, window=window))
    data = base / "data"
    add_users(config, data, {user: PASSWORDS[user] for user in ("alice", "bob", "dave", "root")})
    created = run(wharf, "robots", "add", "ci", "--config", config, "--data-dir", data).stdout
    secret = re.search(r"^(wharf_\S+)$", created, re.M).group(1)
    tls_host = f"{tls_ip}:{free_port()}"
    server = Server(data, log_level="debug", netns=netns, extra_env=extra_env, args=[
        "--config", config, "--tls-listen", tls_host,
        "--tls-cert", base / "certs" / "server.pem", "--tls-key", base / "certs" / "server-key.pem"])
    return Secure(server, base, config, tls_host, base / "certs" / "ca.pem", cert_dir, secret)
