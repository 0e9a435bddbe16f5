"""The HTTP API and the web page of a running service (FastAPI; the OpenAPI document is at ``/openapi.json``).

- ``GET /`` the page; ``GET /api/health`` liveness (no token needed); ``POST /api/login`` sets the cookie the
  page uses when a token is configured; ``GET /metrics`` Prometheus metrics.
- Cameras, standing queries, alerts and live events: :mod:`.http_live`.
- Remembered moments, questions and the frames they cite: :mod:`.http_memory`.

Stream URLs and credentials never leave: cameras are shown by id, and errors pass the redaction helper.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from streamer.transport.events import EventHub
from streamer.transport.http import BodyLimit, token_matches

from ..service.port import ServicePort
from .http_live import live_routes
from .http_memory import memory_routes
from .metrics import metrics_text

__all__ = ["COOKIE", "create_app"]

COOKIE = "feedwatch_token"


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


def package_version() -> str:
    try:
        return version("feedwatch")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(port: ServicePort, hub: EventHub, token: str | None, *, max_body: int = 65536) -> Any:
    """The ASGI app for a running service; with a ``token`` every API call must present it."""
    app = FastAPI(
        title="feedwatch",
        version=package_version(),
        description="Cameras, standing queries, alerts, remembered moments and questions of a running feedwatch.",
        docs_url=None,
        redoc_url=None,
    )
    page = files("agents.api").joinpath("web", "index.html").read_text()

    def authorised(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else request.cookies.get(COOKIE)
        if not token_matches(given, token):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Liveness; needs no token and tells nothing about the cameras but how many are live."""
        reports = port.camera_reports()
        live = sum(r.status == "live" for r in reports)
        return {"status": "ok", "version": package_version(), "cameras": len(reports), "live": live}

    @app.post("/api/login", status_code=204)
    async def login(body: LoginIn, response: Response) -> None:
        """Check a token and set it as an HttpOnly same-site cookie (for the page, its images and event stream)."""
        if token is not None:
            if not token_matches(body.token, token):
                raise HTTPException(401, "wrong token")
            response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", path="/")

    guarded = [Depends(authorised)]
    app.include_router(live_routes(port, hub), prefix="/api", dependencies=guarded)
    app.include_router(memory_routes(port), prefix="/api", dependencies=guarded)

    @app.get("/metrics", dependencies=guarded, response_class=Response)
    async def metrics() -> Response:
        return Response(metrics_text(port, hub), media_type="text/plain; version=0.0.4; charset=utf-8")

    return BodyLimit(app, max_body)
