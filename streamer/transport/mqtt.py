"""MQTT transport: one connection per service, kept up with backoff, publishing from a queue.

The publisher owns ``<prefix>/available`` (retained; last will ``offline``; ``online`` once state is
republished after each connect) and remembers every retained message so state survives reconnects.
Messages that must not be lost (events) go through :meth:`MqttPublisher.publish_durable` and a durable
on-disk outbox when one is configured: they are written (in a worker thread) before it returns and deleted
only once the broker has acknowledged them, so a broker that goes away, or a restart of the service, loses
none; they are delivered in order, and a message interrupted mid-publish may arrive twice (events carry
stable ids). Everything else waits in a bounded in-memory queue, dropping and counting the oldest when full.
Subscriptions are registered with :meth:`MqttPublisher.subscribe` and renewed on every connect; their
handlers run as tasks beside the connection: commands that change state in one ordered lane, the others
(slow ones, such as questions) concurrently up to ``max_handlers``.

Nothing published can stop the publisher: topics are checked before they are queued; a message the client
library refuses, or whose sending makes the broker drop the connection three times in a row, is dropped with an
ERROR line and counted (``rejected``), never retried forever; a bug in the loop is logged and the loop restarts,
and ``on_problem`` callbacks hear about it (and about its recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiomqtt
from paho.mqtt import properties as _paho_properties
from paho.mqtt.packettypes import PacketTypes

from ..errors import PublishError
from ..policies import Backoff
from .outbox import Outbox
from .topics import check_topic

__all__ = ["MessageHandler", "MqttPublisher", "MqttSettings", "OutgoingMessage"]

log = logging.getLogger(__name__)

MessageHandler = Callable[[aiomqtt.Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how to connect."""

    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "feedwatch"
    client_id: str | None = None
    node: str | None = None  # in a fleet: this node's name, and its own availability topic
    username: str | None = None
    password: str | None = None
    qos: int = 1
    keepalive_s: int = 30
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_queued: int = 10_000
    max_handlers: int = 8  # concurrent handlers of messages that need no order
    outbox: str | None = None  # path of the durable outbox (SQLite); None keeps messages in memory only
    timeout_s: float = 10.0  # for the broker's answers: CONNACK, PUBACK, SUBACK


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to publish. ``seq`` is its outbox row when it is durable."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation: bytes | None = None
    seq: int | None = None


