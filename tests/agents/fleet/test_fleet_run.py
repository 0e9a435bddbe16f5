"""Three ``feedwatch run`` nodes, each its own process, sharing one PostgreSQL and one broker, with six RTSP cameras:
every camera held by exactly one node, a node killed with SIGKILL losing its cameras to the others, nothing it
acknowledged lost, and the node taking its share back when it returns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from agents.bench.common import free_port
from agents.bench.e2e import Feeds
from agents.fleet.store import FleetStore
from agents.memory.pg import PgMomentMemory
from tests.helpers import PERSON_CLIP, ROOT, Broker, run_cli, scaled

pytestmark = pytest.mark.slow

LEASE_S = 4.0
CAMERAS = 6
FLEET_TOKEN = "the-fleet-token"  # the nodes present it to each other's APIs, which accept it
AUTH = {"Authorization": f"Bearer {FLEET_TOKEN}"}


class Watcher:
    """Follows every camera's retained status (which node says it is live) and the alerts' end events, and checks
    at each status message that no camera is live on two nodes at once (a killed node cannot say it stopped)."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}  # camera -> the node it is live on
        self.dead: set[str] = set()
        self.double: list[str] = []
        self.ends: list[dict[str, Any]] = []
        self.opened: dict[str, str] = {}  # open alerts: id -> camera
        self.available: dict[str, str] = {}  # availability and armed topics -> their retained text
        self.discovery: dict[str, dict[str, Any]] = {}  # Home Assistant's discovery configs
        self.changed = asyncio.Event()

    def on(self, topic: str, payload: dict[str, Any]) -> None:
        if topic.endswith("/status") and "node" in payload:
            cam, node = payload["camera"], payload["node"]
            if payload["status"] == "live":
                holder = self.live.get(cam)
                if holder not in (None, node) and holder not in self.dead:
                    self.double.append(f"{cam} live on {node} while live on {holder}")
                self.live[cam] = node
            elif self.live.get(cam) == node:
                del self.live[cam]
        elif topic.endswith("/event") and payload.get("type") == "new":
            self.opened[payload["id"]] = payload["camera"]
        elif topic.endswith("/event") and payload.get("type") == "end":
            self.ends.append(payload)
            self.opened.pop(payload["id"], None)
        self.changed.set()

    def holders(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for cam, node in self.live.items():
            out.setdefault(node, []).append(cam)
        return out


def _node_config(tmp_path: Path, i: int, url: str, broker: Broker, http_port: int) -> Path:
    path = tmp_path / f"n{i}.yaml"
    http = {"enabled": True, "port": http_port}
    path.write_text(json.dumps({
        "memory": {"url": url, "path": str(tmp_path / f"n{i}")},
        "fleet": {"url": url, "node_id": f"n{i}", "lease_s": LEASE_S, "renew_s": 1.0},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port, "prefix": "fw", "discovery_prefix": "ha"},
        "http": http,
        "scorer": {"backend": "activity"},
    }))  # fmt: skip
    return path


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FEEDWATCH_FLEET_TOKEN": FLEET_TOKEN}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "run", "--config", str(config)], stdout=out, stderr=out, env=env
        )


def _page_shows_the_fleet(url: str, holders: dict[str, list[str]]) -> None:
    """n0's page, in a real browser: a tile for every camera of the fleet, the others' saying which node holds them
    and showing their newest frame (fetched through n0)."""
    from tests.agents.api.test_web_page import _browser

    driver = _browser()
    try:
        driver.get(url)  # not signed in: the API says 401, the page asks for the token
        driver.get_log("browser")  # those 401s were expected; what is logged from here on must be clean
        driver.add_cookie({"name": "feedwatch_token", "value": FLEET_TOKEN})  # what signing in with it sets
        driver.get(url)
        for node, cams in holders.items():
            for cam in cams:
                _tile_shows(driver, cam, "live" if node == "n0" else f"on {node}")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def _tile_shows(driver: Any, cam: str, status: str) -> None:
    from selenium.webdriver.common.by import By

    from tests.agents.api.test_web_page import _wait

    tile = _wait(cam, lambda: driver.find_elements(By.CSS_SELECTOR, f'.camera[data-camera="{cam}"]'))[0]
    badge = tile.find_element(By.CSS_SELECTOR, ".status")
    _wait(f"{cam}: {status}", lambda: badge.text.lower() == status)
    image = tile.find_element(By.TAG_NAME, "img")
    _wait(f"{cam}'s frame", lambda: driver.execute_script("return arguments[0].naturalWidth", image) > 0)


async def _until(watcher: Watcher, check: Any, seconds: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + scaled(seconds)
    while not check():
        left = deadline - time.monotonic()
        if left <= 0:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
            pytest.fail(f"not within {scaled(seconds):g} s: {what}; live: {watcher.live}\n{tails}")
        watcher.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher.changed.wait(), min(left, 1.0))


