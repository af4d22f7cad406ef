"""End-to-end fixtures: a live `wharf serve` on a free loopback port, and scratch directories."""

import base64
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wharf_binary() -> str:
    return os.environ.get("WHARF_BIN", str(ROOT / ".build" / "debug" / "wharf"))


class WharfProcess:
    """A wharf process (`serve` or `agent`) logging to `log_path`, up once its /healthz at `url` answers."""

    url: str
    log_path: Path

    def launch(self, command, env=None, wrapper=(), append_log=False):
        """`wrapper` (e.g. `ip netns exec NS`) runs the process and its health probe; `append_log` keeps the log of
        an earlier run of the same process."""
        self.wrapper = list(wrapper)
        self.log = open(self.log_path, "ab" if append_log else "wb")
        self.process = subprocess.Popen([*self.wrapper, *map(str, command)], stdout=self.log, stderr=subprocess.STDOUT,
                                        env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.healthy():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"wharf exited with {self.process.returncode}: {self.log_path.read_text()}")
            time.sleep(0.1)
        raise RuntimeError(f"wharf did not become healthy: {self.log_path.read_text()}")

    def healthy(self) -> bool:
        if self.wrapper:
            probe = f"import urllib.request; urllib.request.urlopen('{self.url}/healthz', timeout=1)"
            return subprocess.run([*self.wrapper, "python3", "-c", probe], capture_output=True).returncode == 0
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                return True
        except OSError:
            return False

    def kill(self):
        """SIGKILL: no graceful shutdown, as in a crash."""
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Server(WharfProcess):
    """A `wharf serve` process with its own data directory."""

    def __init__(self, data_dir: Path, extra_env=None, log_level="warning", args=(), netns=None, port=None, niceness=0,
                 address="127.0.0.1"):
        """`args` go to `wharf serve` after the defaults; `netns` runs it (and its health probe) in that network
        namespace, listening on `address`; `port` (default: a free one) lets a restart come back where it was;
        `niceness` lowers its CPU priority (a benchmark's stand-in for another machine)."""
        self.port = port or free_port()
        self.host = f"{address}:{self.port}"
        self.url = f"http://{self.host}"
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"wharf-{self.port}.log"
        self.launch(
            [*(["nice", "-n", str(niceness)] if niceness else []), wharf_binary(), "serve", "--listen", self.host,
             "--data-dir", data_dir, "--log-level", log_level, *args],
            env=dict(os.environ, **(extra_env or {})), wrapper=["ip", "netns", "exec", netns] if netns else [])


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """The URL of the run's S3 server (Ceph RGW): `WHARF_TEST_S3`, which scripts/test.sh starts, else one started
    here for the session."""
    if os.environ.get("WHARF_TEST_S3"):
        yield os.environ["WHARF_TEST_S3"]
        return
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server.url


S3_ACCESS_KEY = os.environ.get("S3_ACCESS_KEY", "WHARFTESTACCESS")
S3_SECRET_KEY = os.environ.get("S3_SECRET_KEY", "wharf-test-secret-key-0123456789")


def s3_env(endpoint: str, bucket: str) -> dict:
    """The environment that puts a server's blobs in `bucket` (made at start when missing), under `registry/`."""
    return {"WHARF_STORAGE_DRIVER": "s3", "WHARF_S3_ENDPOINT": endpoint, "WHARF_S3_BUCKET": bucket,
            "WHARF_S3_PREFIX": "registry/", "WHARF_S3_ACCESS_KEY": S3_ACCESS_KEY, "WHARF_S3_SECRET_KEY": S3_SECRET_KEY}


def new_bucket_name() -> str:
    return f"e2e-{uuid.uuid4().hex[:16]}"


def bucket(endpoint: str):
    """A boto3 client of the S3 server, path-style as RGW wants, for looking into a bucket behind Wharf's back."""
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """The URL of the run's PostgreSQL server: `WHARF_TEST_POSTGRES`, which scripts/test.sh starts, else one started
    here for the session."""
    if os.environ.get("WHARF_TEST_POSTGRES"):
        yield os.environ["WHARF_TEST_POSTGRES"]
        return
    with postgres_server() as server:
        yield server.url


@contextmanager
def postgres_server():
    """A PostgreSQL server of scripts/pg-server.sh, with `url`, `stop()` and `start()` (again, with its data). Its
    folder is directly under /tmp: run as root, the server runs as the `postgres` user, which pytest's folders
    keep out."""
    import tempfile
    directory = tempfile.mkdtemp(prefix="wharf-pg-")
    script = str(ROOT / "scripts" / "pg-server.sh")
    server = SimpleNamespace(start=lambda: run(script, "start", directory).stdout.strip(),
                             stop=lambda: run(script, "stop", directory))
    server.url = server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def s3_server(directory: Path):
    """An S3 server of scripts/s3-server.sh in `directory`, with `url`, and `stop_gateway()` and `start_gateway()`
    for an outage that keeps the stored objects."""
    script = str(ROOT / "scripts" / "s3-server.sh")
    server = SimpleNamespace(url=run(script, "start", directory).stdout.strip(),
                             stop_gateway=lambda: run(script, "stop-gateway", directory),
                             start_gateway=lambda: run(script, "start-gateway", directory))
    try:
        yield server
    finally:
        run(script, "stop", directory)


