"""The moments' filters as SQL, written once for both backends (SQLite and PostgreSQL share the moments schema)."""

from __future__ import annotations

from typing import Any

__all__ = ["keyframe_filters", "moment_filters"]


def moment_filters(
    camera: str | None, since: float | None, until: float | None, query_id: str | None, min_score: float | None,
    kind: str | None, *, mark: str,
) -> tuple[list[str], list[Any]]:  # fmt: skip
    """The WHERE clauses and their arguments for the filters given (moments overlapping the time range), with the
    driver's placeholder ``mark`` (``?`` for SQLite, ``%s`` for psycopg); the moments table is ``m``."""
    clauses: list[tuple[Any, str]] = [
        (camera, "m.camera = ?"),
        (since, "m.end_wall >= ?"),
        (until, "m.start_wall <= ?"),
        (query_id, "m.id IN (SELECT moment_id FROM moment_queries WHERE query_id = ?)"),
        (min_score, "m.peak >= ?"),
        (kind, "m.kind = ?"),
    ]
    return [c.replace("?", mark) for v, c in clauses if v is not None], [v for v, _ in clauses if v is not None]


def keyframe_filters(
    camera: str | None, since: float | None, until: float | None, query_id: str | None, min_score: float | None
) -> tuple[list[str], list[Any]]:
    """PostgreSQL's keyframe filters, as the vector store filters: camera and time on the keyframe, query and score
    on its moment."""
    clauses: list[tuple[Any, str]] = [
        (camera, "k.camera = %s"),
        (since, "k.wall >= %s"),
        (until, "k.wall <= %s"),
        (query_id, "k.moment_id IN (SELECT moment_id FROM moment_queries WHERE query_id = %s)"),
        (min_score, "k.moment_id IN (SELECT id FROM moments WHERE peak >= %s)"),
    ]
    return [c for v, c in clauses if v is not None], [v for v, _ in clauses if v is not None]
