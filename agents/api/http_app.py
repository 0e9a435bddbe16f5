"""The HTTP API and the web page of a running service (FastAPI; the OpenAPI document is at ``/openapi.json``).

- ``GET /`` the page; ``GET /api/health`` liveness (no token needed); ``POST /api/login`` sets the cookie the
  page uses when a token is configured; ``GET /metrics`` Prometheus metrics.
- Cameras, standing queries, alerts and live events: :mod:`.http_live`.
- Remembered moments, questions and the frames they cite: :mod:`.http_memory`.

Stream URLs and credentials never leave: cameras are shown by id, and errors pass the redaction helper.
"""

from __future__ import annotations

import functools
import json
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from streamer.transport.events import EventHub
from streamer.transport.http import BodyLimit, JsonGuard, ResponseCounter, token_matches

from ..service.port import ServicePort
from .http_live import ErrorOut, live_routes
from .http_memory import memory_routes
from .metrics import metrics_text

__all__ = ["COOKIE", "create_app"]

COOKIE = "feedwatch_token"


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unhealthy"] = Field(
        description="'unhealthy' (with HTTP 503) while a stage is down or a part reports a problem; 'degraded' (HTTP "
        "200) while a dependency is away and feedwatch works around it (the scoring model, the memory)."
    )
    version: str
    cameras: int = Field(description="Cameras configured.")
    live: int = Field(description="Cameras delivering frames now.")
    problems: dict[str, str] = Field(
        description="What is wrong, by part (a stage, 'mqtt', 'http'); only the parts' names without the token."
    )
    restarts: dict[str, int] = Field(description="Times each stage failed on a bug and was restarted.")
    degraded: dict[str, str] = Field(
        default_factory=dict,
        description="Dependencies that are away, by part ('scorer', 'memory'): what, since when, why; only the "
        "parts' names without the token.",
    )


def package_version() -> str:
    try:
        return version("feedwatch")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(
    port: ServicePort, hub: EventHub, token: str | None, *, fleet_token: str | None = None, max_body: int = 65536
) -> Any:
    """The ASGI app for a running service; with a ``token`` every API call must present it (or the fleet's token,
    which a fleet's nodes present to each other, when there is one)."""
    tokens = [t for t in (token, fleet_token) if t is not None]
    app = FastAPI(
        title="feedwatch",
        version=package_version(),
        description="Cameras, standing queries, alerts, remembered moments and questions of a running feedwatch.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind the token: it names the cameras and zones
    )
    page = files("agents.api").joinpath("web", "index.html").read_text()
    app.openapi = functools.partial(_openapi_now, app, port)  # type: ignore[method-assign]

    def has_token(request: Request) -> bool:
        if not tokens:
            return True
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else request.cookies.get(COOKIE)
        return any([token_matches(given, t) for t in tokens])  # a list: both compared, whichever matches

    def authorised(request: Request) -> None:
        if not has_token(request):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/api/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
    async def health(request: Request, response: Response) -> HealthOut:
        """Health: 200 and 'ok', or 503 and 'unhealthy' with what is wrong. Needs no token; without it, problems
        are named but not described, and nothing is said about the cameras but how many are live."""
        reports = port.camera_reports()
        report = port.health.report()
        if not report.healthy:
            response.status_code = 503
        told = has_token(request)
        problems = report.problems if told else {part: "" for part in report.problems}
        degraded = report.degraded if told else {part: "" for part in report.degraded}
        return HealthOut(
            status=report.status, version=package_version(), cameras=len(reports),  # type: ignore[arg-type]
            live=sum(r.status == "live" for r in reports), problems=problems, restarts=report.restarts,
            degraded=degraded,
        )  # fmt: skip

    @app.post("/api/login", status_code=204, responses={401: {"model": ErrorOut, "description": "Wrong token."}})
    async def login(body: LoginIn, response: Response) -> None:
        """Check a token and set it as an HttpOnly same-site cookie (for the page, its images and event stream)."""
        if tokens:
            if not any([token_matches(body.token, t) for t in tokens]):
                raise HTTPException(401, "wrong token")
            response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", path="/")

    guarded = [Depends(authorised)]
    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorOut, "description": "A bearer token is required (when one is configured)."},
        413: {"model": ErrorOut, "description": "The request body is over the limit (http.max_body_kb)."},
    }
    app.include_router(live_routes(port, hub), prefix="/api", dependencies=guarded, responses=errors)
    app.include_router(memory_routes(port), prefix="/api", dependencies=guarded, responses=errors)
    outer = ResponseCounter(BodyLimit(JsonGuard(app), max_body))

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/metrics", dependencies=guarded, response_class=Response, responses=errors)
    async def metrics() -> Response:
        text = metrics_text(port, hub, outer.counts)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own handler echoes each error's input, and fails (a 500) on a body of bytes that are not UTF-8.
        return JSONResponse({"detail": [_echoable(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # Starlette names only the first route's methods; name every one on the path
            allowed = sorted({m for r in app.routes if isinstance(r, APIRoute) and r.matches(request.scope)[0]
                              is Match.PARTIAL for m in r.methods or ()})  # fmt: skip
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, exc)

    return outer


def _echoable(error: Any) -> dict[str, Any]:
    """A validation error as a response shows it: its input only if that is printable JSON text."""
    out = {"type": str(error.get("type", "")), "loc": [str(x) if not isinstance(x, int) else x for x in
           error.get("loc", ())], "msg": str(error.get("msg", ""))}  # fmt: skip
    try:
        json.dumps(error.get("input"), allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        return out
    return {**out, "input": error.get("input")}


def _openapi_now(app: Any, port: ServicePort) -> dict[str, Any]:
    """The OpenAPI document as the service is now: the cameras (and zones) a query may name are listed, and the
    document is made afresh each time, so it follows reloads and camera changes."""
    app.openapi_schema = None
    schema: dict[str, Any] = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    cameras = sorted(c.id for c in port.config.cameras)
    # Zones every camera has are valid for any query; others only for some cameras, which a schema cannot say.
    shared = sorted(set.intersection(*(set(c.zones) for c in port.config.cameras))) if cameras else []
    for name in ("QueryConfig", "QueryPatch"):
        props = schema.get("components", {}).get("schemas", {}).get(name, {}).get("properties", {})
        for field, allowed in (("cameras", cameras), ("disarmed", cameras), ("zones", shared)):
            spec = props.get(field)
            if spec is None:
                continue
            for option in spec.get("anyOf", [spec]):
                if option.get("type") == "array":
                    if allowed:
                        option["items"] = {"type": "string", "enum": allowed}
                    else:
                        option["maxItems"] = 0
    return schema
