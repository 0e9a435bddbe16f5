"""The HTTP API as an extension of the service: the server, the event hub that feeds the page, the token.

It listens on 127.0.0.1 by default. Bound to any other address it refuses to start unless the environment
variable named by ``http.token_env`` holds a token; whenever that variable is set, every call but
``/api/health`` and the page itself needs it. A fleet's node also accepts the fleet's token (``fleet.token_env``),
which the nodes present to each other.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from streamer.errors import ConfigError
from streamer.reader import CameraStatus
from streamer.transport.events import EventHub
from streamer.transport.http import HttpServer, is_loopback

from ..config import HttpConfig
from ..service.port import AlertEvent, ServicePort
from .http_app import create_app
from .http_live import alert_view

__all__ = ["HttpApi"]


class HttpApi:
    """An extension of the service: the web page and the API, and the live events they show."""

    def __init__(self, config: HttpConfig, token: str | None, fleet_token: str | None = None) -> None:
        self.config = config
        self.token = token
        self.fleet_token = fleet_token
        self.hub = EventHub()
        self.bound_port: int | None = None
        self.app: Any = None  # the ASGI app, once started

    @classmethod
    def from_config(cls, config: HttpConfig, fleet_token: str | None = None) -> HttpApi:
        """Read the token from the environment; refuse an address other machines reach without one."""
        token = os.environ.get(config.token_env) or None
        if token is None and fleet_token is None and not is_loopback(config.host):
            raise ConfigError(
                f"http.host {config.host} is reachable from other machines, so the API needs a bearer token: set "
                f"the environment variable {config.token_env}, or bind http.host to 127.0.0.1"
            )
        return cls(config, token, fleet_token)

    async def start(self, port: ServicePort, stack: contextlib.AsyncExitStack) -> None:
        hub = self.hub

        async def alert(event: AlertEvent) -> None:
            hub.publish("alert", alert_view(event.alert, event.payload))

        def status(camera: str, value: CameraStatus) -> None:
            hub.publish("status", {"camera": camera, "status": value.value, "time": round(time.time(), 3)})

        port.on_alert(alert)
        port.on_status(status)
        port.on_outage(lambda outage: hub.publish("outage", {"event": "offline" if outage.end is None else "back",
                                                             **outage.to_dict()}))  # fmt: skip
        port.on_queries(lambda: hub.publish("queries", {"queries": [q.id for q in port.queries()]}))
        app = self.app = create_app(
            port, hub, self.token, fleet_token=self.fleet_token, max_body=self.config.max_body_kb * 1024
        )
        server = await stack.enter_async_context(HttpServer(app, self.config.host, self.config.port))
        server.on_stopped(lambda why: port.health.problem("http", f"the HTTP server stopped: {why}"))
        self.bound_port = server.bound_port
        stack.callback(hub.close)  # runs first on the way out: live streams end, then the server stops
