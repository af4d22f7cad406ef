"""Rules made through the API and `wharf replication rules`: created with a password that is stored sealed, in force
at once, disabled and enabled, kept across a restart and a key rotation, removed; bad input is refused naming the
field, and the configuration file's rules are not changed this way."""

import sqlite3

import requests

from conftest import Server, run, wharf_binary
from images import sha256
from test_replication import ROOT_PASSWORD, instance, push_image, push_signature, wait_until

TARGET = """
auth:
  enabled: true
  policies:
    - { repositories: ["**"], role: delete, robots: [sync] }
    - { repositories: ["**"], role: admin, users: [root] }
"""

SOURCE = """
auth:
  enabled: true
  policies:
    - {{ repositories: ["**"], role: admin, users: [root] }}
replication:
  rules:
    - {{ name: from-file, direction: push, remote: {{ url: "{url}" }}, repositories: {{ include: ["nothing/**"] }} }}
"""


def test_rules_through_the_api(tmp_path):
    target_config, secret = instance(tmp_path, "t", TARGET, robot="sync")
    target = Server(tmp_path / "t", args=["--config", target_config])
    source_config, _ = instance(tmp_path, "a", SOURCE.format(url=target.url))
    a = Server(tmp_path / "a", args=["--config", source_config])
    admin = ("root", ROOT_PASSWORD)
    cli = [wharf_binary(), "replication", "rules"]
    server = ["--url", a.url, "--creds", f"root:{ROOT_PASSWORD}"]
    try:
        run(*cli, "add", "to-t", "--direction", "push", "--remote", target.url, "--username", "robot$sync",
            "--password-stdin", "--include", "api/**", "--deletes", *server, input=secret + "\n")
        shown = requests.get(f"{a.url}/api/v1/replication/rules/to-t", auth=admin).json()
        assert shown["source"] == "api" and shown["username"] == "robot$sync" and shown["deletes"]
        assert secret not in requests.get(f"{a.url}/api/v1/replication/rules", auth=admin).text
        with sqlite3.connect(f"file:{tmp_path / 'a' / 'wharf.db'}?mode=ro", uri=True) as db:
            stored = db.execute("SELECT definition, secret FROM replication_rules").fetchall()
        assert len(stored) == 1 and secret not in stored[0][0] and secret not in stored[0][1], "the password is stored in clear"

        first = push_image(a.url, "api/app", "v1", "first", auth=admin)
        wait_until(lambda: _digest(target, "api/app", "v1") == first, what="the copy by the new rule")

        run(*cli, "disable", "to-t", *server)
        quiet = push_image(a.url, "api/app", "v2", "while-disabled", auth=admin)
        wait_until(lambda: requests.get(f"{a.url}/api/v1/replication/rules/to-t", auth=admin).json()["enabled"] is False)
        run(*cli, "enable", "to-t", *server)
        assert _digest(target, "api/app", "v2") is None, "a disabled rule copied"
        run(wharf_binary(), "replication", "run", "to-t", *server)
        wait_until(lambda: _digest(target, "api/app", "v2") == quiet, what="the reconcile after enabling")

        # A referrer of a tag the target already has in sync: only the reconcile can find it missing.
        run(*cli, "disable", "to-t", *server)
        signature = push_signature(a.url, "api/app", "v2", auth=admin)
        run(*cli, "enable", "to-t", *server)
        referrers = f"{target.url}/v2/api/app/referrers/{quiet}"
        assert requests.get(referrers, auth=admin).json()["manifests"] == []
        report = requests.post(f"{a.url}/api/v1/replication/rules/to-t/run", auth=admin).json()
        assert report["queued"] == 1, report
        wait_until(lambda: [m["digest"] for m in requests.get(referrers, auth=admin).json()["manifests"]] ==
                   [sha256(signature)], what="the referrer the reconcile found missing")
        report = requests.post(f"{a.url}/api/v1/replication/rules/to-t/run", auth=admin).json()
        assert report["queued"] == 0, "a reconcile of a converged rule queued work"

        # Stored: a rotation re-seals the password under the new key, so the old key can be retired, and after a
        # restart the rule opens it again.
        old_key = requests.get(f"{a.url}/api/v1/keys", auth=admin).json()["active"]
        run(wharf_binary(), "keys", "rotate", "--url", a.url, "--creds", f"root:{ROOT_PASSWORD}")
        retired = requests.delete(f"{a.url}/api/v1/keys/{old_key}", auth=admin)
        assert retired.status_code == 204, retired.text
        a.stop()
        a = Server(tmp_path / "a", args=["--config", source_config], port=a.port)
        later = push_image(a.url, "api/app", "v3", "after-rotation", auth=admin)
        wait_until(lambda: _digest(target, "api/app", "v3") == later, what="the copy after a restart and a rotation")

        # Refusals name the field; the configuration file's rule is not the API's to change.
        for body, field in (
            ({"name": "x", "direction": "sideways", "remote": {"url": target.url}}, "direction"),
            ({"name": "x", "direction": "push"}, "remote"),
            ({"name": "Not OK", "direction": "push", "remote": {"url": target.url}}, "name"),
            ({"name": "x", "direction": "pull", "remote": {"url": target.url}, "triggers": ["event"]}, "triggers"),
            ({"name": "x", "direction": "push", "remote": {"url": "ftp://nowhere"}}, "remote.url"),
        ):
            answer = requests.post(f"{a.url}/api/v1/replication/rules", json=body, auth=admin)
            assert answer.status_code == 400 and answer.json()["errors"][0]["detail"] == field, (body, answer.text)
        duplicate = requests.post(f"{a.url}/api/v1/replication/rules", auth=admin,
                                  json={"name": "to-t", "direction": "push", "remote": {"url": target.url}})
        assert duplicate.status_code == 409
        assert requests.delete(f"{a.url}/api/v1/replication/rules/from-file", auth=admin).status_code == 409
        assert requests.post(f"{a.url}/api/v1/replication/rules", json={"name": "y"}, auth=("nobody", "x")).status_code == 401

        run(*cli, "remove", "to-t", *server)
        assert requests.get(f"{a.url}/api/v1/replication/rules/to-t", auth=admin).status_code == 404
        listed = run(*cli, "list", *server).stdout
        assert "from-file" in listed and "to-t" not in listed
    finally:
        a.stop()
        target.stop()


def _digest(server, repository, tag):
    answer = requests.head(f"{server.url}/v2/{repository}/manifests/{tag}", auth=("root", ROOT_PASSWORD),
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None