@pytest.mark.timeout(900)
async def test_three_nodes_share_six_cameras_and_survive_a_kill(tmp_path: Path, broker: Broker, pg_url: str) -> None:
    clips = [PERSON_CLIP]  # people come and go every few seconds: alerts open and end
    seed = tmp_path / "fleet.yaml"
    with Feeds(clips, CAMERAS, use_rtsp=True) as feeds:
        seed.write_text(json.dumps({
            "cameras": [{"id": f"cam{i}", "url": feeds.url(i), "fps": 1} for i in range(CAMERAS)],
            "queries": [{"id": "person", "text": "a person"}],
        }))  # fmt: skip
        imported = run_cli("fleet", "import", str(seed), "--url", pg_url)
        assert imported.returncode == 0, imported.stderr
        ports = [free_port() for _ in range(3)]
        http_port = ports[0]  # a query changed on n0's API must reach every node
        configs = [_node_config(tmp_path, i, pg_url, broker, ports[i]) for i in range(3)]
        logs = [tmp_path / f"n{i}.log" for i in range(3)]
        nodes = [_start(configs[i], logs[i]) for i in range(3)]
        watcher = Watcher()
        try:
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="fleet-watcher") as client:
                await client.subscribe("fw/#", qos=1)
                await client.subscribe("ha/#", qos=1)

                async def follow() -> None:
                    with contextlib.suppress(aiomqtt.MqttError):  # the client disconnects as the test ends
                        async for m in client.messages:
                            if not isinstance(m.payload, bytes):
                                continue
                            if str(m.topic).startswith("ha/"):
                                watcher.discovery[str(m.topic)] = json.loads(m.payload) if m.payload else {}
                                watcher.changed.set()
                            elif str(m.topic).endswith(("/available", "/armed")):
                                watcher.available[str(m.topic)] = m.payload.decode()
                                watcher.changed.set()
                            elif m.payload.startswith(b"{"):
                                watcher.on(str(m.topic), json.loads(m.payload))

                follower = asyncio.create_task(follow())

                def balanced() -> bool:
                    held = watcher.holders()
                    return len(watcher.live) == CAMERAS and sorted(len(c) for c in held.values()) == [2, 2, 2]

                await _until(watcher, balanced, 90, "six cameras live, two on each node", logs)
                with FleetStore(pg_url) as fleet:
                    owners = {le.camera: le.owner for le in fleet.leases()}
                assert owners == watcher.live  # the leases and the cameras' status agree
                status = json.loads(run_cli("fleet", "status", "--url", pg_url, "--json").stdout)
                assert [(n["id"], n["alive"], len(n["cameras"])) for n in status["nodes"]] == [
                    ("n0", True, 2), ("n1", True, 2), ("n2", True, 2)
                ]  # fmt: skip
                assert all(n["lag_s"] is not None for n in status["nodes"])
                assert {watcher.available.get(f"fw/node/n{i}/available") for i in range(3)} == {"online"}

                # A question on n0 about a camera n1 holds cites that camera's recent frames, fetched from n1.
                (remote,) = watcher.holders()["n1"][:1]
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", headers=AUTH,
                                             timeout=scaled(60)) as api:  # fmt: skip
                    said = await api.post("/api/ask", json={"question": f"what is on the {remote} camera?"})
                    # The page of any node: the fleet's nodes, and the newest frame of a camera another node holds.
                    fleet_view = (await api.get("/api/fleet")).json()
                    snap = await api.get(f"/api/cameras/{remote}/snapshot.jpg")
                    passed_on = await api.get(f"/api/cameras/{remote}/snapshot.jpg", headers={"X-Feedwatch-Node": "n2"})
                assert fleet_view["node"] == "n0"
                assert {n["id"]: sorted(n["cameras"]) for n in fleet_view["nodes"]} == {
                    n: sorted(c) for n, c in watcher.holders().items()
                }
                assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8", snap.text[:200]
                assert passed_on.status_code == 404  # asked by a node: answered from n0's own cameras only
                await asyncio.to_thread(_page_shows_the_fleet, f"http://127.0.0.1:{http_port}/", watcher.holders())
                assert said.status_code == 200, said.text
                assert said.json()["filters"]["camera"] == remote and said.json()["candidates"]["elsewhere"] > 0
                cited = said.json()["citations"]  # and its moments in the shared memory
                assert {c["camera"] for c in cited} == {remote} and "buffer" in {c["source"] for c in cited}

                # Alerts open; disarming the query through the fleet's database (one import, NOTIFY to every
                # node) ends them all, each end acknowledged by its node; then it is armed again.
                await _until(watcher, lambda: len(set(watcher.opened.values())) >= 3, 120, "alerts on 3 cameras", logs)
                opened = dict(watcher.opened)
                seed.write_text(seed.read_text().replace('"text": "a person"', '"text": "a person", "armed": false'))
                assert run_cli("fleet", "import", str(seed), "--url", pg_url).returncode == 0
                await _until(watcher, lambda: not set(opened) & set(watcher.opened), 30, "disarming ended them", logs)
                seed.write_text(seed.read_text().replace(', "armed": false', ""))
                assert run_cli("fleet", "import", str(seed), "--url", pg_url).returncode == 0
                armed = [f"fw/cam{i}/query/person/armed" for i in range(CAMERAS)]

                def everywhere(state: str) -> bool:
                    return all(watcher.available.get(t) == state for t in armed)

                await _until(watcher, lambda: everywhere("ON"), 30, "armed", logs)

                # Disarmed on one node's HTTP API: n0 writes it to the fleet, and every node's cameras stop.
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", headers=AUTH) as api:
                    changed = await api.patch("/api/queries/person", json={"armed": False})
                assert changed.status_code == 200, changed.text
                await _until(watcher, lambda: everywhere("OFF"), 30, "every camera's query disarmed", logs)
                with FleetStore(pg_url) as fleet:
                    (query,) = fleet.queries()
                assert query.armed is False and query.cameras == []  # the fleet's query, not n0's view of it
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", headers=AUTH) as api:
                    assert (await api.patch("/api/queries/person", json={"armed": True})).status_code == 200
                await _until(
                    watcher, lambda: all(watcher.available.get(t) == "ON" for t in armed), 30, "re-armed", logs
                )
                ended = {e["camera"] for e in watcher.ends}
                victim = max(range(3), key=lambda i: len(ended & set(watcher.holders().get(f"n{i}", []))))
                acknowledged = [e["id"] for e in watcher.ends]
                lost = watcher.holders()[f"n{victim}"]
                nodes[victim].send_signal(signal.SIGKILL)
                nodes[victim].wait(timeout=10)
                killed_at = time.monotonic()
                watcher.dead.add(f"n{victim}")
                # Asked at once, while the dead node's leases still stand: its frames are missing, nothing else is.
                survivor = next(i for i in range(3) if i != victim)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[survivor]}", headers=AUTH,
                                             timeout=scaled(60)) as api:  # fmt: skip
                    said = await api.post("/api/ask", json={"question": "what is happening?", "limit": 20})
                assert said.status_code == 200, said.text
                assert said.json()["candidates"]["elsewhere"] > 0  # from the third node, alive

                def taken_over() -> bool:
                    return all(watcher.live.get(c) not in (None, f"n{victim}") for c in lost)

                await _until(watcher, taken_over, LEASE_S + 30, f"{lost} live on the other nodes", logs)
                # Its last will: the broker says the killed node is offline (its availability topic, its alone).
                gone = f"fw/node/n{victim}/available"
                await _until(watcher, lambda: watcher.available.get(gone) == "offline", 60, f"{gone} offline", logs)
                failover_s = time.monotonic() - killed_at

                # Home Assistant: each lost camera's entities now follow the availability of the node that took it.
                def rediscovered() -> bool:
                    return all(
                        watcher.discovery.get(f"ha/binary_sensor/feedwatch_fw_{c}_status/config", {}).get(
                            "availability_topic") == f"fw/node/{watcher.live.get(c)}/available" for c in lost
                    )  # fmt: skip

                await _until(watcher, rediscovered, 30, "the lost cameras' entities on their new nodes", logs)
                node_sensor = watcher.discovery.get(f"ha/binary_sensor/feedwatch_fw_n{victim}_node/config", {})
                assert node_sensor.get("state_topic") == gone
                print(f"failover: {lost} live elsewhere {failover_s:.1f} s after SIGKILL (lease {LEASE_S:g} s)")
                with PgMomentMemory(pg_url, tmp_path / "reader", read_only=True) as memory:
                    missing = [a for a in acknowledged if memory.get(a) is None]
                assert not missing, f"acknowledged alerts missing from the memory: {missing}"

                # ask on a node cites moments of cameras other nodes hold.
                asked = run_cli("ask", "when was a person here?", "--config", str(configs[survivor]), "--local",
                                "--json", "--limit", "20")  # fmt: skip
                assert asked.returncode == 0, asked.stderr
                cited = {c["camera"] for c in json.loads(asked.stdout)["citations"]}
                assert cited - set(watcher.holders().get(f"n{survivor}", [])), cited

                # The killed node comes back and gets its share as the others let go of theirs.
                watcher.dead.discard(f"n{victim}")
                nodes[victim] = _start(configs[victim], logs[victim])
                await _until(watcher, balanced, 60, "two cameras on each node again", logs)
                assert not watcher.double, watcher.double
                follower.cancel()
        finally:
            for proc in nodes:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in nodes:
                try:
                    proc.wait(timeout=scaled(30))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
