"""`wharf agent` processes for the P2P tests and benchmarks: each on its own loopback ports with its own cache, and
a registries.conf that makes skopeo pull through it as a mirror of the origin."""

import base64
import json
import subprocess
import urllib.request
from pathlib import Path

from conftest import Server, WharfProcess, add_users, free_port, run, wharf_binary


PASSWORDS = {"root": "root-secret-pw-5555", "alice": "alice-secret-pw-2", "bob": "bob-secret-pw-3"}
PRIVATE_CONFIG = """
auth:
  enabled: true
  policies:
    - { repositories: ["**"], role: admin, users: [root] }
    - { repositories: ["private/**"], role: pull, users: [alice] }
"""


def private_origin(base: Path) -> Server:
    """An origin with access control on: root is an admin, alice may pull private/**, bob may pull nothing."""
    config = base / "wharf.yaml"
    config.write_text(PRIVATE_CONFIG)
    add_users(config, base / "data", PASSWORDS)
    return Server(base / "data", args=["--config", config])


def metrics(url: str) -> dict:
    """A /metrics page as {name: value} (counters and gauges without labels, summed over labels otherwise)."""
    values = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as page:
        for line in page.read().decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            name = name.split("{", 1)[0]
            values[name] = values.get(name, 0) + float(value)
    return values


class Agent(WharfProcess):
    def __init__(self, base: Path, origin_url: str, tracker=None, cache_size="20GiB", args=(), log_level="warning",
                 netns=None, host="127.0.0.1"):
        """`netns` runs the agent (and the pulls through it) in that network namespace, its peer port on `host`."""
        base.mkdir(parents=True, exist_ok=True)
        self.netns = ["ip", "netns", "exec", netns] if netns else []
        self.base = base
        self.origin_url = origin_url
        self.port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cache = base / "cache"
        self.log_path = base / "agent.log"
        self.command = [wharf_binary(), "agent", "--origin", origin_url, "--listen", f"127.0.0.1:{self.port}",
                        "--peer-listen", f"{host}:{self.peer_port}", "--cache-dir", str(self.cache),
                        "--cache-size", cache_size, "--log-level", log_level,
                        *(["--tracker", tracker] if tracker else []), *map(str, args)]
        self.start()

    def start(self):
        self.launch(self.command, append_log=True, wrapper=self.netns)

    def metrics(self) -> dict:
        return metrics(self.url)

    def registries_conf(self) -> Path:
        """The node's registries.conf: the origin, with this agent as its mirror (both plain HTTP here)."""
        origin = self.origin_url.split("://", 1)[1]
        path = self.base / "registries.conf"
        path.write_text(f"""
[[registry]]
location = "{origin}"
insecure = true

[[registry.mirror]]
location = "127.0.0.1:{self.port}"
insecure = true
""")
        return path

    def auth_file(self, creds: str) -> Path:
        """The node's auth.json: containers/image looks a mirror's credentials up by the mirror's own host (as after
        `podman login` to it), so the same user is there for the origin and for this agent."""
        token = base64.b64encode(creds.encode()).decode()
        origin = self.origin_url.split("://", 1)[1]
        path = self.base / "auth.json"
        path.write_text(json.dumps({"auths": {origin: {"auth": token}, f"127.0.0.1:{self.port}": {"auth": token}}}))
        return path

    def pull(self, reference: str, dest: Path, creds=None, check=True):
        """skopeo copy of `reference` (on the origin) into a dir: layout, through this agent as the mirror."""
        return self.pull_command(reference, dest, creds, check=check)

    def pull_args(self, reference, dest, creds=None) -> list:
        return [*self.netns, "skopeo", "--registries-conf", str(self.registries_conf()), "copy", "--retry-times", "0",
                *(["--authfile", str(self.auth_file(creds))] if creds else []), f"docker://{reference}", f"dir:{dest}"]

    def pull_command(self, reference, dest, creds=None, check=True, background=False):
        args = self.pull_args(reference, dest, creds)
        if background:
            return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return run(*args, check=check)
