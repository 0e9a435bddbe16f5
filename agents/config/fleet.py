"""A fleet: several nodes sharing cameras and queries through PostgreSQL."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .common import Identifier, Strict
from .storage import postgres_url


class FleetSettings(Strict):
    """This node's place in a fleet of feedwatch nodes sharing one PostgreSQL (see the README, "Running a fleet")."""

    node_id: Identifier = Field(
        default_factory=lambda: _node_name(), description="This node's name in the fleet (default: the host name)."
    )
    url: str | None = Field(
        default=None,
        description="The fleet's PostgreSQL (postgresql://...): cameras, queries and leases; default memory.url.",
    )
    max_cameras: int = Field(default=64, ge=1, le=10_000, description="Cameras this node holds at most.")
    lease_s: float = Field(
        default=10.0, ge=1, le=600, description="A camera's lease lasts this long unless renewed (failover time)."
    )
    renew_s: float = Field(default=2.0, gt=0, le=120, description="How often the node renews its leases.")
    advertise: str | None = Field(
        default=None,
        description="The address other nodes reach this node's HTTP API at (http://host:port); default: http.host "
        "and the bound port, with the host name when http.host is every address.",
    )
    token_env: str = Field(
        default="FEEDWATCH_FLEET_TOKEN",
        description="Environment variable holding the token the fleet's nodes present to each other's HTTP API "
        "(for recent frames of the cameras they hold); each node's API accepts it beside its own http token. "
        "Unset: the node presents its http token.",
    )
    fetch_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a question waits for another node's recent frames: a dead node costs only its own.",
    )

    @field_validator("advertise")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"advertise must be an http:// or https:// URL, not {url!r}")
        return url.rstrip("/") if url is not None else None

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        return postgres_url(url)

    @model_validator(mode="after")
    def _renews_in_time(self) -> FleetSettings:
        if self.renew_s * 2 > self.lease_s:
            raise ValueError(f"renew_s ({self.renew_s:g}) must be at most half of lease_s ({self.lease_s:g})")
        return self


def _node_name() -> str:
    """The host name as an identifier (letters, digits, '-' and '_')."""
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64] or "node"