class MqttPublisher:
    """Publish to (and subscribe on) one broker from a background task; an async context manager."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.connected = False
        self.published = 0
        self.dropped = 0
        self.rejected = 0  # messages refused by the client library or the broker, dropped
        self.failures = 0  # times the publishing loop failed on a bug and was restarted
        self.connects = 0
        self.availability = b"online"  # what <prefix>/available says while connected
        self._problem_listeners: list[Callable[[str | None], None]] = []
        self._in_flight: OutgoingMessage | None = None  # handed to the client, not yet acknowledged
        self._struck: OutgoingMessage | None = None  # the message the last dropped connections were sending
        self._strikes = 0
        self._queue: deque[OutgoingMessage] = deque()
        self._retained: dict[str, OutgoingMessage] = {}
        self._handlers: dict[str, tuple[MessageHandler, bool]] = {}
        self._on_connect: list[Callable[[], None]] = []
        self._outbox: Outbox | None = None
        self.outbox_failures = 0  # durable messages the outbox could not store (sent from memory only)
        self._outbox_warned = -60.0
        self._wake = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._ordered: asyncio.Queue[tuple[MessageHandler, aiomqtt.Message]] = asyncio.Queue(maxsize=256)
        self._slots = asyncio.Semaphore(settings.max_handlers)
        self._handling: set[asyncio.Task[None]] = set()

    @property
    def available_topic(self) -> str:
        """``<prefix>/available``; a fleet's node has its own, ``<prefix>/node/<node>/available``."""
        return self.node_topic("available")

    def node_topic(self, *parts: str) -> str:
        """A topic of this process as a whole: ``<prefix>/part/...``, in a fleet ``<prefix>/node/<node>/part/...``."""
        if self.settings.node:
            return self.topic("node", self.settings.node, *parts)
        return self.topic(*parts)

    def topic(self, *parts: str) -> str:
        """``<prefix>/part/part/...``."""
        return "/".join((self.settings.prefix, *parts))

    def subscribe(self, topic_filter: str, handler: MessageHandler, *, concurrent: bool = False) -> None:
        """Call ``handler`` for every message on ``topic_filter`` (renewed on each connect).

        Handlers that are not ``concurrent`` share one lane and see their messages in arrival order (commands
        that change state); ``concurrent`` ones run side by side, at most ``max_handlers`` at a time.
        """
        self._handlers[topic_filter] = (handler, concurrent)

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after each connect, before ``online`` is published (to republish state)."""
        self._on_connect.append(callback)

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters subscribed to (on every connect)."""
        return list(self._handlers)

    def on_problem(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(text)`` when publishing fails on a bug, and ``callback(None)`` once it works again."""
        self._problem_listeners.append(callback)

    def set_available(self, available: bool) -> None:
        """Say ``online`` or ``offline`` on the availability topic (retained; republished after each connect)."""
        self.availability = b"online" if available else b"offline"
        self.publish(self.available_topic, self.availability, qos=1, retain=True)

    def _problem(self, text: str | None) -> None:
        for callback in self._problem_listeners:
            callback(text)

    async def __aenter__(self) -> MqttPublisher:
        if self.settings.outbox:
            self._outbox = await asyncio.to_thread(Outbox, self.settings.outbox)
            for seq, topic, payload, qos in await asyncio.to_thread(self._outbox.pending):
                self._queue.append(OutgoingMessage(topic, payload, qos, False, None, seq))
            if self._queue:
                log.info("MQTT outbox: %d event(s) from before are waiting for the broker", len(self._queue))
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")
        self._handling.add(asyncio.create_task(self._ordered_lane(), name="mqtt-commands"))
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

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int | None = None,
        retain: bool = False,
        correlation: bytes | None = None,
    ) -> None:
        """Queue a message in memory; returns at once. Retained messages are republished after every connect.

        Raises :class:`~streamer.transport.topics.TopicError` for a topic nobody may publish to."""
        data = payload.encode() if isinstance(payload, str) else payload
        check_topic(topic)
        self._enqueue(OutgoingMessage(topic, data, self.settings.qos if qos is None else qos, retain, correlation))

    async def publish_durable(self, topic: str, payload: bytes | str, *, qos: int | None = None) -> None:
        """Queue a message that must not be lost: written to the outbox (in a thread) before this returns."""
        data = payload.encode() if isinstance(payload, str) else payload
        check_topic(topic)
        level = self.settings.qos if qos is None else qos
        seq = None
        if self._outbox is not None:
            try:
                seq = await asyncio.to_thread(self._outbox.put, topic, data, level)
            except PublishError as exc:  # the disk is full: the event still goes out, from memory only
                self.outbox_failures += 1
                now = time.monotonic()
                if now - self._outbox_warned >= 60.0:
                    self._outbox_warned = now
                    log.error("MQTT outbox: %s; events go out from memory only until it takes them again", exc)
        self._enqueue(OutgoingMessage(topic, data, level, False, None, seq))

    def _enqueue(self, msg: OutgoingMessage) -> None:
        if msg.retain:
            self._retained[msg.topic] = msg
        if msg.seq is None and len(self._queue) >= self.settings.max_queued:
            for i, old in enumerate(self._queue):
                if not old.retain and old.seq is None:
                    del self._queue[i]
                    self.dropped += 1
                    log.warning("MQTT queue full: dropped a message to %s", old.topic)
                    break
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
        for task in self._handling:
            task.cancel()
        await asyncio.gather(*self._handling, return_exceptions=True)
        kept = sum(1 for m in self._queue if m.seq is not None)
        lost = len(self._queue) - kept
        if kept:
            log.warning("MQTT: %d event(s) stay in the outbox for the next start", kept)
        if lost:
            log.warning("MQTT: %d message(s) not delivered at shutdown", lost)
        if self._outbox is not None:
            await asyncio.to_thread(self._outbox.close)
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
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self.available_topic, b"offline", qos=1, retain=True),
            timeout=s.timeout_s,
        )

    async def _run(self) -> None:
        backoff = Backoff(base_s=0.5, cap_s=30.0)
        while True:
            try:
                await self._session(backoff)
                return
            except aiomqtt.MqttError as exc:
                was = self.connected
                self.connected = False
                await self._strike()
                if self._closing:
                    log.warning("MQTT unavailable at shutdown (%s); %d message(s) undelivered", exc, len(self._queue))
                    return
                delay = backoff.next_delay()
                log.warning(
                    "MQTT %s %s:%d (%s); retrying in %.1f s, %d message(s) waiting",
                    "lost" if was else "cannot reach",
                    self.settings.host,
                    self.settings.port,
                    exc,
                    delay,
                    len(self._queue),
                )
            except Exception as exc:  # a bug: logged, reported and restarted, never a silent death
                self.connected = False
                self.failures += 1
                log.exception("MQTT publisher failed; restarting it")
                self._problem(f"the MQTT publisher failed: {exc!r}; restarting")
                if self._closing:
                    return
                delay = backoff.next_delay()
            finally:
                self.connected = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_closing(), delay)

    async def _session(self, backoff: Backoff) -> None:
        """One connection: subscribe, republish state, say online, then publish until closing."""
        client = self._make_client()
        try:
            await self._connected_session(client, backoff)
        finally:
            # aiomqtt 2.x keeps the reason of a disconnect in a future that nothing awaits when the disconnect
            # surfaced another way (a publish timing out): retrieve it, or asyncio logs it as never retrieved.
            disconnected = getattr(client, "_disconnected", None)
            if isinstance(disconnected, asyncio.Future) and disconnected.done() and not disconnected.cancelled():
                disconnected.exception()

    async def _connected_session(self, client: aiomqtt.Client, backoff: Backoff) -> None:
        async with client:
            backoff.reset()
            self.connects += 1
            log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)
            for topic_filter in self._handlers:
                await client.subscribe(topic_filter, qos=1)
            for callback in self._on_connect:
                callback()
            # State first, then availability: a reader that sees online sees current state. The snapshot replaces
            # the retained messages queued so far, in one step; ones queued while it is being sent stay queued, so
            # a change made meanwhile is not lost.
            snapshot = [m for m in self._retained.values() if m.topic != self.available_topic]
            self._queue = deque(m for m in self._queue if not m.retain)
            for msg in snapshot:
                await self._send_or_drop(client, msg)
            await client.publish(self.available_topic, self.availability, qos=1, retain=True)
            self.connected = True
            self._connected_event.set()
            if self.failures:
                self._problem(None)
            listener = asyncio.create_task(self._listen(client))
            try:
                await self._drain(client)
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener
            await client.publish(self.available_topic, b"offline", qos=1, retain=True)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            for topic_filter, (handler, concurrent) in self._handlers.items():
                if message.topic.matches(topic_filter):
                    if not concurrent:
                        await self._ordered.put((handler, message))  # a full lane slows the reading down
                        break
                    await self._slots.acquire()
                    task = asyncio.create_task(self._handle(handler, message, release=True))
                    self._handling.add(task)
                    task.add_done_callback(self._handling.discard)
                    break

    async def _ordered_lane(self) -> None:
        while True:
            handler, message = await self._ordered.get()
            await self._handle(handler, message, release=False)

    async def _handle(self, handler: MessageHandler, message: aiomqtt.Message, *, release: bool) -> None:
        try:
            await handler(message)
        except Exception:  # a bad command must never take the connection or the lane down
            log.exception("MQTT handler for %s failed", message.topic)
        finally:
            if release:
                self._slots.release()

    async def _wait_closing(self) -> None:
        while not self._closing:
            self._wake.clear()
            await self._wake.wait()

    async def _send(self, client: aiomqtt.Client, msg: OutgoingMessage) -> None:
        properties = None
        if msg.correlation is not None:
            make: Any = _paho_properties.Properties  # paho ships no type hints for it
            properties = make(PacketTypes.PUBLISH)
            properties.CorrelationData = msg.correlation
        await client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, properties=properties)

    async def _send_or_drop(self, client: aiomqtt.Client, msg: OutgoingMessage) -> bool:
        """Send ``msg``; False when the client library refused it (dropped and counted, never retried)."""
        self._in_flight = msg  # stays set if the connection drops while sending: see _strike
        try:
            await self._send(client, msg)
        except (ValueError, TypeError) as exc:  # paho refuses what it cannot encode
            self._in_flight = None
            await self._reject(msg, f"the MQTT client refused it: {exc}")
            return False
        self._in_flight = None
        self._struck, self._strikes = None, 0
        return True

    async def _strike(self) -> None:
        """The connection dropped. If it dropped while the same message was being sent, three times in a row, that
        message is what the broker refuses (too large, say): drop it, whether queued or retained state.

        Only QoS 1 and 2 can be told apart this way: a QoS 0 message is gone from the queue once handed over."""
        msg, self._in_flight = self._in_flight, None
        if msg is None:
            self._struck, self._strikes = None, 0
            return
        if msg is not self._struck:
            self._struck, self._strikes = msg, 0
        self._strikes += 1
        if self._strikes >= 3:
            with contextlib.suppress(ValueError):
                self._queue.remove(msg)
            await self._reject(msg, "the broker dropped the connection each of 3 times it was sent")
            self._struck, self._strikes = None, 0

    async def _outbox_done(self, seq: int) -> None:
        assert self._outbox is not None
        try:
            await asyncio.to_thread(self._outbox.done, seq)
        except PublishError as exc:  # the row stays: sent once more at the next start, never lost
            log.warning("MQTT outbox: %s", exc)

    async def _reject(self, msg: OutgoingMessage, why: str) -> None:
        self.rejected += 1
        log.error("MQTT: dropped a message to %r (%d bytes): %s", msg.topic, len(msg.payload), why)
        if msg.retain and self._retained.get(msg.topic) is msg:
            del self._retained[msg.topic]
        if msg.seq is not None and self._outbox is not None:
            await self._outbox_done(msg.seq)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish queued messages until closing and the queue is empty."""
        while True:
            while self._queue:
                msg = self._queue[0]
                sent = await self._send_or_drop(client, msg)
                self._queue.popleft()  # only after the broker took it (or it was refused)
                if sent and msg.seq is not None and self._outbox is not None:
                    await self._outbox_done(msg.seq)
                self.published += sent
            if self._closing:
                return
            self._wake.clear()
            if not self._queue:
                await self._wake.wait()
