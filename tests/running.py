"""``feedwatch run`` in a process of its own, as an operator starts it, with its HTTP API on a free port: for the
tests that make a dependency fail for real (the model server, the disk, the database) and watch it degrade."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agents.bench.common import free_port
from tests.helpers import ROOT, scaled

__all__ = ["FeedwatchProcess"]


class FeedwatchProcess:
    """``config`` is written to a file (the HTTP port filled in) and run; :meth:`stop` ends it with SIGTERM."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.port = free_port()
        self.config = folder / "feedwatch.yaml"
        self.config.write_text(json.dumps({**config, "http": {"port": self.port}}))  # JSON is YAML
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=scaled(10))

    def start(self) -> FeedwatchProcess:
        env = {k: v for k, v in os.environ.items() if k != "FEEDWATCH_API_TOKEN"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "run", "--config", str(self.config)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        return self

    async def health(self) -> dict[str, Any]:
        try:
            answer = await self.http.get("/api/health")
        except httpx.HTTPError:
            return {}
        return {"http": answer.status_code, **answer.json()}

    async def until(self, what: str, check: Callable[[dict[str, Any]], bool], timeout: float = 40) -> dict[str, Any]:
        """Poll the health until ``check(health)`` holds; fail naming ``what`` (and feedwatch's log, if it died)."""
        deadline = asyncio.get_running_loop().time() + scaled(timeout)
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"feedwatch exited ({self.proc.returncode}) waiting for {what}: {self._log()}")
            health = await self.health()
            if health and check(health):
                return health
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; health: {health}")
            await asyncio.sleep(0.1)

    async def metric(self, name: str) -> float:
        """The sum of the Prometheus samples whose line starts with ``name`` (labels included in it, if given)."""
        text = (await self.http.get("/metrics")).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    def _log(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-3000:]

    async def stop(self) -> str:
        """SIGTERM, and what it logged; it must end cleanly, without a traceback."""
        await self.http.aclose()
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=scaled(60))
        log = err.decode(errors="replace")
        assert self.proc.returncode == 0, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        return log

    def kill(self) -> None:
        """SIGKILL, if it still runs: no shutdown of its own."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
