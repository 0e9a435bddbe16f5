"""Camera leases on a real PostgreSQL: every camera held by exactly one node, a dead node's cameras taken over once
its leases expire, a returning node getting its share back as the others let go, and racing claims never
taking a camera twice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.config.models import CameraConfig, QueryConfig
from agents.fleet.store import FleetStore
from tests.helpers import run_cli, scaled

CAMERAS = [CameraConfig(id=f"cam{i}", url=f"rtsp://127.0.0.1:9/{i}") for i in range(6)]
QUERIES = [QueryConfig(id="door", text="a person opens the front door")]


@pytest.fixture
def fleet(pg_url: str) -> Iterator[Callable[[], FleetStore]]:
    """Opens stores on one fleet database (one per node, as separate processes would)."""
    opened: list[FleetStore] = []

    def open_one() -> FleetStore:
        store = FleetStore(pg_url)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + scaled(seconds)
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {scaled(seconds):g} s: {what}")
        time.sleep(0.05)


def _disjoint(held: dict[str, list[str]]) -> bool:
    cams = [c for cs in held.values() for c in cs]
    return len(cams) == len(set(cams))


def test_import_says_what_changed_and_the_fleet_reads_it_back(fleet: Callable[[], FleetStore]) -> None:
    store = fleet()
    first = store.import_config(CAMERAS, QUERIES)
    assert first["cameras_added"] == [c.id for c in CAMERAS] and first["queries_added"] == ["door"]
    moved = CAMERAS[0].model_copy(update={"url": "rtsp://127.0.0.1:9/moved"})
    again = store.import_config([moved, *CAMERAS[1:5]], QUERIES)
    assert again["cameras_changed"] == ["cam0"] and again["cameras_removed"] == ["cam5"]
    assert not again["cameras_added"] and not again["queries_changed"]
    assert [c.id for c in store.cameras()] == ["cam0", "cam1", "cam2", "cam3", "cam4"]
    assert store.cameras(["cam0"])[0].url == "rtsp://127.0.0.1:9/moved"
    assert store.queries() == QUERIES
    assert [lease.camera for lease in store.leases()] == ["cam0", "cam1", "cam2", "cam3", "cam4"]


def test_three_nodes_share_the_cameras_and_a_dead_nodes_cameras_move(fleet: Callable[[], FleetStore]) -> None:
    lease_s = 1.0
    nodes = {name: fleet() for name in ("a", "b", "c")}
    nodes["a"].import_config(CAMERAS, QUERIES)
    held: dict[str, list[str]] = {}

    def beat(name: str) -> None:
        """One heartbeat of a node, which gives back the camera it is asked to, as a running node does."""
        held[name], surplus = nodes[name].heartbeat(name, lease_s=lease_s, max_cameras=64)
        assert _disjoint(held), held  # at no moment is a camera held twice
        if surplus is not None:
            assert surplus in held[name]
            held[name].remove(surplus)
            nodes[name].give_back(name, surplus)

    for name in nodes:  # a comes first and takes every camera; b and c join
        beat(name)
    assert held["a"] == [c.id for c in CAMERAS]

    def balanced() -> bool:
        for name in nodes:
            beat(name)
        return sorted(len(cs) for cs in held.values()) == [2, 2, 2]

    _until(balanced, 10, "each of three nodes holding two of six cameras")  # a gives one back per heartbeat
    assert sorted(c for cs in held.values() for c in cs) == sorted(c.id for c in CAMERAS)

    lost = set(held.pop("b"))  # b dies: it stops renewing
    survivors = {n: nodes[n] for n in ("a", "c")}
    started = time.monotonic()

    def taken_over() -> bool:
        for name in survivors:
            beat(name)
        return sorted(len(cs) for cs in held.values()) == [3, 3]

    _until(taken_over, 10, "a and c holding b's cameras")
    assert time.monotonic() - started >= lease_s * 0.9  # not before b's leases expired
    assert lost <= {c for n in survivors for c in held[n]}
    status = {s.id: s for s in nodes["a"].status(lease_s)}
    assert not status["b"].alive and status["b"].cameras == []
    assert status["a"].alive and len(status["a"].cameras) == 3

    # b comes back: it gets its share as a and c give cameras back, one per heartbeat each.
    held["b"] = []
    _until(balanced, 10, "b back to two cameras")


def test_racing_claims_never_take_a_camera_twice(fleet: Callable[[], FleetStore]) -> None:
    stores = [fleet() for _ in range(4)]
    stores[0].import_config(CAMERAS, QUERIES)
    claims: dict[str, list[str]] = {}
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def claim(i: int) -> None:
        start.wait()
        got, _ = stores[i].heartbeat(f"n{i}", lease_s=30, max_cameras=6)
        with lock:
            claims[f"n{i}"] = got

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(claim, range(len(stores))))
    assert _disjoint(claims), claims
    owners = {lease.camera: lease.owner for lease in stores[0].leases()}
    for node, cams in claims.items():
        assert all(owners[c] == node for c in cams)


def test_a_clean_shutdown_hands_the_cameras_over_at_once(fleet: Callable[[], FleetStore]) -> None:
    a, b = fleet(), fleet()
    a.import_config(CAMERAS[:2], QUERIES)
    assert a.heartbeat("a", lease_s=60, max_cameras=1) == (["cam0"], None)
    assert b.heartbeat("b", lease_s=60, max_cameras=1) == (["cam1"], None)
    a.release("a")
    assert b.heartbeat("b", lease_s=60, max_cameras=2) == (["cam0", "cam1"], None)  # no wait for a 60 s lease
    assert [s.id for s in b.status(60)] == ["b"]


def test_a_query_change_is_announced_to_listeners(fleet: Callable[[], FleetStore], pg_url: str) -> None:
    import psycopg

    store = fleet()
    store.import_config(CAMERAS[:1], [])
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute("LISTEN feedwatch_fleet")
        store.set_query(QUERIES[0])
        assert store.delete_query("door") and not store.delete_query("door")
        notes = [n.payload for n in listener.notifies(timeout=scaled(5), stop_after=2)]
    assert notes == ['{"changed": "query", "id": "door"}'] * 2


def test_fleet_import_and_status_from_the_command_line(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"memory: {{url: '{pg_url}'}}\nfleet: {{lease_s: 30, renew_s: 5}}\n"
        "cameras: [{id: porch, url: 'rtsp://127.0.0.1:9/porch'}, {id: yard, url: 'rtsp://127.0.0.1:9/yard'}]\n"
        "queries: [{id: door, text: a person opens the front door}]\n"
    )
    imported = run_cli("fleet", "import", str(config), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["cameras_added"] == ["porch", "yard"]
    assert run_cli("fleet", "import", str(config)).stdout.strip() == "nothing changed"
    with FleetStore(pg_url) as store:
        beat = store.heartbeat("node-1", lease_s=30, max_cameras=1, api="http://10.0.0.5:8080", lag_s=0.4)
        assert beat == (["porch"], None)
    shown = run_cli("fleet", "status", "--config", str(config), "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["nodes"][0] | {"seen_s_ago": 0} == {
        "id": "node-1", "api": "http://10.0.0.5:8080", "seen_s_ago": 0, "alive": True, "lag_s": 0.4,
        "cameras": ["porch"],
    }  # fmt: skip
    leases = {le["camera"]: le for le in status["leases"]}
    assert leases["porch"]["owner"] == "node-1" and 28 < leases["porch"]["expires_in_s"] <= 30
    assert leases["yard"]["owner"] is None
    table = run_cli("fleet", "status", "--url", pg_url).stdout
    assert "node-1" in table and "(free)" in table
    nowhere = run_cli("fleet", "status")
    assert nowhere.returncode == 1 and "no fleet database: set fleet.url" in nowhere.stderr
