"""The MQTT API beyond alerts: standing-query management, asks, and Home Assistant discovery.

Command topics (all payloads JSON, at most ``MAX_PAYLOAD`` bytes):

- ``<prefix>/queries/set``: ``{"id": "door", "text": "a person opens the door", "cameras": [], "threshold": 3}``
  adds or replaces a standing query.
- ``<prefix>/queries/<id>/delete``: removes one.
- ``<prefix>/ask``: ``{"question": "when did the courier leave?"}``; the answer (over the memory and the
  cameras' rolling buffers, see :class:`~agents.asker.Asker`) with its citations goes to
  the MQTT 5 response topic (with the request's correlation data), or to ``reply_to`` in the payload
  for MQTT 3.1.1 clients.

Every command is answered on its reply topic (the response topic, ``reply_to``, else
``<prefix>/commands/result``) with ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a refused
command changes nothing. The standing queries are echoed on the retained ``<prefix>/queries`` and
persisted (``queries.json`` in the memory folder) so they survive a restart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiomqtt
from pydantic import ValidationError

from streamer import FeedwatchError, MqttPublisher

from .asker import Asker
from .config import QueryConfig, format_validation_error
from .fileio import atomic_write
from .scoring import Query

__all__ = ["MAX_PAYLOAD", "MqttApi", "QueryStore"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8192
_LIVE_TEMPLATE = "{{ 'ON' if value_json.status == 'live' else 'OFF' }}"


class QueryStore:
    """Standing queries changed at run time, on disk: added or replaced ones, and deleted ids."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[list[Query], set[str]]:
        if not self.path.is_file():
            return [], set()
        try:
            data = json.loads(self.path.read_text())
            added = [Query(q["id"], q["text"], float(q["threshold"]), tuple(q["cameras"])) for q in data["added"]]
            return added, set(data["deleted"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("standing queries in %s are unreadable (%s); using the configured ones", self.path, exc)
            return [], set()

    def remember(self, query: Query) -> None:
        """Record that ``query`` was added or replaced (and is no longer deleted)."""
        added, deleted = self.load()
        deleted.discard(query.id)
        self.save([q for q in added if q.id != query.id] + [query], deleted)

    def forget(self, query_id: str) -> None:
        """Record that the query ``query_id`` was deleted."""
        added, deleted = self.load()
        deleted.add(query_id)
        self.save([q for q in added if q.id != query_id], deleted)

    def save(self, added: list[Query], deleted: set[str]) -> None:
        data = {
            "added": [
                {"id": q.id, "text": q.text, "threshold": q.threshold, "cameras": list(q.cameras)} for q in added
            ],
            "deleted": sorted(deleted),
        }
        atomic_write(self.path, json.dumps(data, indent=2).encode())


def apply_overlay(configured: list[Query], store: QueryStore) -> list[Query]:
    """The configured queries, with the persisted run-time changes applied."""
    added, deleted = store.load()
    by_id = {q.id: q for q in configured if q.id not in deleted}
    for q in added:
        by_id[q.id] = q
    return list(by_id.values())


def _query_dict(q: Query) -> dict[str, Any]:
    return {"id": q.id, "text": q.text, "threshold": q.threshold, "cameras": list(q.cameras)}


class MqttApi:
    """Serve the command topics and Home Assistant discovery for one running service."""

    def __init__(
        self,
        service: Any,
        publisher: MqttPublisher,
        asker: Asker,
        discovery_prefix: str | None,
    ) -> None:
        self.service = service
        self.publisher = publisher
        self.asker = asker
        self.discovery_prefix = discovery_prefix
        self._discovered: set[str] = set()
        publisher.subscribe(publisher.topic("queries", "set"), self._on_set)
        publisher.subscribe(publisher.topic("queries", "+", "delete"), self._on_delete)
        publisher.subscribe(publisher.topic("ask"), self._on_ask)
        publisher.on_connect(self.publish_state)
        service.on_queries_changed(self.publish_state)

    # -- state ---------------------------------------------------------------------------------

    def publish_state(self) -> None:
        """The retained query list and the discovery configs (after connects and changes)."""
        queries = self.service.list_queries()
        payload = {"schema": 1, "queries": [_query_dict(q) for q in queries]}
        self.publisher.publish(self.publisher.topic("queries"), json.dumps(payload), retain=True)
        if self.discovery_prefix:
            self._discovery(queries)

    def _discovery(self, queries: list[Query]) -> None:
        p, d, prefix = self.publisher, self.discovery_prefix, self.publisher.settings.prefix
        device = {"identifiers": [f"feedwatch_{prefix}"], "name": f"feedwatch ({prefix})", "manufacturer": "feedwatch"}
        seen: set[str] = set()
        for cam in self.service.readers:
            uid = f"feedwatch_{prefix}_{cam}_status"
            seen.add(f"{d}/binary_sensor/{uid}/config")
            p.publish(f"{d}/binary_sensor/{uid}/config", json.dumps({
                "name": f"{cam} camera", "unique_id": uid, "device": device, "device_class": "connectivity",
                "state_topic": p.topic(cam, "status"), "value_template": _LIVE_TEMPLATE,
                "availability_topic": p.available_topic,
            }), retain=True)  # fmt: skip
            for q in queries:
                if not q.applies_to(cam):
                    continue
                uid = f"feedwatch_{prefix}_{cam}_{q.id}"
                seen.add(f"{d}/binary_sensor/{uid}/config")
                p.publish(f"{d}/binary_sensor/{uid}/config", json.dumps({
                    "name": f"{cam}: {q.text}", "unique_id": uid, "device": device, "device_class": "occupancy",
                    "state_topic": p.topic(cam, "query", q.id, "state"), "payload_on": "ON", "payload_off": "OFF",
                    "availability_topic": p.available_topic,
                }), retain=True)  # fmt: skip
                seen.add(f"{d}/image/{uid}_snapshot/config")
                p.publish(f"{d}/image/{uid}_snapshot/config", json.dumps({
                    "name": f"{cam}: {q.text} (snapshot)", "unique_id": f"{uid}_snapshot", "device": device,
                    "image_topic": p.topic(cam, "query", q.id, "snapshot"), "content_type": "image/jpeg",
                    "availability_topic": p.available_topic,
                }), retain=True)  # fmt: skip
        for gone in self._discovered - seen:  # entities of deleted queries disappear
            p.publish(gone, b"", retain=True)
        self._discovered = seen

    # -- commands ------------------------------------------------------------------------------

    def _reply(self, message: aiomqtt.Message, payload: dict[str, Any], body: dict[str, Any] | None) -> None:
        props = message.properties
        topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        if not topic and body is not None and isinstance(body.get("reply_to"), str):
            topic = body["reply_to"]
        if not topic or any(c in topic for c in "#+"):
            topic = self.publisher.topic("commands", "result")
        payload = {"schema": 1, "command": str(message.topic), **payload}
        self.publisher.publish(topic, json.dumps(payload), qos=1, correlation=correlation, durable=False)

    def _parse(self, message: aiomqtt.Message) -> dict[str, Any]:
        raw = message.payload
        if not isinstance(raw, (bytes, bytearray)):
            raw = str(raw).encode()
        if len(raw) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD}-byte limit")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"payload is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ValueError("payload must be a JSON object")
        return body

    async def _on_set(self, message: aiomqtt.Message) -> None:
        body: dict[str, Any] | None = None
        try:
            body = self._parse(message)
            fields = {k: v for k, v in body.items() if k != "reply_to"}
            try:
                cfg = QueryConfig.model_validate(fields)
            except ValidationError as exc:
                raise ValueError("; ".join(format_validation_error(exc))) from None
            query = Query(cfg.id, cfg.text, cfg.threshold, tuple(cfg.cameras))
            await self.service.set_query(query)
        except (ValueError, FeedwatchError) as exc:
            self._reply(message, {"ok": False, "error": str(exc)}, body)
            return
        self._reply(message, {"ok": True, "query": _query_dict(query)}, body)

    async def _on_delete(self, message: aiomqtt.Message) -> None:
        query_id = str(message.topic).split("/")[-2]
        body: dict[str, Any] | None = None
        try:
            if message.payload:
                body = self._parse(message)
        except ValueError as exc:
            self._reply(message, {"ok": False, "error": str(exc)}, None)
            return
        if not await self.service.delete_query(query_id):
            self._reply(message, {"ok": False, "error": f"no standing query {query_id!r}"}, body)
            return
        self._reply(message, {"ok": True, "deleted": query_id}, body)

    async def _on_ask(self, message: aiomqtt.Message) -> None:
        body: dict[str, Any] | None = None
        try:
            body = self._parse(message)
            question = body.get("question")
            if not isinstance(question, str):
                raise ValueError("'question' must be a non-empty string")
            answer = await self.asker.ask(question)
        except (ValueError, FeedwatchError) as exc:
            self._reply(message, {"ok": False, "error": str(exc)}, body)
            return
        self._reply(message, {"ok": True, **answer.to_dict()}, body)
