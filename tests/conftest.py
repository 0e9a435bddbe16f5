"""Shared fixtures: the real sample clips, a real mosquitto broker on a free port with a subscriber to it, real
RTSP cameras (UDP, and TCP behind a password), and a real PostgreSQL with pgvector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.helpers import MEDIA, PERSON_CLIP, Broker, Inbox, Postgres
from tests.streamer.rtsp import GstRtspServer, PerlRtspServer


@pytest.fixture(scope="session")
def media() -> Path:
    if not PERSON_CLIP.is_file():
        pytest.fail(f"sample clips missing: expected {PERSON_CLIP} (tests/media in the repository)")
    return MEDIA


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker.on_free_port(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def rtsp(media: Path) -> Iterator[PerlRtspServer]:
    """The person clip, looped at its own pace, from rtsp-server-perl (UDP)."""
    server = PerlRtspServer(PERSON_CLIP)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def inbox(broker: Broker) -> AsyncIterator[Inbox]:
    """A subscriber to everything under ``fw/`` and ``ha/`` (the tests' MQTT and discovery prefixes)."""
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier="test-inbox", protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe("fw/#", qos=1)
        await client.subscribe("ha/#", qos=1)
        box = Inbox(client)
        task = asyncio.create_task(box.run())
        yield box
        task.cancel()


@pytest.fixture
def secured(media: Path) -> Iterator[GstRtspServer]:
    """The person clip from GStreamer's RTSP server (TCP), behind basic auth: viewer / correct-horse."""
    server = GstRtspServer(PERSON_CLIP, user="viewer", password="correct-horse")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """The URL of an empty database of this test's own, in a PostgreSQL with pgvector."""
    return postgres.new_database()
