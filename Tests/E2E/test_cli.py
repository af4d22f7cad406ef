"""The command line as a user meets it: the version, one clear line (and a documented exit status) when the server
cannot be reached or refuses, and `audit query` on a copy of the audit directory without a server."""

import json
import shutil
import stat
import subprocess
import urllib.error
import urllib.request

from conftest import Server, free_port, wharf_binary
from secure_registry import PASSWORDS, start_secure


def wharf(*args, **kwargs):
    return subprocess.run([wharf_binary(), *map(str, args)], capture_output=True, text=True, timeout=60, **kwargs)


def test_version_is_printed_logged_and_exposed(tmp_path):
    version = wharf("--version")
    assert version.returncode == 0 and version.stdout.strip().count(".") == 2, version.stdout
    server = Server(tmp_path / "data", log_level="info")
    try:
        with urllib.request.urlopen(server.url + "/metrics") as response:
            metrics = response.read().decode()
        assert f'wharf_build_info{{version="{version.stdout.strip()}"}} 1' in metrics
    finally:
        server.stop()
    assert f"version={version.stdout.strip()}" in server.log_path.read_text()


def test_an_unreachable_server_is_one_line_and_exit_3(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["gc"], ["audit", "query"], ["keys", "status"]):
        result = wharf(*command, "--url", url)
        assert result.returncode == 3, (command, result.stdout, result.stderr)
        assert result.stderr.strip() == (f"wharf: cannot reach the registry at {url}: connection refused "
                                         "(is wharf serve running? --url/--config)"), result.stderr
        assert "NSURLErrorDomain" not in result.stderr + result.stdout


def test_missing_credentials_and_missing_admin_are_said_plainly(tmp_path):
    secure = start_secure(tmp_path)
    try:
        url = secure.server.url
        missing = wharf("gc", "--url", url)
        assert missing.returncode == 4 and "credentials: they are missing or wrong" in missing.stderr, missing.stderr
        wrong = wharf("gc", "--url", url, "--creds", "root:not-the-password")
        assert wrong.returncode == 4, wrong.stderr
        not_admin = wharf("gc", "--url", url, "--creds", f"bob:{PASSWORDS['bob']}")
        assert not_admin.returncode == 5 and "lack admin" in not_admin.stderr, not_admin.stderr
        admin = wharf("gc", "--url", url, "--dry-run", "--creds", f"root:{PASSWORDS['root']}")
        assert admin.returncode == 0 and "gc: would free" in admin.stdout, admin.stderr
    finally:
        secure.server.stop()


def test_audit_query_reads_a_copy_of_the_log_without_a_server(tmp_path):
    server = Server(tmp_path / "data")
    try:
        for repo in ("copy/a", "copy/b", "copy/a"):
            try:
                urllib.request.urlopen(f"{server.url}/v2/{repo}/manifests/missing")
            except urllib.error.HTTPError:
                pass
        online = wharf("audit", "query", "--url", server.url, "--json", "--repository", "copy/a", "--all")
        assert online.returncode == 0, online.stderr
    finally:
        server.stop()

    copy = tmp_path / "handed-over"
    shutil.copytree(tmp_path / "data" / "audit", copy)
    (copy / "index.db").unlink()  # an auditor may get the segments alone
    for path in [copy, *copy.iterdir()]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))  # and read-only
    try:
        offline = wharf("audit", "query", "--audit-dir", copy, "--json", "--repository", "copy/a", "--all")
        assert offline.returncode == 0, offline.stderr
        assert offline.stdout == online.stdout
        records = [json.loads(line) for line in offline.stdout.splitlines()]
        assert [r["repository"] for r in records] == ["copy/a", "copy/a"]
        assert all(r["status"] == 404 for r in records)

        # --data-dir without --url reads that directory's log, with the same filters.
        by_data_dir = wharf("audit", "query", "--data-dir", tmp_path / "data", "--json", "--status", "404",
                            "--repository", "copy/b")
        assert by_data_dir.returncode == 0 and len(by_data_dir.stdout.splitlines()) == 1, by_data_dir.stderr
        assert not (copy / "index.db").exists(), "the copy was written to"
    finally:
        for path in [copy, *copy.iterdir()]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