def postgres_env(url: str, migrate=True) -> dict:
    """The environment that puts a server's metadata in a new database of the PostgreSQL server at `url`, migrated
    by `wharf migrate` unless `migrate` is false."""
    name = f"e2e_{uuid.uuid4().hex[:16]}"
    psql(url, f"CREATE DATABASE {name}")
    env = {"WHARF_METADATA_DRIVER": "postgres", "WHARF_POSTGRES_URL": url.rsplit("/", 1)[0] + "/" + name}
    if migrate:
        run(wharf_binary(), "migrate", env=dict(os.environ, **env))
    return env


def psql(url: str, sql: str, database="postgres") -> str:
    """Runs SQL as the server's superuser, in `database`; answers the rows, unaligned."""
    return run("psql", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", url.rsplit("/", 1)[0] + "/" + database, "-c", sql).stdout


def cluster_size() -> int:
    """`WHARF_E2E_CLUSTER=N`: the modules that can run on a cluster run on N instances (0: on one server)."""
    return int(os.environ.get("WHARF_E2E_CLUSTER", "0"))


def single_server_only(reason: str):
    """Marks a test (or, as `pytestmark`, a module) that cannot run on a cluster: it is skipped under
    `WHARF_E2E_CLUSTER`, and runs as before otherwise."""
    return pytest.mark.skipif(cluster_size() > 0, reason=f"single server only: {reason}")


def cluster_env(request) -> dict:
    """A new bucket of the run's S3 server, a new database of its PostgreSQL server, and one master key, for all of a
    cluster's instances (each reads what the others encrypted)."""
    return (s3_env(request.getfixturevalue("s3_endpoint"), new_bucket_name())
            | postgres_env(request.getfixturevalue("postgres_url")) | {"WHARF_ENCRYPTION_KEY": encryption_key()})


def serve(request, data_dir: Path, extra_env=None, **kwargs):
    """`Server(data_dir, extra_env, ...)`, or under `WHARF_E2E_CLUSTER=N` a `cluster.Cluster` of N instances in
    `data_dir` on `cluster_env`, each with `extra_env` and the same arguments, behind nginx."""
    if not cluster_size():
        return Server(data_dir, extra_env=extra_env, **kwargs)
    from cluster import Cluster
    return Cluster(data_dir, cluster_env(request) | (extra_env or {}), cluster_size(), **kwargs)


@pytest.fixture
def new_registry(request):
    """`serve` for a test: `new_registry(data_dir, extra_env, ...)`."""
    return lambda data_dir, extra_env=None, **kwargs: serve(request, data_dir, extra_env, **kwargs)


@pytest.fixture(scope="session")
def registry(tmp_path_factory, request):
    """The session's server. With `WHARF_E2E_STORAGE=s3` its blobs live in a bucket of the run's S3 server, and with
    `WHARF_E2E_METADATA=postgres` its metadata in a database of the run's PostgreSQL server, so that the same client
    tests prove those stores. `WHARF_E2E_CLUSTER=N` makes it N instances on both behind nginx (scripts/test.sh runs
    the client tests so)."""
    env = {}
    instances = int(os.environ.get("WHARF_E2E_CLUSTER", "0"))
    if instances or os.environ.get("WHARF_E2E_STORAGE") == "s3":
        env |= s3_env(request.getfixturevalue("s3_endpoint"), new_bucket_name())
    if instances or os.environ.get("WHARF_E2E_METADATA") == "postgres":
        env |= postgres_env(request.getfixturevalue("postgres_url"))
    if instances:
        from cluster import Cluster
        # One master key for all, as each instance reads what the others encrypted.
        server = Cluster(tmp_path_factory.mktemp("cluster"), env | {"WHARF_ENCRYPTION_KEY": encryption_key()},
                         instances)
    else:
        server = Server(tmp_path_factory.mktemp("wharf") / "data", extra_env=env)
    yield server
    server.stop()


def encryption_key() -> str:
    """A new master key, as `WHARF_ENCRYPTION_KEY` takes it."""
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def work(tmp_path):
    return tmp_path


def run(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    """Runs a client command, failing the test with its output when it fails."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def add_users(config: Path, data_dir: Path, passwords, env=None) -> None:
    """`wharf users add` for each (user, password) pair, before or while the server runs (`env`: a cluster's, whose
    users are in its database)."""
    for user, password in dict(passwords).items():
        run(wharf_binary(), "users", "add", user, "--password-stdin", "--config", config, "--data-dir", data_dir,
            input=password + "\n", env=dict(os.environ, **env) if env else None)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed; run scripts/test.sh, which installs the clients")
    return path


@contextmanager
def small_tmpfs(mountpoint: Path, size: str):
    """A tmpfs of `size` mounted at `mountpoint` for the duration (root is needed for mount; CI runs as root)."""
    mountpoint.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], capture_output=True)
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (root is needed): {result.stderr.decode()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)
