"""`wharf agent` (issue 16) with real skopeo pulls through each agent as a registry mirror, on loopback ports: many
agents pulling one image at once take most bytes from each other, and the origin serves the image about once; a
serving agent killed mid-transfer, an agent serving corrupt pieces, a tracker that is down, a small cache, and a
restart leave every pull correct; preheating puts an image on the seeders before its first pull."""

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
import requests

from agents import Agent, metrics
from conftest import Server, free_port, run, wharf_binary
from images import Layout, push_layout_blobs_and_manifests

MiB = 1 << 20
IMAGES = {"big": 256 * MiB, "mid": 96 * MiB, "c1": 24 * MiB, "c2": 24 * MiB}


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    base = tmp_path_factory.mktemp("p2p-agents")
    config = base / "wharf.yaml"
    config.write_text('p2p: { preheat: ["hot/**"] }\n')
    server = Server(base / "data", args=["--config", config])
    layout = Layout(base / "layout")
    sizes = {}
    for name, size in IMAGES.items():
        top = layout.image({"name.txt": name.encode()}, big_layer=size, tag=name, marker=name)
        push_layout_blobs_and_manifests(server.url, f"team/{name}", layout, "v1", top)
        sizes[name] = image_size(layout, name)
    server.layout, server.sizes, server.base = layout, sizes, base
    yield server
    server.stop()


def image_size(layout: Layout, tag: str) -> int:
    index = json.loads((layout.path / "index.json").read_text())
    desc = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((layout.path / "blobs" / "sha256" / desc["digest"][7:]).read_bytes())
    return sum(blob["size"] for blob in [manifest["config"], *manifest["layers"]])


def big_layer(layout: Layout, tag: str) -> dict:
    index = json.loads((layout.path / "index.json").read_text())
    desc = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    return json.loads((layout.path / "blobs" / "sha256" / desc["digest"][7:]).read_bytes())["layers"][-1]


