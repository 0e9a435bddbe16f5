"""A question asked on one node of a fleet sees the recent frames of the cameras another node holds: fetched from
that node's HTTP API with the fleet's token, all at once and with a deadline, so a node that hangs costs only its
own cameras' frames."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from agents import Asker, MomentMemory, Service, validate_config
from agents.bench.common import free_port
from agents.config import FeedwatchConfig
from agents.fleet.store import FleetStore
from agents.qa.timeparse import QuestionFilter
from agents.service.fleet import FleetMember
from tests.helpers import PERSON_CLIP, scaled, served, wait_until

TOKEN_ENV = "FEEDWATCH_TEST_FLEET_TOKEN"


def _config(tmp_path: Path, pg_url: str, node: str, **fleet: object) -> FeedwatchConfig:
    return validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / node)},
            "http": {"port": free_port()},
            "fleet": {"url": pg_url, "node_id": node, "token_env": TOKEN_ENV, **fleet},
        }
    )


@asynccontextmanager
async def _holding_lobby(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[Service, str]]:
    """A node, "other", serving the lobby camera and its API; yielded once its buffer holds a few frames."""
    service, http = served(_config(tmp_path, pg_url, "other"), retry=True)
    assert http is not None
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: http.bound_port is not None, what="the HTTP server")
        await wait_until(lambda: len(service.buffered_frames("lobby", None, None, 64)) >= 4, what="buffered frames")
        yield service, f"http://127.0.0.1:{http.bound_port}"
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))


@contextmanager
def _hanging_node() -> Iterator[str]:
    """An address that takes connections (the kernel's backlog does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _leases(pg_url: str, other: str, hung: str) -> None:
    """lobby held by "other" (at its API), yard by "hung" (at an address that never answers)."""
    cams = validate_config({"cameras": [{"id": "lobby", "url": "rtsp://a/1"}, {"id": "yard", "url": "rtsp://a/2"}]})
    with FleetStore(pg_url) as store:
        store.import_config(cams.cameras, [])
        assert store.heartbeat("other", lease_s=60, max_cameras=1, api=other)[0] == ["lobby"]
        assert store.heartbeat("hung", lease_s=60, max_cameras=1, api=hung)[0] == ["yard"]


def _member(tmp_path: Path, pg_url: str) -> FleetMember:
    config = _config(tmp_path, pg_url, "me", lease_s=60, fetch_timeout_s=scaled(5))
    return FleetMember(config, lambda: config, lambda: None)


async def test_a_question_sees_the_frames_of_cameras_other_nodes_hold(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "fleet-secret")
    async with _holding_lobby(tmp_path, pg_url) as (service, api):
        with _hanging_node() as hung:
            _leases(pg_url, api, hung)
            member = _member(tmp_path, pg_url)
            try:
                assert sorted(await member.cameras()) == ["lobby", "yard"]
                caplog.set_level(logging.WARNING, logger="agents.service.fleet")
                got = await member.frames(QuestionFilter(None, None, None, "a person"), 8)
                assert got and {c.camera for c in got} == {"lobby"}  # yard's node never answered: left out
                assert "no frames within" in caplog.text and "hung (yard)" in caplog.text
                # The very pixels the holding node's models see (PNG is lossless), and its snapshots.
                held = {f.wall: f for f in service.buffered_frames("lobby", None, None, 64)}
                for c in got:
                    assert c.source == "buffer" and c.image is not None and c.snapshot is not None
                    if c.wall in held:  # the buffer moved on meanwhile: compare those still in it
                        assert np.array_equal(c.image, held[c.wall].image) and c.snapshot == held[c.wall].snapshot
                assert any(c.wall in held for c in got)

                # Asked on this node (whose memory is empty and which holds no camera): lobby is a camera it
                # knows of, and the answer cites lobby's frames from the other node.
                with MomentMemory(tmp_path / "me-memory") as memory:
                    asker = Asker(memory, elsewhere=member)
                    answer = await asker.ask("what is happening on the lobby camera now?", limit=4)
                    since = datetime.fromtimestamp(max(held) + 3600).astimezone()
                    later = await member.frames(QuestionFilter(since, None, "lobby", ""), 8)
                assert answer.filters["camera"] == "lobby"
                assert answer.candidates["elsewhere"] > 0 and answer.candidates["memory"] == 0
                assert answer.citations and all(c.camera == "lobby" and c.source == "buffer" for c in answer.citations)
                assert later == []  # the range is passed on: nothing buffered an hour from now
                # The page's tiles: the newest frame of a camera another node holds, through this node.
                jpeg = await member.snapshot("lobby")
                assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
                assert await member.snapshot("yard") is None  # its node hangs: nothing after the deadline
                nodes = {n["id"]: n["cameras"] for n in await member.nodes()}
                assert nodes == {"other": ["lobby"], "hung": ["yard"]}
            finally:
                member.leave()


async def test_the_fleet_token_opens_a_nodes_api_and_a_wrong_one_costs_only_its_frames(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "fleet-secret")
    async with _holding_lobby(tmp_path, pg_url) as (_, api):
        async with httpx.AsyncClient(base_url=api, timeout=scaled(30)) as web:
            assert (await web.get("/api/cameras/lobby/frames")).status_code == 401
            right = {"Authorization": "Bearer fleet-secret"}
            page = await web.get("/api/cameras/lobby/frames", params={"limit": 3}, headers=right)
            assert page.status_code == 200 and 1 <= len(page.json()["frames"]) <= 3
            walls = [f["wall"] for f in page.json()["frames"]]
            assert walls == sorted(walls)
            assert (await web.get("/api/cameras/nope/frames", headers=right)).status_code == 404
            assert (await web.get("/api/cameras/lobby/frames", params={"limit": 0}, headers=right)).status_code == 422
            alone = await web.get("/api/fleet", headers=right)
            assert alone.status_code == 200 and alone.json() == {"node": None, "nodes": []}
        with _hanging_node() as hung:
            _leases(pg_url, api, hung)
            monkeypatch.setenv(TOKEN_ENV, "not-the-fleet-secret")  # this node's idea of the token is wrong
            member = _member(tmp_path, pg_url)
            try:
                caplog.set_level(logging.WARNING, logger="agents.service.fleet")
                got = await member.frames(QuestionFilter(None, None, "lobby", ""), 8)
            finally:
                member.leave()
        assert got == []
        assert "node other refused the fleet's token" in caplog.text
