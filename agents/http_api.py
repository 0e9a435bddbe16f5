"""The HTTP API and the web page of a running service (FastAPI; the OpenAPI document is at ``/openapi.json``).

- ``GET /`` the page; ``GET /api/health`` liveness (no token needed); ``POST /api/login`` sets the cookie the
  page uses when a token is configured.
- ``GET /api/cameras``, ``GET /api/cameras/{id}/snapshot.jpg``: cameras, their status and counters, and the
  newest buffered frame.
- ``GET|POST /api/queries``, ``DELETE /api/queries/{id}``: the standing queries (persisted like the MQTT ones).
- ``GET /api/alerts``: open alerts and ended ones (filtered by camera, query and time; paged);
  ``GET /api/alerts/{id}/snapshot.jpg``.
- ``GET /api/moments`` (search by text, camera, query, time), ``GET /api/moments/{id}``, its ``thumbnail.jpg``.
- ``POST /api/ask``: an answer with its citations; ``GET /api/asked/{name}`` the buffered frames it cited.
- ``GET /api/events``: server-sent events ``alert``, ``status`` and ``queries``.
- ``GET /metrics``: Prometheus metrics.

Stream URLs and credentials never leave: cameras are shown by id, and errors pass the redaction helper.
"""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from streamer import BodyLimit, FeedwatchError, ModelError, redact_text, token_matches

from .alerts import alert_view
from .asker import MAX_QUESTION
from .config import QueryConfig
from .memory import Moment
from .metrics import metrics_text
from .retrieval import question_words, shared_words
from .scoring import Query as StandingQuery
from .selection import text_vector

if TYPE_CHECKING:
    from .service import Service

__all__ = ["COOKIE", "create_app"]

COOKIE = "feedwatch_token"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.jpg$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


class CameraOut(BaseModel):
    id: str
    status: str
    error: str | None = Field(description="The last error, with any credentials masked.")
    decoded: int
    sampled: int
    dropped: int
    reconnects: int
    scored: int
    skipped: int
    alerts: int
    open_alerts: int
    lag_s: float
    buffer_frames: int
    buffer_seconds: float
    latest: float | None = Field(description="Wall-clock time of the newest buffered frame (Unix seconds).")
    snapshot_url: str


class QueryOut(BaseModel):
    id: str
    text: str
    threshold: float
    cameras: list[str]


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION, description="The question, in plain language.")
    limit: int = Field(default=5, ge=1, le=50, description="Moments or frames an extractive answer cites at most.")


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


def _version() -> str:
    try:
        return version("feedwatch")
    except PackageNotFoundError:
        return "0+unknown"


def _query_out(q: StandingQuery) -> QueryOut:
    return QueryOut(id=q.id, text=q.text, threshold=q.threshold, cameras=list(q.cameras))