def assert_pulled(dest: Path, layer: dict):
    """skopeo checked every digest as it copied; the big layer is checked here once more, byte for byte."""
    h = hashlib.sha256()
    with open(dest / layer["digest"][7:], "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    assert "sha256:" + h.hexdigest() == layer["digest"]


def origin_sent(server) -> float:
    return metrics(server.url)["wharf_http_sent_bytes_total"]


def pull_all(agents, origin, name, base: Path):
    procs = [a.pull_command(f"{origin.host}/team/{name}:v1", base / f"out-{name}-{i}", background=True)
             for i, a in enumerate(agents)]
    outputs = [p.communicate()[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
    return [base / f"out-{name}-{i}" for i in range(len(agents))]


def agents_at(origin, tmp_path, count, **kwargs):
    return [Agent(tmp_path / f"agent-{i}", origin.url, **kwargs) for i in range(count)]


def test_eight_agents_pull_one_image_mostly_from_each_other(origin, tmp_path):
    agents = agents_at(origin, tmp_path, 8)
    try:
        before = origin_sent(origin)
        outs = pull_all(agents, origin, "big", tmp_path)
        egress = origin_sent(origin) - before
        for out in outs:
            assert_pulled(out, big_layer(origin.layout, "big"))
        size = origin.sizes["big"]
        assert egress <= 1.25 * size, f"the origin sent {egress / size:.2f}× the image"
        stats = [a.metrics() for a in agents]
        assert sum(s["wharf_agent_served_client_bytes_total"] for s in stats) >= 8 * big_layer(origin.layout, "big")["size"]
        from_peers = sum(s["wharf_agent_peer_bytes_total"] for s in stats)
        from_origin = sum(s["wharf_agent_origin_bytes_total"] for s in stats)
        assert from_peers > 5 * from_origin, (from_peers, from_origin)
        assert sum(s["wharf_agent_served_peer_bytes_total"] for s in stats) == from_peers
        assert metrics(origin.url)["wharf_p2p_origin_bytes_to_agents_total"] >= from_origin
        # The console's P2P page: the big layer's swarm, with the agents' own account of where the bytes came from.
        page = requests.get(f"{origin.url}/ui/p2p").text
        swarm = re.search(r"<code title=\"{}\">.*?</tr>".format(big_layer(origin.layout, "big")["digest"]), page, re.S)
        assert swarm, page
        peers, complete = (int(n) for n in re.findall(r"<td>(\d+)</td>", swarm.group(0))[1:3])
        assert peers == 8 and complete >= 1
        share = int(re.search(r"\((\d+) % from peers\)", page).group(1))
        assert share > 70, page
    finally:
        for a in agents:
            a.stop()


def test_without_agents_the_origin_serves_every_pull(origin, tmp_path):
    """The contrast: eight direct pulls of the same image cost the origin eight images."""
    before = origin_sent(origin)
    procs = [subprocess_pull(origin, "big", tmp_path / f"direct-{i}") for i in range(8)]
    for p in procs:
        out = p.communicate()[0]
        assert p.returncode == 0, out
    egress = origin_sent(origin) - before
    assert egress >= 7.5 * origin.sizes["big"], egress / origin.sizes["big"]


def subprocess_pull(origin, name, dest):
    import subprocess

    return subprocess.Popen(["skopeo", "copy", "--src-tls-verify=false", f"docker://{origin.host}/team/{name}:v1",
                             f"dir:{dest}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_swarm_whose_agents_all_vanished_is_seeded_afresh(origin, tmp_path):
    """The first wave's agents are killed; the tracker still lists them (for its peer timeout) as holding the whole
    blob. The next wave reports them unreachable and is granted the pieces within the origin budget again, instead of
    each agent fetching the whole blob from the origin."""
    top = origin.layout.image({"name.txt": b"waves"}, big_layer=32 * MiB, tag="waves", marker="waves")
    push_layout_blobs_and_manifests(origin.url, "team/waves", origin.layout, "v1", top)
    size = image_size(origin.layout, "waves")
    first = agents_at(origin, tmp_path / "first", 2)
    pull_all(first, origin, "waves", tmp_path / "first")
    for a in first:
        a.kill()
    second = agents_at(origin, tmp_path / "second", 4)
    try:
        before = origin_sent(origin)
        for out in pull_all(second, origin, "waves", tmp_path / "second"):
            assert_pulled(out, big_layer(origin.layout, "waves"))
        egress = origin_sent(origin) - before
        assert egress <= 1.25 * size, f"the origin sent {egress / size:.2f}× the image"
    finally:
        for a in second:
            a.stop()


def test_a_serving_agent_killed_mid_transfer_leaves_the_others_to_finish(origin, tmp_path):
    seed = Agent(tmp_path / "seed", origin.url)
    others = [Agent(tmp_path / f"agent-{i}", origin.url, args=["--pieces-in-flight", "2"]) for i in range(3)]
    try:
        seed.pull(f"{origin.host}/team/big:v1", tmp_path / "seed-out")
        size = big_layer(origin.layout, "big")["size"]
        procs = [a.pull_command(f"{origin.host}/team/big:v1", tmp_path / f"out-{i}", background=True)
                 for i, a in enumerate(others)]
        deadline = time.time() + 60
        while seed.metrics()["wharf_agent_served_peer_bytes_total"] == 0:
            assert time.time() < deadline, "no agent fetched from the seed"
            time.sleep(0.02)
        seed.kill()
        fetched = [a.metrics() for a in others]
        assert any(m["wharf_agent_peer_bytes_total"] + m["wharf_agent_origin_bytes_total"] < size for m in fetched), \
            "every pull had finished before the seed was killed: nothing was tested"
        for i, p in enumerate(procs):
            out = p.communicate()[0]
            assert p.returncode == 0, out
            assert_pulled(tmp_path / f"out-{i}", big_layer(origin.layout, "big"))
    finally:
        for a in others:
            a.stop()


def test_an_agent_serving_corrupt_pieces_is_caught_and_avoided(origin, tmp_path):
    liar = Agent(tmp_path / "liar", origin.url, args=["--test-corrupt-served-pieces"])
    honest = agents_at(origin, tmp_path, 2)
    try:
        liar.pull(f"{origin.host}/team/mid:v1", tmp_path / "liar-out")
        outs = pull_all(honest, origin, "mid", tmp_path)
        for out in outs:
            assert_pulled(out, big_layer(origin.layout, "mid"))
        caught = sum(a.metrics()["wharf_agent_bad_pieces_total"] for a in honest)
        assert caught >= 1, "no agent ever asked the liar: nothing was tested"
        # Reported: each agent met the liar at most a few times (pieces in flight), not once per piece.
        assert caught <= 2 * 8
        assert liar.metrics()["wharf_agent_served_peer_bytes_total"] > 0
    finally:
        for a in [liar, *honest]:
            a.stop()


def test_with_the_tracker_down_pulls_come_from_the_origin(origin, tmp_path):
    agent = Agent(tmp_path / "alone", origin.url, tracker=f"http://127.0.0.1:{free_port()}")
    try:
        agent.pull(f"{origin.host}/team/c1:v1", tmp_path / "out")
        assert_pulled(tmp_path / "out", big_layer(origin.layout, "c1"))
        stats = agent.metrics()
        assert stats["wharf_agent_tracker_failures_total"] >= 1
        assert stats["wharf_agent_origin_bytes_total"] >= big_layer(origin.layout, "c1")["size"]
    finally:
        agent.stop()


def test_a_cache_smaller_than_two_images_evicts_the_older(origin, tmp_path):
    limit = 40 * MiB
    agent = Agent(tmp_path / "small", origin.url, cache_size="40MiB")
    try:
        c1, c2 = (big_layer(origin.layout, name)["digest"] for name in ("c1", "c2"))
        agent.pull(f"{origin.host}/team/c1:v1", tmp_path / "c1")
        assert (agent.cache / c1.replace(":", "-")).exists()
        agent.pull(f"{origin.host}/team/c2:v1", tmp_path / "c2")
        stats = agent.metrics()
        assert stats["wharf_agent_cache_evictions_total"] == 1
        assert stats["wharf_agent_cache_bytes"] <= limit
        assert not (agent.cache / c1.replace(":", "-")).exists()
        assert (agent.cache / c2.replace(":", "-")).exists()
        agent.pull(f"{origin.host}/team/c1:v1", tmp_path / "c1-again")
        assert_pulled(tmp_path / "c1-again", big_layer(origin.layout, "c1"))
        assert agent.metrics()["wharf_agent_cache_bytes"] <= limit
    finally:
        agent.stop()


def test_a_restarted_agent_keeps_its_cache_and_checks_it_again(origin, tmp_path):
    agent = Agent(tmp_path / "restart", origin.url)
    layer = big_layer(origin.layout, "c2")
    cached = agent.cache / layer["digest"].replace(":", "-")
    try:
        agent.pull(f"{origin.host}/team/c2:v1", tmp_path / "first")
        agent.kill()
        agent.start()
        agent.pull(f"{origin.host}/team/c2:v1", tmp_path / "second")
        stats = agent.metrics()
        # Only the small blobs (under one piece) pass straight through.
        assert stats["wharf_agent_cache_hits_total"] == 1 and stats["wharf_agent_origin_bytes_total"] < MiB
        agent.kill()
        with open(cached, "r+b") as f:  # a byte flipped on disk while the agent was down
            f.seek(layer["size"] // 2)
            byte = f.read(1)
            f.seek(layer["size"] // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        agent.start()
        agent.pull(f"{origin.host}/team/c2:v1", tmp_path / "third")
        assert_pulled(tmp_path / "third", layer)
        stats = agent.metrics()
        assert stats["wharf_agent_cache_hits_total"] == 0 and stats["wharf_agent_cache_misses_total"] == 1
        assert stats["wharf_agent_origin_bytes_total"] >= layer["size"]
    finally:
        agent.stop()


def test_containerd_ns_names_the_registry_the_agent_fronts(origin, tmp_path):
    agent = Agent(tmp_path / "ns", origin.url)
    try:
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        url = f"{agent.url}/v2/team/c1/manifests/v1"
        other = requests.get(url, params={"ns": "docker.io"}, headers=accept, timeout=10)
        assert other.status_code == 404 and other.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        mine = requests.get(url, params={"ns": origin.host}, headers=accept, timeout=10)
        assert mine.status_code == 200 and mine.headers["Docker-Content-Digest"].startswith("sha256:")
        # Pull-only: a push through the mirror is refused, not sent on.
        assert requests.post(f"{agent.url}/v2/team/c1/blobs/uploads/", timeout=10).status_code == 405
    finally:
        agent.stop()


def test_the_peer_port_serves_no_piece_without_a_token(origin, tmp_path):
    """Access control off: tokens are still issued (anonymously) and checked."""
    agent = Agent(tmp_path / "anon", origin.url)
    try:
        agent.pull(f"{origin.host}/team/c1:v1", tmp_path / "out")
        digest = big_layer(origin.layout, "c1")["digest"]
        url = f"http://127.0.0.1:{agent.peer_port}/p2p/v1/blobs/{digest}/pieces/0"
        assert requests.get(url, timeout=10).status_code == 401
        grant = requests.get(f"{origin.url}/p2p/v1/pieces", params={"repository": "team/c1", "digest": digest},
                             timeout=10).json()
        piece = requests.get(url, headers={"Authorization": f"Bearer {grant['token']}"}, timeout=10)
        assert piece.status_code == 200
        assert hashlib.sha256(piece.content).hexdigest() == grant["list"]["list"]["pieces"][0]
        assert agent.metrics()["wharf_agent_refused_requests_total"] == 1
    finally:
        agent.stop()


def wait_for_cache(agent, size, timeout=60):
    deadline = time.time() + timeout
    while agent.metrics()["wharf_agent_cache_bytes"] < size:
        assert time.time() < deadline, "the seeder did not fetch the preheated image"
        time.sleep(0.1)


def test_preheat_puts_an_image_on_the_seeders_before_its_first_pull(origin, tmp_path):
    seeder = Agent(tmp_path / "seeder", origin.url, args=["--seeder"])
    nodes = agents_at(origin, tmp_path, 2)
    try:
        # On push: the rule names hot/**.
        top = origin.layout.image({"name.txt": b"hot"}, big_layer=16 * MiB, tag="hot", marker="hot")
        push_layout_blobs_and_manifests(origin.url, "hot/app", origin.layout, "v1", top)
        layer = big_layer(origin.layout, "hot")
        wait_for_cache(seeder, layer["size"])
        nodes[0].pull(f"{origin.host}/hot/app:v1", tmp_path / "hot")
        assert_pulled(tmp_path / "hot", layer)
        stats = nodes[0].metrics()
        assert stats["wharf_agent_peer_bytes_total"] >= layer["size"] and stats["wharf_agent_origin_bytes_total"] < MiB
        # Asked for: `wharf p2p preheat` on an image no rule names.
        cached = seeder.metrics()["wharf_agent_cache_bytes"]
        asked = run(wharf_binary(), "p2p", "preheat", "team/mid:v1", "--url", origin.url)
        assert "preheat #" in asked.stdout and "3 blobs" in asked.stdout
        wait_for_cache(seeder, cached + big_layer(origin.layout, "mid")["size"])
        nodes[1].pull(f"{origin.host}/team/mid:v1", tmp_path / "mid")
        assert nodes[1].metrics()["wharf_agent_origin_bytes_total"] < MiB
        unknown = requests.post(f"{origin.url}/api/v1/p2p/preheat", json={"repository": "team/mid", "reference": "nope"},
                                timeout=10)
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    finally:
        for a in [seeder, *nodes]:
            a.stop()
