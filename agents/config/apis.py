"""The APIs: MQTT publishing and commands, and the HTTP API with its web page."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from streamer.transport.topics import TopicError, check_topic

from .common import Strict


class MqttConfig(Strict):
    """The MQTT broker alerts and state are published to."""

    enabled: bool = Field(default=False, description="Publish over MQTT.")
    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    prefix: str = Field(
        default="feedwatch", max_length=200, pattern=r"^[^#+\s]+$", description="Topic prefix (no wildcards)."
    )
    client_id: str | None = Field(default=None, description="MQTT client id; random when unset.")
    username: str | None = Field(default=None, description="User name; use ${ENV} placeholders for secrets.")
    password: str | None = Field(default=None, description="Password; use ${ENV} placeholders for secrets.")
    qos: Literal[0, 1, 2] = Field(default=1, description="QoS of event messages.")
    keepalive_s: int = Field(
        default=30, ge=5, le=3600, description="MQTT keepalive; the broker sends the last will after 1.5x."
    )
    tls_ca: Path | None = Field(default=None, description="CA bundle; enables TLS.")
    tls_cert: Path | None = Field(default=None, description="Client certificate for mutual TLS.")
    tls_key: Path | None = Field(default=None, description="Client key for mutual TLS.")
    discovery_prefix: str | None = Field(
        default="homeassistant",
        description="Home Assistant MQTT discovery prefix; null or empty turns discovery off.",
    )
    outbox: bool = Field(
        default=True, description="Keep undelivered events in a durable outbox (in the memory folder)."
    )
    commands: bool = Field(
        default=True,
        description="Serve the command topics (<prefix>/queries/set, <prefix>/queries/<id>/delete, <prefix>/ask); "
        "false turns them off entirely. Restrict who may publish to them with the broker's ACL (see the README).",
    )
    reply_prefix: str | None = Field(
        default=None,
        max_length=200,
        description="Replies to commands go only to topics under this prefix (default '<prefix>/reply'); a command "
        "naming any other reply topic is refused on <prefix>/commands/result.",
    )

    @field_validator("username", "password", "client_id", "reply_prefix", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("prefix", "reply_prefix", "discovery_prefix")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value:
            try:
                check_topic(value)
            except TopicError as exc:
                raise ValueError(f"not a topic feedwatch can publish under: {exc}") from None
        return value

    @property
    def replies_under(self) -> str:
        """The topic prefix replies to commands are confined to."""
        return (self.reply_prefix or f"{self.prefix}/reply").rstrip("/")


class HttpConfig(Strict):
    """The HTTP API and web page the running service serves."""

    enabled: bool = Field(default=True, description="Serve the HTTP API and the web page (feedwatch run).")
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on. Anything but a loopback address needs a bearer token (see token_env).",
    )
    port: int = Field(default=8765, ge=0, le=65535, description="Port to listen on; 0 picks a free one (logged).")
    token_env: str = Field(
        default="FEEDWATCH_API_TOKEN",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the bearer token. When it is set, every API call needs it "
        "(header 'Authorization: Bearer ...', or the cookie the page's sign-in sets).",
    )
    max_body_kb: int = Field(
        default=256,
        ge=1,
        le=4096,
        description="Largest request body accepted, KiB; the default holds the largest valid one (a camera's 32 "
        "masks and 32 zones of 64 points, about 210 KiB).",
    )
