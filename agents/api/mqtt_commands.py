"""MQTT commands: standing-query management and questions.

Command topics (all payloads JSON objects, at most ``MAX_PAYLOAD`` bytes):

- ``<prefix>/queries/set``: ``{"id": "door", "text": "a person opens the door", "cameras": [], "threshold": 3}``
  adds or replaces a standing query.
- ``<prefix>/queries/<id>/delete``: removes one.
- ``<prefix>/ask``: ``{"question": "when did the courier leave?"}``; the answer (over the memory and the
  cameras' rolling buffers) with its citations goes to the MQTT 5 response topic (with the request's
  correlation data), or to ``reply_to`` in the payload for MQTT 3.1.1 clients.

Every command is answered on its reply topic (the response topic, ``reply_to``, else
``<prefix>/commands/result``) with ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a refused
command changes nothing. Query changes are handled in arrival order; questions run side by side.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiomqtt
from pydantic import ValidationError

from streamer.errors import FeedwatchError
from streamer.transport.mqtt import MqttPublisher

from ..config import QueryConfig, format_validation_error
from ..scoring import Query
from ..service.port import ServicePort

__all__ = ["MAX_PAYLOAD", "MqttCommands"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8192


class MqttCommands:
    """Serve the command topics of one running service."""

    def __init__(self, port: ServicePort, publisher: MqttPublisher) -> None:
        self.port = port
        self.publisher = publisher
        publisher.subscribe(publisher.topic("queries", "set"), self._on_set)
        publisher.subscribe(publisher.topic("queries", "+", "delete"), self._on_delete)
        publisher.subscribe(publisher.topic("ask"), self._on_ask, concurrent=True)

    def _reply(self, message: aiomqtt.Message, payload: dict[str, Any], body: dict[str, Any] | None) -> None:
        props = message.properties
        topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        if not topic and body is not None and isinstance(body.get("reply_to"), str):
            topic = body["reply_to"]
        if not topic or any(c in topic for c in "#+"):
            topic = self.publisher.topic("commands", "result")
        payload = {"schema": 1, "command": str(message.topic), **payload}
        self.publisher.publish(topic, json.dumps(payload), qos=1, correlation=correlation)

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
                query = Query.from_config(QueryConfig.model_validate(fields))
            except ValidationError as exc:
                raise ValueError("; ".join(format_validation_error(exc))) from None
            await self.port.set_query(query)
        except (ValueError, FeedwatchError) as exc:
            self._reply(message, {"ok": False, "error": str(exc)}, body)
            return
        self._reply(message, {"ok": True, "query": query.to_dict()}, body)

    async def _on_delete(self, message: aiomqtt.Message) -> None:
        query_id = str(message.topic).split("/")[-2]
        body: dict[str, Any] | None = None
        try:
            if message.payload:
                body = self._parse(message)
        except ValueError as exc:
            self._reply(message, {"ok": False, "error": str(exc)}, None)
            return
        if not await self.port.delete_query(query_id):
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
            answer = await self.port.ask(question)
        except (ValueError, FeedwatchError) as exc:
            self._reply(message, {"ok": False, "error": str(exc)}, body)
            return
        self._reply(message, {"ok": True, **answer.to_dict()}, body)
