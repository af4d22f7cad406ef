"""Hosts with links of their own, for what one loopback cannot show: each host is a network namespace on one bridge,
its link shaped to a rate in both directions (tc tbf), as machines on one switch are. Needs root (ip, tc). The
processes still share this machine's CPU.

    with Fleet(hosts=17, mbit=400) as fleet:
        fleet.address(0)   # "10.88.0.1"
        fleet.netns(0)     # the namespace's name, for `ip netns exec`
"""

import os
import subprocess


def sh(*args):
    subprocess.run([str(a) for a in args], check=True, capture_output=True)


class Fleet:
    def __init__(self, hosts: int, mbit: int):
        self.tag = f"wf{os.getpid() % 100000}"
        self.hosts = hosts
        self.mbit = mbit
        self.made = []  # undone in reverse on close

    def __enter__(self):
        return self.open()

    def open(self):
        """Makes the bridge and the hosts; undone by `close` (or on the way out of a `with`)."""
        try:
            bridge = f"{self.tag}br"
            sh("ip", "link", "add", bridge, "type", "bridge")
            self.made.append(("ip", "link", "del", bridge))
            sh("ip", "addr", "add", "10.88.255.254/16", "dev", bridge)
            sh("ip", "link", "set", bridge, "up")
            for i in range(self.hosts):
                ns, outside = self.netns(i), f"{self.tag}v{i}"
                sh("ip", "netns", "add", ns)
                self.made.append(("ip", "netns", "del", ns))
                sh("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns)
                sh("ip", "link", "set", outside, "master", bridge, "up")
                inside = ["ip", "netns", "exec", ns]
                sh(*inside, "ip", "addr", "add", f"{self.address(i)}/16", "dev", "eth0")
                sh(*inside, "ip", "link", "set", "eth0", "up")
                sh(*inside, "ip", "link", "set", "lo", "up")
                # Shaped where packets leave: the host's uploads inside, its downloads on the bridge's side.
                for device in ([*inside, "tc"], "eth0"), (["tc"], outside):
                    sh(*device[0], "qdisc", "add", "dev", device[1], "root", "tbf", "rate", f"{self.mbit}mbit",
                       "burst", "512kb", "latency", "100ms")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        while self.made:
            subprocess.run(self.made.pop(), capture_output=True)

    def netns(self, i: int) -> str:
        return f"{self.tag}-{i}"

    def address(self, i: int) -> str:
        return f"10.88.{i // 250}.{i % 250 + 1}"
