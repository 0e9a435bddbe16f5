"""The memory is a dependency too: its disk fills up, its database goes away. ``feedwatch run`` (its own process)
keeps sending alerts over a real broker, says the memory is degraded, keeps the moments it could not store waiting,
and stores them by itself once the disk has room or the database is back.

The faults are real: a tmpfs of a few MiB filled to the last byte (needs root, as CI has), and a PostgreSQL server
of the test's own, stopped and started again."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import PERSON_CLIP, Broker, Inbox, Postgres, payload_json
from tests.running import FeedwatchProcess

pytestmark = pytest.mark.slow

EVENTS = "fw/lobby/query/person/event"


def _config(broker: Broker, memory: dict[str, Any]) -> dict[str, Any]:
    # The clip replayed as fast as it decodes, looped: an alert ends every second or so.
    return {
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "loop": True}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw"},
        "memory": memory,
        "clips": {"enabled": False},
    }


def _memory_down(health: dict[str, Any]) -> bool:
    return "memory" in health.get("degraded", {})


def _memory_back(health: dict[str, Any]) -> bool:
    return "memory" not in health.get("degraded", {})


async def _moments(fw: FeedwatchProcess) -> set[str]:
    """The ids of the remembered alert moments (the newest 500)."""
    answer = await fw.http.get("/api/moments", params={"limit": 500, "kind": "alert"})
    assert answer.status_code == 200, answer.text
    return {m["id"] for m in answer.json()["items"]}


async def _ends_go_out_while_the_memory_is_down(fw: FeedwatchProcess, inbox: Inbox) -> dict[str, Any]:
    """An alert that ends while the memory refuses it still goes out over MQTT (without its snapshot path)."""
    seen = len(inbox.messages)

    def later_end(m: Any) -> bool:
        return any(m is n for n in inbox.messages[seen:]) and payload_json(m)["type"] == "end"

    end: dict[str, Any] = payload_json(await inbox.wait_for(EVENTS, later_end, timeout=30))
    assert end["camera"] == "lobby" and end["snapshot"] is None
    return end


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 8 MiB, mounted for the test (root only), unmounted after."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("filling a real disk needs a tmpfs mount, which needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    """Write zeros until the disk says it is full."""
    filler = folder / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


async def test_a_full_disk_degrades_the_memory_and_the_moments_are_stored_once_it_has_room(
    small_disk: Path, broker: Broker, inbox: Inbox
) -> None:
    fw = FeedwatchProcess(small_disk.parent, _config(broker, {"path": str(small_disk / "memory")})).start()
    try:
        await fw.until("the service to answer", lambda h: h.get("status") == "ok")
        filler = _fill(small_disk)
        health = await fw.until("the memory to refuse writes", _memory_down)
        assert health["http"] == 200 and health["status"] == "degraded" and health["restarts"] == {}, health
        said = health["degraded"]["memory"]
        assert said.startswith("the memory refuses writes since ") and "alerts still go out" in said, said
        stored = await _moments(fw)
        end = await _ends_go_out_while_the_memory_is_down(fw, inbox)
        assert end["id"] not in stored
        assert await fw.metric("feedwatch_memory_write_failures_total") >= 1
        filler.unlink()  # room again: what waited is written, and new moments too
        await fw.until("the memory to take writes again", _memory_back)
        assert end["id"] in await _moments(fw)  # the moment that waited was stored, not lost
        assert await fw.metric("feedwatch_moments_lost_total") == 0
        log = await fw.stop()
    finally:
        fw.kill()
    assert "memory: writes go through again" in log
    refused = [line for line in log.splitlines() if "write(s) refused since the last report" in line]
    assert 1 <= len(refused) <= 2, refused  # once a minute at most, not once a moment


async def test_postgresql_going_away_degrades_the_memory_which_recovers_when_it_is_back(
    tmp_path: Path, broker: Broker, inbox: Inbox
) -> None:
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    pg = Postgres(tmp_path / "pg")
    url = pg.new_database()
    fw = FeedwatchProcess(tmp_path, _config(broker, {"path": str(tmp_path / "memory"), "url": url})).start()
    try:
        await fw.until("the service to answer", lambda h: h.get("status") == "ok")
        pg.stop()
        await fw.until("the memory to refuse writes", _memory_down)
        health = await fw.health()
        assert health["http"] == 200 and health["restarts"] == {}, health
        end = await _ends_go_out_while_the_memory_is_down(fw, inbox)
        pg = Postgres(tmp_path / "pg")  # the same data folder: the same database comes back
        await fw.until("the memory to take writes again", _memory_back, timeout=60)
        assert end["id"] in await _moments(fw)
        with contextlib.suppress(httpx.HTTPError):
            await fw.stop()
    finally:
        fw.kill()
        pg.stop()
