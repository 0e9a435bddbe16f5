"""MQTT topic names checked before anything is published to them.

A topic that is not valid UTF-8 makes the client library raise mid-publish; one with a NUL makes the broker drop
the connection, and a retried message would do it again forever; wildcards and ``$`` topics are not for publishing.
:func:`check_topic` refuses all of them up front, with a :class:`TopicError` that says why.
"""

from __future__ import annotations

from ..errors import PublishError

__all__ = ["MAX_TOPIC_BYTES", "TopicError", "check_topic", "under"]

MAX_TOPIC_BYTES = 65535  # the MQTT limit on a UTF-8 string


class TopicError(PublishError, ValueError):
    """A topic feedwatch will not publish to."""


def check_topic(topic: object, *, filter_ok: bool = False) -> str:
    """``topic`` if it is a topic one may publish to (or, with ``filter_ok``, subscribe with); else TopicError."""
    if not isinstance(topic, str) or not topic:
        raise TopicError("a topic must be a non-empty string")
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        raise TopicError("the topic is not valid UTF-8") from None
    if size > MAX_TOPIC_BYTES:
        raise TopicError(f"the topic is {size} bytes long; MQTT allows {MAX_TOPIC_BYTES}")
    if "\x00" in topic:
        raise TopicError("the topic holds a NUL character")
    if not filter_ok and ("+" in topic or "#" in topic):
        raise TopicError("the topic holds a wildcard (+ or #)")
    if topic.startswith("$"):
        raise TopicError("topics starting with $ belong to the broker")
    return topic


def under(topic: str, prefix: str) -> bool:
    """Whether ``topic`` lies below ``prefix`` (``prefix/...``), level by level."""
    return topic.startswith(prefix.rstrip("/") + "/") and len(topic) > len(prefix.rstrip("/")) + 1