def _moment_out(m: Moment, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {k: v for k, v in m.to_dict().items() if k != "thumbnail"}
    out["thumbnail_url"] = f"/api/moments/{m.id}/thumbnail.jpg" if m.thumbnail else None
    return {**out, **(extra or {})}


def _page(search: str, found: list[Moment], limit: int) -> dict[str, Any]:
    return {"search": search, "items": [_moment_out(m) for m in found[:limit]], "more": len(found) > limit}


def _jpeg(path: str | None, root: Path) -> FileResponse:
    """A JPEG under the memory folder, or 404 (never a file outside it)."""
    if path:
        target = Path(path).resolve()
        if target.is_relative_to(root.resolve()) and target.is_file():
            return FileResponse(target, media_type="image/jpeg")
    raise HTTPException(404, "no such image (it may have been removed by retention)")


def create_app(service: Service, token: str | None, *, max_body: int = 65536) -> Any:
    """The ASGI app for ``service``; with a ``token`` every API call must present it."""
    app = FastAPI(
        title="feedwatch",
        version=_version(),
        description="Cameras, standing queries, alerts, remembered moments and questions of a running feedwatch.",
        docs_url=None,
        redoc_url=None,
    )
    page = files("agents").joinpath("web", "index.html").read_text()

    def authorised(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else request.cookies.get(COOKIE)
        if not token_matches(given, token):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    def memory_root() -> Path:
        return service.config.memory.path

    def need_memory() -> Any:
        if service.memory is None:
            raise HTTPException(503, "the service is starting")
        return service.memory

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Liveness; needs no token and tells nothing about the cameras but how many are live."""
        reports = service.camera_reports()
        live = sum(r.status == "live" for r in reports)
        return {"status": "ok", "version": _version(), "cameras": len(reports), "live": live}

    @app.post("/api/login", status_code=204)
    async def login(body: LoginIn, response: Response) -> None:
        """Check a token and set it as an HttpOnly same-site cookie (for the page, its images and event stream)."""
        if token is not None:
            if not token_matches(body.token, token):
                raise HTTPException(401, "wrong token")
            response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", path="/")

    api = APIRouter(prefix="/api", dependencies=[Depends(authorised)])

    @api.get("/cameras", response_model=list[CameraOut])
    async def cameras() -> list[CameraOut]:
        out = []
        for r in service.camera_reports():
            buf, reader = service.buffers[r.camera], service.readers[r.camera]
            newest = buf.latest(1)
            out.append(
                CameraOut(
                    id=r.camera, status=r.status, error=redact_text(reader.last_error) if reader.last_error else None,
                    decoded=r.decoded, sampled=r.sampled, dropped=r.dropped, reconnects=r.reconnects, scored=r.scored,
                    skipped=r.skipped, alerts=r.alerts, lag_s=r.lag_s, buffer_frames=len(buf),
                    open_alerts=service.open_alert_count(r.camera),
                    buffer_seconds=round(buf.seconds, 3), latest=newest[0].wall if newest else None,
                    snapshot_url=f"/api/cameras/{r.camera}/snapshot.jpg",
                )
            )  # fmt: skip
        return out

    @api.get(
        "/cameras/{camera}/snapshot.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
    )
    async def camera_snapshot(camera: str) -> Response:
        buf = service.buffers.get(camera)
        if buf is None:
            raise HTTPException(404, f"no camera {camera!r}")
        newest = buf.latest(1)
        if not newest or newest[0].snapshot is None:
            raise HTTPException(404, f"camera {camera!r} has no frame yet")
        return Response(newest[0].snapshot, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @api.get("/queries", response_model=list[QueryOut])
    async def list_queries() -> list[QueryOut]:
        return [_query_out(q) for q in service.list_queries()]

    @api.post("/queries", response_model=QueryOut, status_code=201)
    async def set_query(body: QueryConfig) -> QueryOut:
        """Add or replace a standing query."""
        query = StandingQuery(body.id, body.text, body.threshold, tuple(body.cameras))
        try:
            await service.set_query(query)
        except FeedwatchError as exc:
            raise HTTPException(400, str(exc)) from None
        return _query_out(query)

    @api.delete("/queries/{query_id}", status_code=204)
    async def delete_query(query_id: str) -> None:
        if not await service.delete_query(query_id):
            raise HTTPException(404, f"no standing query {query_id!r}")

    @api.get("/alerts")
    async def alerts(
        camera: str | None = None,
        query: Annotated[str | None, Query(description="A standing query id.")] = None,
        since: Annotated[float | None, Query(description="Unix seconds.")] = None,
        until: Annotated[float | None, Query(description="Unix seconds.")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Open alerts, then ended ones newest first (paged with ``limit`` and ``offset``)."""
        memory = need_memory()
        opened = [
            alert_view(a)
            for a in service.open_alerts.values()
            if (camera is None or a.camera == camera) and (query is None or a.query_id == query)
        ]
        ended = await asyncio.to_thread(
            memory.search, camera=camera, query_id=query, since=since, until=until, kind="alert",
            limit=limit + 1, offset=offset,
        )  # fmt: skip
        items = [_moment_out(m) for m in ended[:limit]]
        return {"open": opened, "items": items, "next_offset": offset + limit if len(ended) > limit else None}

    @api.get("/alerts/{alert_id}/snapshot.jpg", response_class=FileResponse)
    async def alert_snapshot(alert_id: str) -> FileResponse:
        open_alert = service.open_alerts.get(alert_id)
        if open_alert is not None:
            return _jpeg(open_alert.snapshot_path, memory_root())
        if not _ID.match(alert_id):
            raise HTTPException(404, "no such alert")
        moment = await asyncio.to_thread(need_memory().get, alert_id)
        if moment is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        return _jpeg(moment.thumbnail, memory_root())

    @api.get("/moments")
    async def moments(
        q: Annotated[str | None, Query(max_length=500, description="Text to search for.")] = None,
        camera: str | None = None,
        query: Annotated[str | None, Query(description="A standing query id.")] = None,
        since: Annotated[float | None, Query(description="Unix seconds.")] = None,
        until: Annotated[float | None, Query(description="Unix seconds.")] = None,
        kind: Annotated[str | None, Query(pattern="^(alert|context)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Remembered moments, newest first; with ``q``, by similarity (embedding model) or shared words."""
        memory = need_memory()
        selection = service.asker.selection if service.asker is not None else None

        def run() -> dict[str, Any]:
            filters = {"camera": camera, "since": since, "until": until}
            if q and q.strip():
                vector = text_vector(selection, q) if selection is not None and memory.semantic_search else None
                if vector is not None:
                    hits = memory.search_similar(vector, k=offset + limit + 1, query_id=query, **filters)
                    page = hits[offset : offset + limit + 1]
                    items = [_moment_out(h.moment, {"similarity": round(h.similarity, 4)}) for h in page[:limit]]
                    return {"search": "embedding", "items": items, "more": len(page) > limit}
                words = question_words(q)
                found = [
                    m for m in memory.search(query_id=query, kind=kind, limit=2000, **filters) if shared_words(words, m)
                ]
                page_m = found[offset : offset + limit + 1]
                return {
                    "search": "words",
                    "items": [_moment_out(m) for m in page_m[:limit]],
                    "more": len(page_m) > limit,
                }
            listed = memory.search(query_id=query, kind=kind, limit=limit + 1, offset=offset, **filters)
            return {"search": "filters", "items": [_moment_out(m) for m in listed[:limit]], "more": len(listed) > limit}

        result = await asyncio.to_thread(run)
        result["next_offset"] = offset + limit if result.pop("more") else None
        return result

    @api.get("/moments/{moment_id}")
    async def moment(moment_id: str) -> dict[str, Any]:
        found = await asyncio.to_thread(need_memory().get, moment_id)
        if found is None:
            raise HTTPException(404, f"no moment {moment_id!r}")
        return _moment_out(found)

    @api.get("/moments/{moment_id}/thumbnail.jpg", response_class=FileResponse)
    async def moment_thumbnail(moment_id: str) -> FileResponse:
        found = await asyncio.to_thread(need_memory().get, moment_id)
        if found is None:
            raise HTTPException(404, f"no moment {moment_id!r}")
        return _jpeg(found.thumbnail, memory_root())

    @api.post("/ask")
    async def ask(body: Annotated[AskIn, Body()]) -> dict[str, Any]:
        """Answer a question over the memory and the rolling buffers; the answer cites what it used."""
        if service.asker is None:
            raise HTTPException(503, "the service is starting")
        try:
            answer = await service.asker.ask(body.question, limit=body.limit)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        except (ModelError, FeedwatchError) as exc:
            raise HTTPException(503, redact_text(str(exc))) from None
        service.asks += 1
        out = answer.to_dict()
        for c in out["citations"]:  # type: ignore[attr-defined]
            path = c.pop("thumbnail")
            if c["moment_id"]:
                c["thumbnail_url"] = f"/api/moments/{c['moment_id']}/thumbnail.jpg" if path else None
            else:
                c["thumbnail_url"] = f"/api/asked/{Path(path).name}" if path else None
        return out

    @api.get("/asked/{name}", response_class=FileResponse)
    async def asked_frame(name: str) -> FileResponse:
        if not _NAME.match(name):
            raise HTTPException(404, "no such frame")
        return _jpeg(str(memory_root() / "asked" / name), memory_root())

    @api.get("/events", response_class=StreamingResponse)
    async def events() -> StreamingResponse:
        """Server-sent events: ``alert`` (new, update, end), ``status`` (camera status), ``queries``."""
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(service.events.stream(), media_type="text/event-stream", headers=headers)

    app.include_router(api)

    @app.get("/metrics", dependencies=[Depends(authorised)], response_class=Response)
    async def metrics() -> Response:
        return Response(metrics_text(service), media_type="text/plain; version=0.0.4; charset=utf-8")

    return BodyLimit(app, max_body)
