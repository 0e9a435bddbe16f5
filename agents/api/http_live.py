"""HTTP routes for what is happening now: cameras, standing queries, alerts, and the live event stream.

- ``GET /api/cameras``, ``GET /api/cameras/{id}/snapshot.jpg``: cameras, their status and counters, and the
  newest buffered frame; ``GET /api/cameras/{id}/clip.mp4?since=&until=``: any range still in its kept packets;
  ``GET /api/cameras/{id}/frames?since=&until=&limit=``: buffered frames spread over a range (what a fleet's node
  asks the node holding a camera for, to answer a question); ``GET /api/fleet``: a fleet's nodes and their cameras.
- ``GET|POST /api/queries``, ``DELETE /api/queries/{id}``: the standing queries (persisted like the MQTT ones).
- ``GET /api/alerts``: open alerts and ended ones (filtered by camera, query and time; paged);
  ``GET /api/alerts/{id}/snapshot.jpg``; ``GET /api/alerts/{id}/clip.mp4`` (with HTTP range requests).
- ``GET /api/events``: server-sent events ``alert``, ``status`` and ``queries``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, WithJsonSchema
from starlette.background import BackgroundTask

from streamer.errors import ClipError, ConfigError, FeedwatchError
from streamer.frames import Frame
from streamer.transport.events import EventHub

from ..alerting import Alert
from ..config import QueryConfig, format_validation_error
from ..config.common import ActiveWindow, Identifier, Polygon, Score
from ..memory.backend import Memory
from ..memory.records import Moment
from ..scoring import Query as StandingQuery
from ..service.fleet import FORWARDED
from ..service.port import ServicePort

__all__ = [
    "MAX_OFFSET",
    "NOT_FOUND",
    "ErrorOut",
    "alert_view",
    "invalid",
    "jpeg_file",
    "live_routes",
    "memory_file",
    "moment_view",
    "stored_jpeg",
]

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_OFFSET = 100_000  # paging deeper than this is a mistake (or an attack on the database's integers)


class ErrorOut(BaseModel):
    detail: str = Field(description="What is wrong.")


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such item."}}


def invalid(where: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own validation errors, for rules a schema cannot say (a camera that exists)."""
    return RequestValidationError([{"type": "value_error", "loc": where, "msg": message, "input": None}])


class BufferedFrameOut(BaseModel):
    wall: float = Field(description="When the frame was seen (Unix seconds).")
    pts: float = Field(description="Its presentation time in the stream (seconds).")
    image_png: str = Field(description="Its analysis-size pixels (what the models see), a base64 PNG.")
    snapshot_jpeg: str | None = Field(description="The frame at snapshot size, a base64 JPEG; null when none was kept.")


class BufferedFramesOut(BaseModel):
    camera: str
    frames: list[BufferedFrameOut]


class FleetNodeOut(BaseModel):
    id: str
    api: str | None = Field(description="Where the other nodes reach its HTTP API.")
    alive: bool = Field(description="Seen within a lease.")
    seen_s_ago: float
    lag_s: float | None = Field(description="How far behind its cameras its scoring was at its last renewal.")
    cameras: list[str] = Field(description="The cameras it holds.")


class FleetOut(BaseModel):
    node: str | None = Field(description="This node; null when it runs alone.")
    nodes: list[FleetNodeOut]


class OutageOut(BaseModel):
    camera: str
    start: float = Field(description="When the camera went away (Unix seconds).")
    end: float | None = Field(description="When frames flowed again (Unix seconds); null while it is away.")
    duration_s: float | None
    cause: str = Field(description="Why it went away, with any credentials masked.")


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
    unscored: int = Field(default=0, description="New frames no scorer could score: the model was unavailable.")
    frames_to_model: int = Field(description="New frames (whole or a zone's crop) the scoring model ran on.")
    frames_held: int = Field(description="New frames the change gate held back: the scene had not changed.")
    alerts: int
    open_alerts: int
    lag_s: float
    buffer_frames: int
    buffer_seconds: float
    latest: float | None = Field(description="Wall-clock time of the newest buffered frame (Unix seconds).")
    snapshot_url: str
    transport: str | None = Field(
        description="RTSP transport of the current session ('udp', 'tcp', 'auto'; '(fallback)' when it is not the "
        "configured one); null for other sources."
    )
    offline_s: float = Field(description="Seconds the camera has been neither live nor ended since the start.")
    outages: int = Field(description="Times the camera went away.")
    last_outage: OutageOut | None = Field(description="The open outage (end null) or the last one.")
    masks: list[list[tuple[float, float]]] = Field(description="Privacy masks: polygons in fractions of the frame.")
    zones: dict[str, list[tuple[float, float]]] = Field(description="Named zones: polygons in fractions of the frame.")


