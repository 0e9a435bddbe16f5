"""Recovery hooks: a camera's ``on_offline`` command, run when it has been away long enough.

The command (a script that reboots the camera, power-cycles its PoE port) runs once the camera has been away
``after_s``; while it stays away, again every ``cooldown_s`` (never more often; with ``cooldown_s: 0``, once
per outage). A flapping camera is one outage (see :class:`~streamer.reader.Outage`), so it runs once. It runs
directly, not through a shell, with the camera in its environment; each line it prints goes to the log, and
one that runs past ``timeout_s`` is killed with its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping

from streamer.reader import Outage
from streamer.redact import redact_text, redact_url

from ..config import CameraConfig, OfflineHook
from .cameras import Camera

__all__ = ["OfflineHooks"]

log = logging.getLogger(__name__)

_MAX_LINE = 1000  # characters of one output line that reach the log
_REAP_S = 5.0  # how long a killed command is waited for when the service stops


class OfflineHooks:
    """Watch the cameras' outages and run their ``on_offline`` commands. Use on the service's event loop."""

    def __init__(self, cameras: Mapping[str, Camera], configs: Mapping[str, CameraConfig]) -> None:
        self.cameras = cameras
        self.hooks = {cam_id: cfg.on_offline for cam_id, cfg in configs.items() if cfg.on_offline is not None}
        self.urls = {cam_id: cfg.url for cam_id, cfg in configs.items()}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching: dict[str, float] = {}  # camera -> start of the outage its task waits on
        self._last_run: dict[str, float] = {}  # monotonic start of each camera's last run

    def configure(self, config: CameraConfig) -> None:
        """Take the hook of a camera added or changed by a reload."""
        if config.on_offline is None:
            self.hooks.pop(config.id, None)
        else:
            self.hooks[config.id] = config.on_offline
        self.urls[config.id] = config.url

    def outage(self, outage: Outage) -> None:
        """A camera went away (or came back): start waiting for its hook, once per outage."""
        hook = self.hooks.get(outage.camera)
        if hook is None or outage.end is not None:
            return
        if self._watching.get(outage.camera) == outage.start:
            return  # already waiting on this outage
        # A wait on an earlier outage ends by itself (that outage is over); a command it runs is left to finish.
        self._watching[outage.camera] = outage.start
        task = asyncio.create_task(self._watch(outage, hook), name=f"on-offline-{outage.camera}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _away(self, outage: Outage) -> bool:
        """Whether the camera is still in this outage."""
        current = self.cameras[outage.camera].reader.outage
        return current is not None and current.start == outage.start and current.end is None

    async def _watch(self, outage: Outage, hook: OfflineHook) -> None:
        camera = outage.camera
        await asyncio.sleep(max(0.0, hook.after_s - (time.time() - outage.start)))
        while self._away(outage):
            last = self._last_run.get(camera)
            wait = 0.0 if last is None else last + hook.cooldown_s - time.monotonic()
            if wait > 0:
                log.info(
                    "camera %s is still away; its on_offline command ran %.0f s ago, next run in %.0f s at the soonest",
                    camera, time.monotonic() - (last or 0.0), wait,
                )  # fmt: skip
                await asyncio.sleep(wait)
                continue
            self._last_run[camera] = time.monotonic()
            await self._run(outage, hook)
            if hook.cooldown_s <= 0:
                return  # once per outage

    async def _run(self, outage: Outage, hook: OfflineHook) -> None:
        camera, away_s = outage.camera, time.time() - outage.start
        env = {
            **os.environ,
            "FEEDWATCH_CAMERA": camera,
            "FEEDWATCH_CAMERA_SOURCE": redact_url(self.urls[camera]),
            "FEEDWATCH_AWAY_S": f"{away_s:.0f}",
            "FEEDWATCH_OUTAGE_CAUSE": outage.cause,
        }
        self.cameras[camera].hook_runs += 1
        log.warning("camera %s has been away %.0f s: running its on_offline command %s", camera, away_s, hook.command)
        try:
            proc = await asyncio.create_subprocess_exec(
                *hook.command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            log.error(
                "camera %s: cannot run its on_offline command %s: %s (check cameras[].on_offline.command)",
                camera, hook.command, exc.strerror or exc,
            )  # fmt: skip
            return
        try:
            await asyncio.wait_for(self._relay(camera, proc), hook.timeout_s)
        except TimeoutError:
            _kill_group(proc)
            await proc.wait()
            log.error("camera %s: on_offline command ran past %g s and was killed", camera, hook.timeout_s)
            return
        except asyncio.CancelledError:
            _kill_group(proc)  # the service is stopping: leave no command behind
            with contextlib.suppress(TimeoutError):  # and reap it, so its pipes close now, not when collected
                await asyncio.wait_for(proc.wait(), _REAP_S)
            raise
        code = await proc.wait()
        if code == 0:
            log.info("camera %s: on_offline command finished", camera)
        else:
            log.warning("camera %s: on_offline command exited with status %d", camera, code)

    @staticmethod
    async def _relay(camera: str, proc: asyncio.subprocess.Process) -> None:
        """Log each line the command prints until it closes its output."""
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line longer than the stream's limit: take what is there
                line = await proc.stdout.read(65536)
            if not line:
                return
            text = redact_text(line.decode("utf-8", "replace").rstrip())[:_MAX_LINE]
            if text:
                log.info("camera %s on_offline: %s", camera, text)

    async def close(self) -> None:
        """Stop waiting and kill commands still running (the service is stopping)."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
