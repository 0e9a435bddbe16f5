"""Helpers for the tests: paths of the real sample clips, free ports, a broker, a CLI runner, and waiting for a
condition within a deadline that scales with the machine (``FEEDWATCH_TEST_SCALE``, e.g. 3 on a loaded host)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from agents import FeedwatchConfig, Service
from agents.api import HttpApi, extensions_for
from agents.bench.common import free_port, wait_port
from agents.scoring import Scorer
from agents.service import AlertListener

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("FEEDWATCH_MEDIA", ROOT / "tests" / "media"))
PERSON_CLIP = MEDIA / "one-by-one-person-detection.mp4"
PERSON_TRUTH = MEDIA / "one-by-one-person-detection.events.json"
SHORT_CLIP = MEDIA / "asl_walk.mkv"
SCALE = float(os.environ.get("FEEDWATCH_TEST_SCALE", "1"))


def scaled(seconds: float) -> float:
    """A deadline, stretched by ``FEEDWATCH_TEST_SCALE`` on slow or loaded machines."""
    return seconds * SCALE


async def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds; fail (naming ``what``) after a scaled ``timeout``. Never a fixed sleep."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {scaled(timeout):.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Broker:
    """A mosquitto the test owns, on a free port."""

    port: int
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_free_port(cls, folder: Path, *, persistence: bool = False, extra: Sequence[str] = ()) -> Broker:
        """A broker config of its own; with ``persistence`` it keeps sessions across its restarts. ``extra`` lines
        are added to it (``allow_anonymous false`` among them replaces the default ``true``)."""
        port = free_port()
        conf = folder / f"mosquitto-{port}.conf"
        anonymous = [] if any(line.startswith("allow_anonymous") for line in extra) else ["allow_anonymous true"]
        lines = [f"listener {port} 127.0.0.1", *anonymous, *extra]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to its own user, which cannot read the test's files
        if persistence:
            lines += ["persistence true", f"persistence_location {folder}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        conf.write_text("\n".join(lines) + "\n")
        return cls(port, conf)

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``feedwatch ARGS`` as a user would, in a fresh interpreter."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        env=full_env,
        cwd=ROOT,
        check=False,
    )


def served(
    config: FeedwatchConfig, *, retry: bool, on_alert: AlertListener | None = None, scorer: Scorer | None = None
) -> tuple[Service, HttpApi | None]:
    """The service with the APIs its config turns on, as ``feedwatch run`` builds it; and its HTTP API, if any."""
    extensions = extensions_for(config)
    http = next((e for e in extensions if isinstance(e, HttpApi)), None)
    return Service(config, retry=retry, on_alert=on_alert, scorer=scorer, extensions=extensions), http


class Inbox:
    """A real MQTT subscriber that keeps every message, with a way to wait for one."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[aiomqtt.Message] = []
        self._new = asyncio.Event()

    async def run(self) -> None:
        async for m in self.client.messages:
            self.messages.append(m)
            self._new.set()

    async def wait_for(self, topic: str, predicate: Any = None, timeout: float = 20) -> aiomqtt.Message:
        """The first message on ``topic`` (matching ``predicate``), waiting up to a scaled ``timeout``."""

        async def find() -> aiomqtt.Message:
            seen = 0
            while True:
                for m in self.messages[seen:]:
                    if m.topic.matches(topic) and (predicate is None or predicate(m)):
                        return m
                seen = len(self.messages)
                self._new.clear()
                await self._new.wait()

        return await asyncio.wait_for(find(), scaled(timeout))


def payload_json(m: aiomqtt.Message) -> Any:
    assert isinstance(m.payload, (bytes, bytearray))
    return json.loads(m.payload)


class Postgres:
    """A real PostgreSQL 16 with pgvector (the pgserver package) in a folder, reached over its Unix socket (no port
    is bound); each test gets a database of its own."""

    def __init__(self, folder: Path) -> None:
        import warnings

        with warnings.catch_warnings():  # platformdirs warns on import that XDG_RUNTIME_DIR is unset; harmless here
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

        self.folder = folder
        self.server = get_server(folder, cleanup_mode="stop")
        self._made = 0

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        self._made += 1
        name = f"fw{os.getpid()}_{self._made}"
        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return str(self.server.get_uri(name))

    def stop(self) -> None:
        self.server.cleanup()