_POLYGON_SCHEMA = {
    "type": "array", "minItems": 3, "maxItems": 64,
    "items": {"type": "array", "minItems": 2, "maxItems": 2,
              "prefixItems": [{"type": "number", "minimum": 0, "maximum": 1}] * 2},
}  # fmt: skip
_ZONES_SCHEMA = {
    "anyOf": [
        {"type": "object", "maxProperties": 32, "additionalProperties": False,
         "patternProperties": {r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$": _POLYGON_SCHEMA}},
        {"type": "null"},
    ],
    "description": "Named zones: {name: polygon}.",
}  # fmt: skip


class RegionsIn(BaseModel):
    """A camera's privacy masks and/or zones, replacing the current ones (polygons of [x, y] fractions, 0-1)."""

    model_config = ConfigDict(extra="forbid")
    masks: list[Polygon] | None = Field(default=None, max_length=32)
    # Spelt out for the OpenAPI document: key patterns as patternProperties, which schema-driven clients honour.
    zones: Annotated[dict[Identifier, Polygon] | None, WithJsonSchema(_ZONES_SCHEMA)] = Field(
        default=None, max_length=32
    )


class QueryOut(BaseModel):
    id: str
    text: str
    threshold: float
    cameras: list[str]
    zones: list[str]
    armed: bool
    disarmed: list[str] = Field(description="Cameras it is disarmed on, while armed on the others.")
    active: list[str] = Field(description="Times of day it is watched ('22:00-06:00'); empty: always.")
    scored_frames: int = Field(description="Frames scored for it since the start (still while it is disarmed).")


class ReloadCameras(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[str] = Field(description="Cameras whose reader restarted with new settings.")


class ReloadQueries(BaseModel):
    set: list[str]
    removed: list[str]


class ReloadOut(BaseModel):
    cameras: ReloadCameras
    queries: ReloadQueries
    restart_needed: list[str] = Field(description="Config sections that changed and apply only after a restart.")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: StrictBool = Field(description="Whether the alert was right: it showed what its query asks about.")


class FeedbackOut(BaseModel):
    id: str
    query_id: str
    match: bool
    at: float = Field(description="When it was marked (Unix seconds).")


class QueryPatch(BaseModel):
    """Fields of a standing query to change; the others stay."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    text: str | None = Field(default=None, min_length=1, max_length=500)
    threshold: Score | None = None
    cameras: list[Identifier] | None = None
    zones: list[Identifier] | None = None
    armed: StrictBool | None = None
    disarmed: list[Identifier] | None = Field(default=None, description="Cameras it is disarmed on.")
    active: list[ActiveWindow] | None = None


def alert_view(alert: Alert, payload: dict[str, object] | None = None) -> dict[str, object]:
    """An alert as the API and its event stream show it: the snapshot as a URL, not a file path."""
    out = {k: v for k, v in (payload or alert.to_payload()).items() if k != "snapshot"}
    out["snapshot_url"] = f"/api/alerts/{alert.id}/snapshot.jpg" if alert.snapshot_path else None
    return out


def moment_view(m: Moment, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A moment as the API shows it: its thumbnail as a URL, not a file path."""
    out = {k: v for k, v in m.to_dict().items() if k != "thumbnail"}
    out["thumbnail_url"] = f"/api/moments/{m.id}/thumbnail.jpg" if m.thumbnail else None
    out["clip_url"] = f"/api/alerts/{m.id}/clip.mp4" if m.clip else None
    return {**out, **(extra or {})}


def _under(path: str, root: Path) -> Path | None:
    """``path`` when it is a file under the memory folder ``root`` (never one outside it), else None."""
    target = Path(path).resolve()
    return target if target.is_relative_to(root.resolve()) and target.is_file() else None


def memory_file(path: str | None, root: Path, media_type: str, what: str) -> FileResponse:
    """A file under the memory folder, or 404 (never a file outside it). Range requests are answered (206)."""
    target = _under(path, root) if path else None
    if target is not None:
        return FileResponse(target, media_type=media_type)
    raise HTTPException(404, f"no such {what} (it may have been removed by retention)")


def jpeg_file(path: str | None, root: Path) -> FileResponse:
    """A JPEG under the memory folder, or 404 (never a file outside it)."""
    return memory_file(path, root, "image/jpeg", "image")


async def stored_jpeg(path: str | None, root: Path, memory: Memory) -> Response:
    """A remembered snapshot: from this node's memory folder, or from the memory itself (a shared memory holds
    the snapshots other nodes took), or 404."""

    def find(wanted: str) -> Path | bytes | None:
        return _under(wanted, root) or memory.image(wanted)

    found = await asyncio.to_thread(find, path) if path else None
    if isinstance(found, Path):
        return FileResponse(found, media_type="image/jpeg")
    if found is not None:
        return Response(found, media_type="image/jpeg")
    raise HTTPException(404, "no such image (it may have been removed by retention)")


def _encoded(frame: Frame) -> BufferedFrameOut:
    png = io.BytesIO()
    Image.fromarray(frame.image).save(png, format="PNG", compress_level=1)
    return BufferedFrameOut(
        wall=frame.wall, pts=frame.pts, image_png=base64.b64encode(png.getvalue()).decode(),
        snapshot_jpeg=base64.b64encode(frame.snapshot).decode() if frame.snapshot is not None else None,
    )  # fmt: skip


def _query_out(q: StandingQuery, scored: dict[str, int]) -> QueryOut:
    return QueryOut(
        id=q.id, text=q.text, threshold=q.threshold, cameras=list(q.cameras), zones=list(q.zones), armed=q.armed,
        disarmed=list(q.disarmed), active=list(q.active), scored_frames=scored.get(q.id, 0),
    )  # fmt: skip


def live_routes(port: ServicePort, hub: EventHub) -> APIRouter:
    api = APIRouter()
    root = port.config.memory.path

    @api.get("/cameras", response_model=list[CameraOut])
    async def cameras() -> list[CameraOut]:
        configs = {c.id: c for c in port.config.cameras}
        return [
            CameraOut(
                id=r.camera, status=r.status, error=r.error, decoded=r.decoded, sampled=r.sampled, dropped=r.dropped,
                reconnects=r.reconnects, scored=r.scored, skipped=r.skipped, unscored=r.unscored,
                frames_to_model=r.model_frames, frames_held=r.held_frames, alerts=r.alerts, lag_s=r.lag_s,
                buffer_frames=r.buffer_frames, open_alerts=r.open_alerts, buffer_seconds=r.buffer_seconds,
                latest=r.latest, snapshot_url=f"/api/cameras/{r.camera}/snapshot.jpg", transport=r.transport,
                offline_s=r.offline_s, outages=r.outages,
                last_outage=OutageOut.model_validate(r.last_outage) if r.last_outage else None,
                masks=[list(p) for p in configs[r.camera].masks] if r.camera in configs else [],
                zones={z: list(p) for z, p in configs[r.camera].zones.items()} if r.camera in configs else {},
            )
            for r in port.camera_reports()
        ]  # fmt: skip

    @api.patch("/cameras/{camera}", responses=NOT_FOUND)
    async def set_regions(camera: str, body: RegionsIn) -> dict[str, Any]:
        """Replace the camera's privacy masks and/or zones: its reader restarts with them, the other cameras are not
        touched, and they persist across restarts and reloads."""
        try:
            updated = await port.set_regions(camera, body.masks, body.zones)
        except KeyError:
            raise HTTPException(404, f"no camera {camera!r}") from None
        except ConfigError as exc:
            raise invalid(("body",), str(exc)) from None
        return {"id": updated.id, "masks": updated.masks, "zones": updated.zones}

    @api.get(
        "/cameras/{camera}/snapshot.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, **NOT_FOUND},
    )
    async def camera_snapshot(camera: str, request: Request) -> Response:
        """The camera's newest frame; in a fleet, a camera another node holds is fetched from that node."""
        if camera not in port.camera_ids():
            fleet = port.fleet
            if fleet is not None and FORWARDED not in request.headers:  # asked by a node: never passed on again
                jpeg = await fleet.snapshot(camera)
                if jpeg is not None:
                    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
            raise HTTPException(404, f"no camera {camera!r}")
        newest = port.latest_frame(camera)
        if newest is None or newest.snapshot is None:
            raise HTTPException(404, f"camera {camera!r} has no frame yet")
        return Response(newest.snapshot, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @api.get("/fleet", response_model=FleetOut)
    async def fleet_nodes() -> FleetOut:
        """The fleet this node is part of: its nodes (alive or gone, last seen, scoring lag) and the cameras each
        holds; ``node`` null and no nodes when it runs alone."""
        fleet = port.fleet
        if fleet is None:
            return FleetOut(node=None, nodes=[])
        return FleetOut(node=fleet.node, nodes=[FleetNodeOut.model_validate(n) for n in await fleet.nodes()])

    @api.get("/cameras/{camera}/frames", response_model=BufferedFramesOut, responses=NOT_FOUND)
    async def camera_frames(
        camera: str,
        since: Annotated[
            float | None, Query(allow_inf_nan=False, description="Unix seconds; default: the oldest.")
        ] = None,
        until: Annotated[
            float | None, Query(allow_inf_nan=False, description="Unix seconds; default: the newest.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=64, description="At most this many, spread evenly over the range.")] = 16,
    ) -> BufferedFramesOut:
        """Frames from the camera's rolling buffer in ``[since, until]``, oldest first: what a question about the last
        minutes looks at. A fleet's node fetches them from the node that holds the camera."""
        if camera not in port.camera_ids():
            raise HTTPException(404, f"no camera {camera!r}")
        frames = port.buffered_frames(camera, since, until, limit)  # on the loop: the buffers are its
        encoded = await asyncio.to_thread(lambda: [_encoded(f) for f in frames])
        return BufferedFramesOut(camera=camera, frames=encoded)

    @api.get(
        "/cameras/{camera}/clip.mp4",
        response_class=FileResponse,
        responses={200: {"content": {"video/mp4": {}}}, **NOT_FOUND},
    )
    async def camera_clip(
        camera: str,
        since: Annotated[float, Query(allow_inf_nan=False, description="Unix seconds.")],
        until: Annotated[float, Query(allow_inf_nan=False, description="Unix seconds.")],
    ) -> FileResponse:
        """An MP4 of ``[since, until]`` (at most ``clips.max_s``) from the camera's kept packets, from the keyframe
        at or before ``since``."""
        if camera not in port.camera_ids():
            raise HTTPException(404, f"no camera {camera!r}")
        if until <= since:  # a schema cannot say it; an empty range holds no clip
            raise HTTPException(404, "no clip in an empty range: 'until' must be after 'since'")
        folder = Path(tempfile.mkdtemp(prefix="feedwatch-export-"))
        path = folder / f"{camera}.mp4"
        try:
            await port.camera_clip(camera, since, until, path)
        except ClipError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(404, str(exc)) from None
        cleanup = BackgroundTask(shutil.rmtree, folder, ignore_errors=True)
        return FileResponse(path, media_type="video/mp4", filename=f"{camera}-{int(since)}.mp4", background=cleanup)

    @api.get("/queries", response_model=list[QueryOut])
    async def list_queries() -> list[QueryOut]:
        return [_query_out(q, port.query_frames()) for q in port.queries()]

    @api.post("/queries", response_model=QueryOut, status_code=201)
    async def set_query(body: QueryConfig) -> QueryOut:
        """Add or replace a standing query."""
        query = StandingQuery.from_config(body)
        try:
            await port.set_query(query)
        except FeedwatchError as exc:
            raise invalid(("body",), str(exc)) from None
        return _query_out(query, port.query_frames())

    @api.patch("/queries/{query_id}", response_model=QueryOut, responses=NOT_FOUND)
    async def patch_query(query_id: str, body: QueryPatch) -> QueryOut:
        """Change some fields of a standing query: ``{"armed": false}`` disarms it (its open alert ends, it costs no
        scoring until armed again)."""
        current = next((q for q in port.queries() if q.id == query_id), None)
        if current is None:
            raise HTTPException(404, f"no standing query {query_id!r}")
        changes = body.model_dump(exclude_none=True)
        try:
            config = QueryConfig.model_validate({**current.to_dict(), **changes})
        except ValidationError as exc:
            raise invalid(("body",), "; ".join(format_validation_error(exc))) from None
        query = StandingQuery.from_config(config)
        try:
            if set(changes) == {"armed"}:
                await port.arm_query(query_id, query.armed)
            else:
                await port.set_query(query)
        except FeedwatchError as exc:
            raise invalid(("body",), str(exc)) from None
        return _query_out(query, port.query_frames())

    @api.delete("/queries/{query_id}", status_code=204, responses=NOT_FOUND)
    async def delete_query(query_id: str) -> None:
        if not await port.delete_query(query_id):
            raise HTTPException(404, f"no standing query {query_id!r}")

    @api.post(
        "/reload",
        response_model=ReloadOut,
        responses={
            409: {"model": ErrorOut, "description": "Not started from a config file."},
            422: {"model": ErrorOut, "description": "The config file is invalid; nothing changed."},
        },
    )
    async def reload() -> ReloadOut:
        """Re-read the config file and apply the difference: cameras added, removed or changed restart only their own
        reader; queries are set or removed; sections that need a restart are named."""
        if not port.reloadable:
            raise HTTPException(409, "this service was not started from a config file ('feedwatch run'): nothing to "
                                "reload")  # fmt: skip
        try:
            plan = await port.reload()
        except ConfigError as exc:
            raise HTTPException(422, f"config not reloaded, nothing changed: {exc}") from None
        return ReloadOut.model_validate(plan.to_dict())

    @api.get("/alerts")
    async def alerts(
        camera: Annotated[str | None, Query(max_length=200, description="A camera id.")] = None,
        query: Annotated[str | None, Query(max_length=200, description="A standing query id.")] = None,
        since: Annotated[float | None, Query(allow_inf_nan=False, description="Unix seconds.")] = None,
        until: Annotated[float | None, Query(allow_inf_nan=False, description="Unix seconds.")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip (paging).")] = 0,
    ) -> dict[str, Any]:
        """Open alerts, then ended ones newest first (paged with ``limit`` and ``offset``)."""
        opened = [
            alert_view(a)
            for a in port.open_alerts()
            if (camera is None or a.camera == camera) and (query is None or a.query_id == query)
        ]
        ended = await asyncio.to_thread(
            port.memory.search, camera=camera, query_id=query, since=since, until=until, kind="alert",
            limit=limit + 1, offset=offset,
        )  # fmt: skip
        items = [moment_view(m) for m in ended[:limit]]
        return {"open": opened, "items": items, "next_offset": offset + limit if len(ended) > limit else None}

    @api.get("/alerts/{alert_id}/snapshot.jpg", response_class=FileResponse, responses=NOT_FOUND)
    async def alert_snapshot(alert_id: str) -> Response:
        open_alert = next((a for a in port.open_alerts() if a.id == alert_id), None)
        if open_alert is not None:
            return jpeg_file(open_alert.snapshot_path, root)
        if not _ID.match(alert_id):
            raise HTTPException(404, "no such alert")
        moment = await asyncio.to_thread(port.memory.get, alert_id)
        if moment is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        return await stored_jpeg(moment.thumbnail, root, port.memory)

    @api.get(
        "/alerts/{alert_id}/clip.mp4",
        response_class=FileResponse,
        responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "The requested byte range."}, **NOT_FOUND},
    )
    async def alert_clip(alert_id: str) -> FileResponse:
        """The MP4 around an ended alert (``clips.pre_s`` before to ``clips.post_s`` after); seekable by range."""
        if not _ID.match(alert_id):
            raise HTTPException(404, "no such alert")
        moment = await asyncio.to_thread(port.memory.get, alert_id)
        if moment is None:
            open_now = any(a.id == alert_id for a in port.open_alerts())
            raise HTTPException(404, f"alert {alert_id!r} is still open: its clip is written when it ends"
                                if open_now else f"no alert {alert_id!r}")  # fmt: skip
        if moment.clip is None:
            raise HTTPException(404, f"alert {alert_id!r} has no clip (clips off, or its writing failed: see the log)")
        return memory_file(moment.clip, root, "video/mp4", "clip")

    @api.post("/alerts/{alert_id}/feedback", response_model=FeedbackOut, responses=NOT_FOUND)
    async def alert_feedback(alert_id: str, body: FeedbackIn) -> FeedbackOut:
        """Mark an ended alert right (``match: true``) or wrong; marks count in ``feedwatch eval --feedback`` and,
        with an embedding backend, hold back later alerts that look like a wrong one."""
        if not _ID.match(alert_id):
            raise HTTPException(404, "no such alert")
        mark = await port.feedback(alert_id, body.match)
        if mark is None:
            open_now = any(a.id == alert_id for a in port.open_alerts())
            raise HTTPException(404, f"alert {alert_id!r} is still open: mark it when it has ended"
                                if open_now else f"no alert {alert_id!r}")  # fmt: skip
        return FeedbackOut.model_validate(mark.to_dict())

    @api.get("/events", response_class=StreamingResponse)
    async def events() -> StreamingResponse:
        """Server-sent events: ``alert`` (new, update, end), ``status`` (camera status), ``outage`` (a camera went
        away or came back), ``queries``."""
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(hub.stream(), media_type="text/event-stream", headers=headers)

    return api
