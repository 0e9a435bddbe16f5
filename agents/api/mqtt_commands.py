"""MQTT commands: standing-query management and questions.

Command topics (all payloads JSON objects, at most ``MAX_PAYLOAD`` bytes):

- ``<prefix>/queries/set``: ``{"id": "door", "text": "a person opens the door", "cameras": [], "threshold": 3}``
  adds or replaces a standing query.
- ``<prefix>/queries/<id>/delete``: removes one.
- ``<prefix>/<camera-or-all>/query/<id>/armed/set``: ``ON`` or ``OFF`` (plain text, as Home Assistant's switch
  sends) arms or disarms a query on one camera or on all; the retained state is ``.../armed``.
- ``<prefix>/alerts/<id>/feedback``: ``{"match": false}`` marks an ended alert wrong (``true``: right).
- ``<prefix>/ask``: ``{"question": "when did the courier leave?"}``; the answer (over the memory and the
  cameras' rolling buffers) with its citations goes to the MQTT 5 response topic (with the request's
  correlation data), or to ``reply_to`` in the payload for MQTT 3.1.1 clients.

Every command is answered on its reply topic (the response topic, ``reply_to``, else
``<prefix>/commands/result``) with ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a refused
command changes nothing. Query changes are handled in arrival order; questions run side by side.

Replies go only under ``mqtt.reply_prefix`` (default ``<prefix>/reply``): a command naming any other reply topic
(feedwatch's own state topics, another system's) is refused, with the reason on ``<prefix>/commands/result``, and
not run. Payloads are parsed with limits (:mod:`streamer.jsonsafe`: depth, finite numbers, valid UTF-8).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiomqtt
from pydantic import ValidationError

from streamer import jsonsafe
from streamer.errors import FeedwatchError
from streamer.transport.mqtt import MqttPublisher
from streamer.transport.topics import TopicError, check_topic, under

from ..config import QueryConfig, format_validation_error
from ..scoring import Query
from ..service.port import ServicePort

__all__ = ["MAX_PAYLOAD", "MqttCommands"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8192


class MqttCommands:
    """Serve the command topics of one running service."""

    def __init__(self, port: ServicePort, publisher: MqttPublisher, *, replies_under: str) -> None:
        self.port = port
        self.publisher = publisher
        self.replies_under = replies_under
        self.result_topic = publisher.topic("commands", "result")
        publisher.subscribe(publisher.topic("queries", "set"), self._on_set)
        publisher.subscribe(publisher.topic("queries", "+", "delete"), self._on_delete)
        publisher.subscribe(publisher.topic("+", "query", "+", "armed", "set"), self._on_arm)
        publisher.subscribe(publisher.topic("alerts", "+", "feedback"), self._on_feedback)
        publisher.subscribe(publisher.topic("ask"), self._on_ask, concurrent=True)

    def reply_topic(self, message: aiomqtt.Message, body: dict[str, Any] | None) -> str:
        """Where the answer to ``message`` goes; :class:`ValueError` when it names a topic replies may not go to."""
        props = message.properties
        asked: object = getattr(props, "ResponseTopic", None) if props is not None else None
        if not asked and body is not None:
            asked = body.get("reply_to")
        if asked is None or asked == "":
            return self.result_topic
        try:
            topic = check_topic(asked)
        except TopicError as exc:
            raise ValueError(f"reply topic refused: {exc}") from None
        if not under(topic, self.replies_under):
            raise ValueError(
                f"reply topic {topic!r} refused: replies go only under {self.replies_under}/ (mqtt.reply_prefix)"
            )
        return topic

    def _reply(self, message: aiomqtt.Message, payload: dict[str, Any], topic: str | None) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        payload = {"schema": 1, "command": str(message.topic), **payload}
        self.publisher.publish(topic or self.result_topic, json.dumps(payload), qos=1, correlation=correlation)

    def _refuse(self, message: aiomqtt.Message, error: str, topic: str | None) -> None:
        log.warning("MQTT command on %s refused: %s", message.topic, error)
        self._reply(message, {"ok": False, "error": error}, topic)

    def _parse(self, message: aiomqtt.Message) -> dict[str, Any]:
        raw = message.payload
        if not isinstance(raw, (bytes, bytearray)):
            raw = str(raw).encode()
        if len(raw) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD}-byte limit")
        try:
            body = jsonsafe.loads(raw)
        except ValueError as exc:
            raise ValueError(f"payload refused: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("payload must be a JSON object")
        return body

    def _accept(self, message: aiomqtt.Message, *, body_needed: bool) -> tuple[dict[str, Any] | None, str] | None:
        """The command's body and reply topic; None when it was refused (and the refusal sent)."""
        body: dict[str, Any] | None = None
        try:
            if body_needed or message.payload:
                body = self._parse(message)
        except ValueError as exc:
            try:  # the response topic (a property) may still be good even when the payload is not
                topic = self.reply_topic(message, None)
            except ValueError:
                topic = self.result_topic
            self._refuse(message, str(exc), topic)
            return None
        try:
            return body, self.reply_topic(message, body)
        except ValueError as exc:
            self._refuse(message, str(exc), self.result_topic)  # nothing is run for a refused reply topic
            return None

    async def _on_set(self, message: aiomqtt.Message) -> None:
        if (accepted := self._accept(message, body_needed=True)) is None:
            return
        body, topic = accepted
        assert body is not None
        try:
            fields = {k: v for k, v in body.items() if k != "reply_to"}
            try:
                query = Query.from_config(QueryConfig.model_validate(fields))
            except ValidationError as exc:
                raise ValueError("; ".join(format_validation_error(exc))) from None
            await self.port.set_query(query)
        except (ValueError, FeedwatchError) as exc:
            self._refuse(message, str(exc), topic)
            return
        self._reply(message, {"ok": True, "query": query.to_dict()}, topic)

    async def _on_delete(self, message: aiomqtt.Message) -> None:
        if (accepted := self._accept(message, body_needed=False)) is None:
            return
        _, topic = accepted
        query_id = str(message.topic).split("/")[-2]
        if not await self.port.delete_query(query_id):
            self._refuse(message, f"no standing query {query_id!r}", topic)
            return
        self._reply(message, {"ok": True, "deleted": query_id}, topic)

    async def _on_arm(self, message: aiomqtt.Message) -> None:
        parts = str(message.topic).split("/")
        camera, query_id = parts[-5], parts[-3]
        raw = message.payload if isinstance(message.payload, (bytes, bytearray)) else str(message.payload).encode()
        word = bytes(raw[:16]).strip().upper()
        if word not in (b"ON", b"OFF"):
            self._refuse(message, "payload must be ON or OFF", self.result_topic)
            return
        try:
            query = await self.port.arm_query(query_id, word == b"ON", None if camera == "all" else camera)
        except FeedwatchError as exc:
            self._refuse(message, str(exc), self.result_topic)
            return
        if query is None:
            self._refuse(message, f"no standing query {query_id!r}", self.result_topic)
            return
        self._reply(message, {"ok": True, "query": query.to_dict()}, self.result_topic)

    async def _on_feedback(self, message: aiomqtt.Message) -> None:
        if (accepted := self._accept(message, body_needed=True)) is None:
            return
        body, topic = accepted
        assert body is not None
        alert_id = str(message.topic).split("/")[-2]
        match = body.get("match")
        if not isinstance(match, bool):
            self._refuse(message, "'match' must be true or false", topic)
            return
        try:
            mark = await self.port.feedback(alert_id, match)
        except FeedwatchError as exc:
            self._refuse(message, str(exc), topic)
            return
        if mark is None:
            self._refuse(message, f"no ended alert {alert_id!r}", topic)
            return
        self._reply(message, {"ok": True, "feedback": mark.to_dict()}, topic)

    async def _on_ask(self, message: aiomqtt.Message) -> None:
        if (accepted := self._accept(message, body_needed=True)) is None:
            return
        body, topic = accepted
        assert body is not None
        try:
            question = body.get("question")
            if not isinstance(question, str):
                raise ValueError("'question' must be a non-empty string")
            answer = await self.port.ask(question)
        except (ValueError, FeedwatchError) as exc:
            self._refuse(message, str(exc), topic)
            return
        self._reply(message, {"ok": True, **answer.to_dict()}, topic)
