"""End-to-end fixtures: a live `wharf serve` on a free loopback port, and scratch directories."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wharf_binary() -> str:
    return os.environ.get("WHARF_BIN", str(ROOT / ".build" / "debug" / "wharf"))


class Server:
    """A `wharf serve` process with its own data directory."""

    def __init__(self, data_dir: Path, extra_env=None, log_level="warning", args=(), netns=None, port=None, niceness=0):
        """`args` go to `wharf serve` after the defaults; `netns` runs it (and its health probe) in that network
        namespace; `port` (default: a free one) lets a restart come back where it was; `niceness` lowers its CPU
        priority (a benchmark's stand-in for another machine)."""
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.data_dir = data_dir
        binary = wharf_binary()
        env = dict(os.environ, **(extra_env or {}))
        self.log_path = data_dir.parent / f"wharf-{self.port}.log"
        self.log = open(self.log_path, "wb")
        wrapper = ["ip", "netns", "exec", netns] if netns else []
        self.process = subprocess.Popen(
            [*wrapper, *(["nice", "-n", str(niceness)] if niceness else []), binary, "serve", "--listen", self.host, "--data-dir", str(data_dir), "--log-level", log_level,
             *map(str, args)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.healthy(wrapper):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"wharf exited with {self.process.returncode}: {self.log_path.read_text()}")
            time.sleep(0.1)
        raise RuntimeError("wharf did not become healthy")

    def healthy(self, wrapper) -> bool:
        if wrapper:
            probe = f"import urllib.request; urllib.request.urlopen('{self.url}/healthz', timeout=1)"
            return subprocess.run([*wrapper, "python3", "-c", probe], capture_output=True).returncode == 0
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


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("wharf") / "data")
    yield server
    server.stop()


@pytest.fixture
def work(tmp_path):
    return tmp_path


def run(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    """Runs a client command, failing the test with its output when it fails."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


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
