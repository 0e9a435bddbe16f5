"""MQTT transport: one connection per service, kept up with backoff, publishing from a bounded queue.

The publisher owns the ``<prefix>/available`` topic (retained, last will ``offline``) and remembers
every retained message so it can republish state after a reconnect. While the broker is away,
messages wait in a bounded queue; when it overflows the oldest non-retained message is dropped and
counted (retained state is never lost: it is republished from memory on reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from types import TracebackType

import aiomqtt

from .reader import Backoff

__all__ = ["MqttPublisher", "MqttSettings", "OutgoingMessage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how to connect."""

    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "feedwatch"
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    qos: int = 1
    keepalive_s: int = 30
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_queued: int = 10_000


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class MqttPublisher:
    """Publish to one broker from a background task; an async context manager."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.connected = False
        self.published = 0
        self.dropped = 0
        self._queue: deque[OutgoingMessage] = deque()
        self._retained: dict[str, OutgoingMessage] = {}
        self._wake = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None

    @property
    def available_topic(self) -> str:
        return f"{self.settings.prefix}/available"

    def topic(self, *parts: str) -> str:
        """``<prefix>/part/part/...``."""
        return "/".join((self.settings.prefix, *parts))

    async def __aenter__(self) -> MqttPublisher:
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the first connection; return whether it is up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected_event.wait(), timeout_s)
        return self.connected

    def publish(self, topic: str, payload: bytes | str, *, qos: int | None = None, retain: bool = False) -> None:
        """Queue a message; returns at once. Retained messages are also kept for republishing."""
        data = payload.encode() if isinstance(payload, str) else payload
        msg = OutgoingMessage(topic, data, self.settings.qos if qos is None else qos, retain)
        if retain:
            self._retained[topic] = msg
        if len(self._queue) >= self.settings.max_queued:
            for i, old in enumerate(self._queue):
                if not old.retain:
                    del self._queue[i]
                    self.dropped += 1
                    log.warning("MQTT queue full (%d): dropped a message to %s", len(self._queue), old.topic)
                    break
            else:
                self._queue.popleft()
        self._queue.append(msg)
        self._wake.set()

    async def close(self, drain_s: float = 3.0) -> None:
        """Deliver what is queued (within ``drain_s``), say ``offline``, disconnect."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), drain_s + 2.0)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue:
            log.warning("MQTT: %d message(s) not delivered at shutdown", len(self._queue))
        self._task = None

    def _make_client(self) -> aiomqtt.Client:
        s = self.settings
        tls: ssl.SSLContext | None = None
        if s.tls_ca or s.tls_cert:
            tls = ssl.create_default_context(cafile=s.tls_ca)
            if s.tls_cert:
                tls.load_cert_chain(s.tls_cert, s.tls_key)
        return aiomqtt.Client(
            s.host,
            s.port,
            identifier=s.client_id,
            username=s.username,
            password=s.password,
            keepalive=s.keepalive_s,
            tls_context=tls,
            will=aiomqtt.Will(self.available_topic, b"offline", qos=1, retain=True),
            timeout=10.0,
        )

    async def _run(self) -> None:
        backoff = Backoff(base_s=0.5, cap_s=30.0)
        while True:
            try:
                async with self._make_client() as client:
                    self._client = client
                    backoff.reset()
                    log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)
                    # State first, then "online": a reader that sees online sees current state.
                    for msg in list(self._retained.values()):
                        await client.publish(msg.topic, msg.payload, qos=msg.qos, retain=True)
                    # Queued retained messages were just sent in their latest form.
                    self._queue = deque(m for m in self._queue if not m.retain)
                    await client.publish(self.available_topic, b"online", qos=1, retain=True)
                    self.connected = True
                    self._connected_event.set()
                    await self._drain(client)
                    await client.publish(self.available_topic, b"offline", qos=1, retain=True)
                    return
            except aiomqtt.MqttError as exc:
                was = self.connected
                self.connected = False
                self._client = None
                if self._closing:
                    log.warning("MQTT unavailable at shutdown (%s); %d message(s) undelivered", exc, len(self._queue))
                    return
                delay = backoff.next_delay()
                log.warning(
                    "MQTT %s %s:%d (%s); retrying in %.1f s, %d message(s) queued",
                    "lost" if was else "cannot reach",
                    self.settings.host,
                    self.settings.port,
                    exc,
                    delay,
                    len(self._queue),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_closing(), delay)
            finally:
                self.connected = False

    async def _wait_closing(self) -> None:
        while not self._closing:
            self._wake.clear()
            await self._wake.wait()

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish queued messages until closing and the queue is empty."""
        while True:
            while self._queue:
                msg = self._queue[0]
                await client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
                self._queue.popleft()  # only after the broker took it
                self.published += 1
            if self._closing:
                return
            self._wake.clear()
            if not self._queue:
                await self._wake.wait()
