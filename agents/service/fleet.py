"""A ``feedwatch run`` node in a fleet: it holds the cameras its leases give it, and follows the fleet's queries.

The node's configuration is its config file with the cameras and queries taken from the fleet's database: the
cameras it holds, and the queries that apply to them (a query's camera lists cut down to those cameras; a query
for none of them is left out). Every ``fleet.renew_s`` the node renews its leases (see
:mod:`agents.fleet.store`); when the cameras it holds change, it reloads, which starts and stops only the
cameras that changed. A camera it should give back to a newcomer is stopped first and released after, so no
camera is ever watched by two nodes. When the database cannot be reached for longer than a lease, the node
stops its cameras: by then another node may hold them.

Query changes made on this node (HTTP, MQTT, the page) are written to the fleet's database, which tells every
node (LISTEN/NOTIFY); each then reloads.

A question asked on any node looks at the recent frames of every camera: this node's own buffers, and the others'
fetched from the node that holds the camera (``GET /api/cameras/{id}/frames``, with the fleet's token), all at
once and within ``fleet.fetch_timeout_s``, so a dead or slow node costs only its own cameras' frames.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from streamer.errors import FeedwatchError
from streamer.transport.http import is_wildcard

from ..config import FeedwatchConfig, QueryConfig
from ..fleet.store import CHANNEL, FleetStore, NodeStatus
from ..qa.retrieval import Candidate
from ..qa.timeparse import QuestionFilter
from .port import ServicePort

__all__ = ["FORWARDED", "FleetMember", "advertised_api", "fleet_view"]

FORWARDED = "X-Feedwatch-Node"  # on a request one node makes of another: the asking node

_MAX_FRAMES_BODY = 64 * 2**20  # one node's answer for one camera: 64 frames with their snapshots fit well inside

log = logging.getLogger(__name__)


def fleet_view(base: FeedwatchConfig, cameras: list[Any], queries: list[QueryConfig]) -> FeedwatchConfig:
    """``base`` with these cameras, and the queries as they apply to them."""
    held = {c.id for c in cameras}
    mine = []
    for q in queries:
        if q.cameras and not held.intersection(q.cameras):
            continue
        mine.append(
            q.model_copy(
                update={
                    "cameras": [c for c in q.cameras if c in held],
                    "disarmed": [c for c in q.disarmed if c in held],
                }
            )
        )
    return base.model_copy(update={"cameras": list(cameras), "queries": mine})


def advertised_api(config: FeedwatchConfig, bound_port: int | None) -> str | None:
    """Where the other nodes reach this node's HTTP API: ``fleet.advertise``, or http.host (the host name when it
    is every address) and the bound port; None while there is none."""
    if config.fleet.advertise:
        return config.fleet.advertise
    if not config.http.enabled or not (bound_port or config.http.port):
        return None
    host = config.http.host
    if is_wildcard(host):
        import socket

        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{bound_port or config.http.port}"


class FleetMember:
    """An extension of the service: leases, reloads when they change, and the fleet's queries; and, for questions,
    the recent frames of the cameras other nodes hold (a :class:`~agents.qa.retrieval.FrameSource`)."""

    def __init__(
        self, config: FeedwatchConfig, load_base: Callable[[], FeedwatchConfig], api: Callable[[], str | None]
    ) -> None:
        fleet = config.fleet
        assert fleet.url is not None
        self.url = fleet.url
        self.node = fleet.node_id
        self.settings = fleet
        self._api = api
        # What this node presents to the others' APIs: the fleet's token, else its own http token.
        self._token = os.environ.get(fleet.token_env) or os.environ.get(config.http.token_env) or None
        self._load_base = load_base
        # Requests to other nodes wait in threads of their own: a node that hangs never holds up the service's
        # other blocking work (memory writes) in the shared default pool.
        self._http = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fleet-http")
        self.store = FleetStore(fleet.url)
        self.held: list[str] = []
        self._lock = threading.Lock()
        self._surplus: str | None = None
        self._port: ServicePort | None = None
        self._left = False
        self._pushes: set[asyncio.Task[None]] = set()

    def join(self) -> FeedwatchConfig:
        """Claim this node's first cameras; the configuration to start with."""
        self.held, self._surplus = self.store.heartbeat(
            self.node, lease_s=self.settings.lease_s, max_cameras=self.settings.max_cameras, api=self._api()
        )
        log.info("fleet: node %s joined %s holding %s", self.node, self.store.where, self.held or "no camera yet")
        return self.view()

    def view(self) -> FeedwatchConfig:
        """The configuration this node should run now (read from the database; blocks)."""
        with self._lock:
            held = [c for c in self.held if c != self._surplus]
        return fleet_view(self._load_base(), self.store.cameras(held), self.store.queries())

    async def start(self, port: ServicePort, stack: contextlib.AsyncExitStack) -> None:
        self._port = port
        port.on_queries(self._queries_changed)
        task = asyncio.create_task(self._renew(port), name="fleet-leases")
        listener = asyncio.create_task(self._listen(port), name="fleet-listen")

        async def leave() -> None:
            for t in (task, listener):
                t.cancel()
            await asyncio.gather(task, listener, return_exceptions=True)
            # Stopping: the cameras are closed by now; hand them to the others at once rather than at expiry.
            await asyncio.to_thread(self.leave)

        stack.push_async_callback(leave)

    def leave(self) -> None:
        """Give back every camera and leave the fleet (idempotent; blocks)."""
        if self._left:
            return
        self._left = True
        with contextlib.suppress(FeedwatchError):
            self.store.release(self.node)
        self.store.close()
        self._http.shutdown(wait=False, cancel_futures=True)  # a request to a hung node ends at its own timeout

    async def _renew(self, port: ServicePort) -> None:
        fleet = self.settings
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(fleet.renew_s)
            try:
                held, surplus = await asyncio.to_thread(
                    self.store.heartbeat, self.node, lease_s=fleet.lease_s, max_cameras=fleet.max_cameras,
                    api=self._api(), lag_s=_lag(port),
                )  # fmt: skip
                last_ok = time.monotonic()
            except FeedwatchError as exc:
                log.error("fleet: cannot renew the leases of %s: %s", self.node, exc)
                if self.held and time.monotonic() - last_ok > fleet.lease_s * 0.8:
                    log.error("fleet: leases of %s about to expire; stopping its cameras", self.node)
                    held, surplus = [], None
                else:
                    continue
            with self._lock:
                changed = held != self.held or surplus != self._surplus
                self.held, self._surplus = held, surplus
            if changed:
                await self._apply(port)
            if surplus is not None:
                # Stopped above: now another node may take it.
                with contextlib.suppress(FeedwatchError):
                    await asyncio.to_thread(self.store.give_back, self.node, surplus)
                with self._lock:
                    self.held = [c for c in self.held if c != surplus]
                    self._surplus = None

    async def _apply(self, port: ServicePort) -> None:
        try:
            plan = await port.reload()
        except FeedwatchError as exc:
            log.error("fleet: could not apply the fleet's configuration: %s", exc)
            return
        if plan.cameras_added or plan.cameras_removed:
            log.info("fleet: node %s now holds %s", self.node, [c.id for c in port.config.cameras])

    async def _listen(self, port: ServicePort) -> None:
        """Reload when the fleet's cameras or queries change (NOTIFY), reconnecting when the database goes away."""
        import psycopg

        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        log.info("fleet: %s changed; applying", json.loads(note.payload).get("changed", "config"))
                        await self._apply(port)
            except psycopg.Error as exc:
                log.warning("fleet: listening for changes failed (%s); again in %.0f s", exc, self.settings.renew_s)
                await asyncio.sleep(self.settings.renew_s)

    def _queries_changed(self) -> None:
        """A query changed on this node: write it to the fleet (the others hear of it), unless it came from there."""
        port = self._port
        if port is None or port.reloading:  # a reload sets the fleet's queries: nothing to write back
            return
        local = {q.id: q for q in port.queries()}
        configured = {q.id: q for q in port.config.queries}
        if set(local) == set(configured) and all(
            QueryConfig.model_validate(local[i].to_dict()) == configured[i] for i in local
        ):
            return  # what the fleet said: nothing to tell it
        held = {c.id for c in port.config.cameras}
        task = asyncio.get_running_loop().create_task(self._push(local, configured, held), name="fleet-push-queries")
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _push(self, local: dict[str, Any], configured: dict[str, QueryConfig], held: set[str]) -> None:
        try:
            await self._write_queries(local, configured, held)
        except FeedwatchError as exc:
            # Kept on this node (its own queries file); the fleet's stay as they were until it is reachable.
            log.error("fleet: a query change made here could not be written to the fleet: %s", exc)

    async def _write_queries(self, local: dict[str, Any], configured: dict[str, QueryConfig], held: set[str]) -> None:
        fleet = {q.id: q for q in await asyncio.to_thread(self.store.queries)}
        for qid, query in local.items():
            mine = QueryConfig.model_validate(query.to_dict())
            if configured.get(qid) == mine:
                continue
            before = fleet.get(qid)
            if before is not None:  # this node speaks for its own cameras only
                others = [c for c in before.cameras if c not in held]
                cams = [] if not before.cameras else others + list(mine.cameras)
                if before.cameras and not mine.cameras:
                    cams = before.cameras  # "all of mine" within a query for some cameras: keep its cameras
                disarmed = [c for c in before.disarmed if c not in held] + list(mine.disarmed)
                mine = mine.model_copy(update={"cameras": cams, "disarmed": disarmed})
            await asyncio.to_thread(self.store.set_query, mine)
        for qid in set(configured) - set(local):
            await asyncio.to_thread(self.store.delete_query, qid)

    # -- frames of the cameras other nodes hold ---------------------------------------------------------

    async def cameras(self) -> list[str]:
        try:
            return [le.camera for le in await asyncio.to_thread(self.store.leases)]
        except FeedwatchError as exc:
            log.warning("fleet: cannot list the fleet's cameras for a question: %s", exc)
            return []

    async def frames(self, asked: QuestionFilter, per_camera: int) -> list[Candidate]:
        try:
            nodes = await asyncio.to_thread(self.store.status, self.settings.lease_s)
        except FeedwatchError as exc:
            log.warning("fleet: cannot tell which node holds which camera; asking without their frames: %s", exc)
            return []
        wanted = [
            (node, cam) for node in nodes if node.alive and node.api and node.id != self.node
            for cam in node.cameras if asked.camera is None or cam == asked.camera
        ]  # fmt: skip
        if not wanted:
            return []
        since = asked.since.timestamp() if asked.since else None
        until = asked.until.timestamp() if asked.until else None
        timeout = self.settings.fetch_timeout_s
        loop = asyncio.get_running_loop()
        tasks = [
            asyncio.ensure_future(loop.run_in_executor(self._http, self._fetch, node, cam, since, until, per_camera,
                                                       timeout))
            for node, cam in wanted
        ]  # fmt: skip
        done, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:  # its thread ends at its own socket timeout; the question does not wait for it
            task.cancel()
        if late:
            slow = sorted({f"{node.id} ({cam})" for (node, cam), t in zip(wanted, tasks, strict=True) if t in late})
            log.warning("fleet: no frames within %.1f s from %s; answering without them", timeout, ", ".join(slow))
        out: list[Candidate] = []
        for task in done:
            out += task.result()
        return out

    def _fetch(
        self, node: NodeStatus, camera: str, since: float | None, until: float | None, limit: int, timeout: float
    ) -> list[Candidate]:
        """One camera's frames from the node that holds it (blocks); none, with a warning, when it fails."""
        params = {"limit": str(limit)}
        if since is not None:
            params["since"] = repr(since)
        if until is not None:
            params["until"] = repr(until)
        body = self._get(node, camera, f"frames?{urllib.parse.urlencode(params)}", timeout)
        if body is None:
            return []
        try:
            return [
                Candidate(camera, float(f["wall"]), "buffer", image=_png(f["image_png"]),
                          snapshot=base64.b64decode(f["snapshot_jpeg"]) if f.get("snapshot_jpeg") else None)
                for f in json.loads(body)["frames"]
            ]  # fmt: skip
        except (ValueError, KeyError, TypeError, OSError) as exc:  # not what a feedwatch node answers
            log.warning("fleet: node %s gave camera %s's frames in a form not understood: %s", node.id, camera, exc)
            return []

    def _get(self, node: NodeStatus, camera: str, what: str, timeout: float) -> bytes | None:
        """``GET <node's API>/api/cameras/<camera>/<what>`` with the fleet's token (blocks); None, with a warning,
        when it fails."""
        url = f"{node.api}/api/cameras/{urllib.parse.quote(camera, safe='')}/{what}"
        headers = {FORWARDED: self.node}  # the node asked answers from its own cameras, never asks on
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
                return bytes(response.read(_MAX_FRAMES_BODY))
        except urllib.error.HTTPError as exc:
            why = "refused the fleet's token (set the same fleet.token_env on every node)" if exc.code == 401 else (
                f"answered HTTP {exc.code}")  # fmt: skip
            log.warning("fleet: node %s %s for camera %s", node.id, why, camera)
        except (urllib.error.URLError, OSError) as exc:
            log.warning("fleet: node %s at %s did not answer for camera %s: %s", node.id, node.api, camera, exc)
        return None

    # -- what the page shows of the fleet -------------------------------------------------------------

    async def nodes(self) -> list[dict[str, Any]]:
        try:
            nodes = await asyncio.to_thread(self.store.status, self.settings.lease_s)
        except FeedwatchError as exc:
            log.warning("fleet: cannot list the fleet's nodes: %s", exc)
            return []
        return [
            {"id": n.id, "api": n.api, "alive": n.alive, "seen_s_ago": round(n.seen_s_ago, 1), "lag_s": n.lag_s,
             "cameras": n.cameras}
            for n in nodes
        ]  # fmt: skip

    async def snapshot(self, camera: str) -> bytes | None:
        try:
            nodes = await asyncio.to_thread(self.store.status, self.settings.lease_s)
        except FeedwatchError as exc:
            log.warning("fleet: cannot tell which node holds camera %s: %s", camera, exc)
            return None
        holder = next((n for n in nodes if n.alive and n.api and n.id != self.node and camera in n.cameras), None)
        if holder is None:
            return None
        timeout = self.settings.fetch_timeout_s
        try:
            fetch = asyncio.get_running_loop().run_in_executor(
                self._http, self._get, holder, camera, "snapshot.jpg", timeout
            )
            return await asyncio.wait_for(fetch, timeout)
        except TimeoutError:
            log.warning("fleet: no snapshot of camera %s from node %s within %.1f s", camera, holder.id, timeout)
            return None


def _png(data: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    with Image.open(io.BytesIO(base64.b64decode(data))) as img:
        return np.asarray(img.convert("RGB"))


def _lag(port: ServicePort) -> float | None:
    """The node's scoring lag now: the most any of its cameras is behind."""
    return round(max((c.lag_s for c in port.camera_reports()), default=0.0), 3)
