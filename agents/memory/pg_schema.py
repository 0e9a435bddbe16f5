"""The PostgreSQL memory's tables, and reading its moments back (see :mod:`.pg`)."""

from __future__ import annotations

from typing import Any

from .records import Moment

__all__ = ["MOMENT_COLUMNS", "M_COLUMNS", "SCHEMA", "read_moments"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedwatch_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS moments (
    id text PRIMARY KEY,
    camera text NOT NULL,
    kind text NOT NULL,
    start_wall double precision NOT NULL,
    end_wall double precision NOT NULL,
    start_pts double precision NOT NULL,
    end_pts double precision NOT NULL,
    backend text NOT NULL,
    semantic boolean NOT NULL,
    peak double precision NOT NULL,
    thumbnail text,
    thumb_bytes bigint NOT NULL DEFAULT 0,
    created double precision NOT NULL,
    clip text,
    clip_bytes bigint NOT NULL DEFAULT 0,
    clip_info jsonb
);
CREATE INDEX IF NOT EXISTS moments_camera_time ON moments (camera, start_wall);
CREATE INDEX IF NOT EXISTS moments_time ON moments (start_wall);
CREATE INDEX IF NOT EXISTS moments_end ON moments (end_wall);
CREATE TABLE IF NOT EXISTS moment_queries (
    moment_id text NOT NULL REFERENCES moments (id) ON DELETE CASCADE,
    query_id text NOT NULL,
    query_text text NOT NULL,
    score double precision NOT NULL,
    PRIMARY KEY (moment_id, query_id)
);
CREATE INDEX IF NOT EXISTS moment_queries_query ON moment_queries (query_id, score);
CREATE TABLE IF NOT EXISTS keyframes (
    id bigserial PRIMARY KEY,
    moment_id text NOT NULL REFERENCES moments (id) ON DELETE CASCADE,
    camera text NOT NULL,
    wall double precision NOT NULL,
    pts double precision NOT NULL,
    thumbnail text,
    thumb_bytes bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS keyframes_moment ON keyframes (moment_id);
CREATE INDEX IF NOT EXISTS keyframes_camera_time ON keyframes (camera, wall);
CREATE INDEX IF NOT EXISTS keyframes_time ON keyframes (wall);
CREATE TABLE IF NOT EXISTS images (name text PRIMARY KEY, jpeg bytea NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    moment_id text PRIMARY KEY,
    query_id text NOT NULL,
    match boolean NOT NULL,
    at double precision NOT NULL,
    vector bytea
);
CREATE INDEX IF NOT EXISTS feedback_query ON feedback (query_id);
"""

MOMENT_COLUMNS = (
    "id, camera, kind, start_wall, end_wall, start_pts, end_pts, backend, semantic, peak, thumbnail, thumb_bytes, "
    "created, clip, clip_bytes, clip_info"
)
M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in MOMENT_COLUMNS.split(","))


def read_moments(cur: Any, rows: list[tuple[Any, ...]]) -> list[Moment]:
    """Rows of ``MOMENT_COLUMNS`` as moments, with their queries (one more query for all of them)."""
    if not rows:
        return []
    cur.execute(
        "SELECT moment_id, query_id, query_text, score FROM moment_queries WHERE moment_id = ANY(%s)",
        ([r[0] for r in rows],),
    )
    queries: dict[str, dict[str, float]] = {}
    texts: dict[str, dict[str, str]] = {}
    for mid, qid, text, score in cur.fetchall():
        queries.setdefault(mid, {})[qid] = float(score)
        texts.setdefault(mid, {})[qid] = str(text)
    out = []
    for mid, camera, kind, sw, ew, sp, ep, backend, semantic, peak, thumb, _tb, _cr, clip, _cb, info in rows:
        out.append(
            Moment(
                id=mid, camera=camera, start_wall=float(sw), end_wall=float(ew), start_pts=float(sp),
                end_pts=float(ep), backend=backend, semantic=bool(semantic), peak=float(peak),
                queries=queries.get(mid, {}), query_texts=texts.get(mid, {}), thumbnail=thumb, kind=kind,
                clip=clip, clip_info=info,
            )
        )  # fmt: skip
    return out
