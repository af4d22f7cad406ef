"""A cluster: `wharf serve` instances sharing an S3 bucket (Ceph RGW) and a PostgreSQL database, behind nginx (round
robin, so consecutive requests of one upload land on different instances)."""

import os
import subprocess
import time
import urllib.request

from conftest import Server, free_port, require

NGINX = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream wharf {{
        {servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {{
            proxy_pass http://wharf;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            # An instance that refuses the connection never saw the request: the next one takes it.
            proxy_next_upstream error timeout non_idempotent;
        }}
    }}
}}
"""


class Cluster:
    """`count` instances in `root`, each started with `env`, behind nginx at `url`; `host` and `port` are nginx's,
    so a test written for one server runs unchanged against the cluster."""

    def __init__(self, root, env, count=3, **server_args):
        """`server_args` go to each instance's `Server` (`args`, `log_level`)."""
        self.env = env
        self.server_args = server_args
        root.mkdir(parents=True, exist_ok=True)
        self.instances = []
        try:
            for n in range(count):
                self.instances.append(Server(root / f"node{n}", extra_env=env, **server_args))
        except Exception:
            for instance in self.instances:
                instance.stop()
            raise
        self.process = AnyInstance(self.instances)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        (root / "lb").mkdir()
        conf = root / "lb" / "nginx.conf"
        conf.write_text(NGINX.format(
            user="user root;" if os.geteuid() == 0 else "", dir=root / "lb", port=self.port,
            servers="\n        ".join(f"server {i.host} max_fails=1 fail_timeout=60s;" for i in self.instances)))
        self.nginx = subprocess.Popen([require("nginx"), "-p", root / "lb", "-c", conf, "-g", "daemon off;"])
        for _ in range(100):
            try:  # a probe, which the audit log does not record (GET /v2/ would be a ping in it)
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not come up")

    def revive(self):
        """Starts again, on its data and port, every instance that has exited."""
        for n, instance in enumerate(self.instances):
            if instance.process.poll() is not None:
                instance.log.close()
                instance.log_path.rename(instance.log_path.with_suffix(f".exited-{time.monotonic_ns()}.log"))
                self.instances[n] = Server(instance.data_dir, extra_env=self.env, port=instance.port,
                                           **self.server_args)

    def log(self) -> str:
        """The instances' logs, one after the other."""
        return "\n".join(f"--- {i.log_path}\n{i.log_path.read_text(errors='replace')}" for i in self.instances)

    def stop(self):
        if hasattr(self, "nginx"):
            self.nginx.terminate()
            self.nginx.wait()
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.stop()


class AnyInstance:
    """The instances' processes seen as one, as tests written for one server look at `server.process`: it has exited
    when any instance has."""

    def __init__(self, instances):
        self.instances = instances

    def poll(self):
        return next((code for code in (i.process.poll() for i in self.instances) if code is not None), None)

    @property
    def returncode(self):
        return self.poll()

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("wharf serve (a cluster instance)", timeout)
            time.sleep(0.1)
        return self.poll()
