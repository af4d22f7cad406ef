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

    def __init__(self, root, env, count=3):
        self.env = env
        self.instances = [Server(root / f"node{n}", extra_env=env) for n in range(count)]
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
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not come up")

    def stop(self):
        self.nginx.terminate()
        self.nginx.wait()
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.stop()
