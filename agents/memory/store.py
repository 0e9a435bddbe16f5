"""Moment memory: what mattered, kept on disk and searchable long after the buffer rolled over.

- Metadata in SQLite (WAL mode, ``synchronous=FULL``): moments, the queries they matched with their peak
  scores, and their keyframes (time, thumbnail path).
- Keyframe embeddings in a :class:`~agents.memory.vectors.VectorStore` (FAISS plus per-camera shards), when an
  embedding model supplies them. Without one the memory still records moments and answers filter and
  time queries, and says that semantic search needs an embedding model.

A write is durable when ``add`` returns: vectors are fsynced first, then the SQLite transaction commits.
A crash between the two leaves vectors no row refers to; they are dropped on the next open.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from streamer.errors import MemoryStoreError

from .files import file_size, write_snapshot
from .filters import moment_filters
from .records import Feedback, Keyframe, Moment, SimilarMoment
from .vectors import Hit, VectorStore

__all__ = ["ROW_BYTES", "SCHEMA_VERSION", "MomentMemory"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
ROW_BYTES = 512  # what a moment's rows and index entries take in SQLite, about

_SCHEMA = """
CREATE TABLE IF NOT EXISTS moments (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_wall REAL NOT NULL,
    end_wall REAL NOT NULL,
    start_pts REAL NOT NULL,
    end_pts REAL NOT NULL,
    backend TEXT NOT NULL,
    semantic INTEGER NOT NULL,
    peak REAL NOT NULL,
    thumbnail TEXT,
    thumb_bytes INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    clip TEXT,
    clip_bytes INTEGER NOT NULL DEFAULT 0,
    clip_info TEXT
);
CREATE INDEX IF NOT EXISTS moments_camera_time ON moments (camera, start_wall);
CREATE INDEX IF NOT EXISTS moments_time ON moments (start_wall);
CREATE INDEX IF NOT EXISTS moments_end ON moments (end_wall);
CREATE TABLE IF NOT EXISTS moment_queries (
    moment_id TEXT NOT NULL REFERENCES moments (id) ON DELETE CASCADE,
    query_id TEXT NOT NULL,
    query_text TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (moment_id, query_id)
);
CREATE INDEX IF NOT EXISTS moment_queries_query ON moment_queries (query_id, score);
CREATE TABLE IF NOT EXISTS keyframes (
    id INTEGER PRIMARY KEY,
    moment_id TEXT NOT NULL REFERENCES moments (id) ON DELETE CASCADE,
    wall REAL NOT NULL,
    pts REAL NOT NULL,
    thumbnail TEXT,
    thumb_bytes INTEGER NOT NULL DEFAULT 0,
    has_vector INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keyframes_moment ON keyframes (moment_id);
CREATE TABLE IF NOT EXISTS feedback (
    moment_id TEXT PRIMARY KEY,
    query_id TEXT NOT NULL,
    match INTEGER NOT NULL,
    at REAL NOT NULL,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS feedback_query ON feedback (query_id);
"""


_COLUMNS = (
    "id, camera, kind, start_wall, end_wall, start_pts, end_pts, backend, semantic, peak, thumbnail, thumb_bytes, "
    "created, clip, clip_bytes, clip_info"
)


def _prepare_clips(folder: Path) -> None:
    """Create the clips folder, and remove what writers that died mid-write (``kill -9``) left: temporary files
    only, never under a clip's name. A folder that cannot be made costs the clips, not the memory."""
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        log.error("memory: cannot create %s (%s): alerts will have no clips until it can be", folder, exc)
        return
    for partial in folder.glob(".*.tmp"):
        log.warning("memory: removing %s, a clip whose writing did not complete", partial.name)
        partial.unlink(missing_ok=True)


class MomentMemory:
    """A memory folder: ``moments.sqlite``, ``thumbs/``, ``clips/`` and ``vectors/``. Thread-safe; calls block."""

    def __init__(self, path: str | Path, *, read_only: bool = False, dim: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.where = str(self.path)
        self.read_only = read_only
        self.thumbs = self.path / "thumbs"
        self.clips = self.path / "clips"
        self._lock = threading.RLock()
        self._vectors: VectorStore | None = None
        db = self.path / "moments.sqlite"
        try:
            if read_only:
                if not db.is_file():
                    raise MemoryStoreError(
                        f"no memory at {self.path} (nothing remembered yet; run 'feedwatch watch' or "
                        "'feedwatch run' first, or pass --memory DIR)"
                    )
                self._db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
            else:
                self.thumbs.mkdir(parents=True, exist_ok=True)
                _prepare_clips(self.clips)
                self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
            self._check_version()
            vectors = self.path / "vectors"
            if dim is not None or (vectors / "vectors.json").is_file():
                self._vectors = VectorStore(vectors, dim if dim is not None else _saved_dim(vectors))
                if not read_only:
                    self._drop_orphan_vectors()
        except sqlite3.DatabaseError as exc:
            raise MemoryStoreError(f"cannot open the memory at {self.path}: {exc}") from exc
        except OSError as exc:
            if isinstance(exc, MemoryStoreError):
                raise
            raise MemoryStoreError(f"cannot create the memory at {self.path}: {exc.strerror or exc}") from exc

    def __enter__(self) -> MomentMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._vectors is not None and not self.read_only:
                self._vectors.close()
            self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            # Freed pages go back to the file system when retention runs (incremental vacuum).
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
            return
        if version == 1:  # 1 -> 2: keyframes and their vectors
            self._db.executescript(_SCHEMA + "PRAGMA user_version=2;")
            version = 2
        if version == 2:  # 2 -> 3: incremental vacuum, so evicted moments give their disk back
            log.info("memory: upgrading %s to schema version 3 (a one-off VACUUM)", self.path)
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA user_version=3")
            version = 3
        if version == 3:  # 3 -> 4: event clips
            self._db.executescript(
                "BEGIN; ALTER TABLE moments ADD COLUMN clip TEXT; "
                "ALTER TABLE moments ADD COLUMN clip_bytes INTEGER NOT NULL DEFAULT 0; "
                "ALTER TABLE moments ADD COLUMN clip_info TEXT; PRAGMA user_version=4; COMMIT;"
            )
            version = 4
        if version == 4:  # 4 -> 5: users' marks on alerts
            self._db.executescript("BEGIN; " + _SCHEMA + "PRAGMA user_version=5; COMMIT;")

    def _check_version(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the memory at {self.path} has schema version {version}; this feedwatch reads {SCHEMA_VERSION}"
            )

    def _drop_orphan_vectors(self) -> None:
        """Vectors written just before a crash, whose SQLite rows never committed."""
        assert self._vectors is not None
        known = {row[0] for row in self._db.execute("SELECT id FROM keyframes WHERE has_vector = 1")}
        orphans = [vid for vid in self._vectors.ids() if vid not in known]
        if orphans:
            log.warning("memory: dropping %d vector(s) of writes that did not complete", len(orphans))
            self._vectors.delete(orphans)

    @property
    def semantic_search(self) -> bool:
        """Whether similarity search is possible (an embedding model has stored vectors here)."""
        return self._vectors is not None

    @property
    def vectors(self) -> VectorStore | None:
        return self._vectors

    def save_snapshot(self, name: str, jpeg: bytes) -> str:
        """Write a JPEG under ``thumbs/`` atomically; return its path."""
        target = write_snapshot(self.thumbs, name, jpeg)
        return str(target)

    def image(self, path: str) -> bytes | None:
        """A snapshot's bytes by the path ``save_snapshot`` gave, when it is still under ``thumbs/``."""
        target = (self.thumbs / Path(path).name).resolve()
        try:
            return target.read_bytes() if target.parent == self.thumbs.resolve() else None
        except OSError:
            return None

    def add(self, moment: Moment, keyframes: Sequence[Keyframe] = ()) -> None:
        """Store (or replace) a moment and its keyframes; durable when this returns."""
        embedded = [k for k in keyframes if k.embedding is not None]
        if embedded and self._vectors is None:
            dim = int(np.asarray(embedded[0].embedding).shape[-1])
            self._vectors = VectorStore(self.path / "vectors", dim)
        try:
            with self._lock:
                first_id = self._next_keyframe_id()
                ids = np.arange(first_id, first_id + len(keyframes), dtype=np.int64)
                if embedded:
                    assert self._vectors is not None
                    rows = [i for i, k in enumerate(keyframes) if k.embedding is not None]
                    self._vectors.add(
                        ids[rows],
                        [moment.camera] * len(rows),
                        np.array([keyframes[i].wall for i in rows], np.float64),
                        np.stack([np.asarray(keyframes[i].embedding, np.float32) for i in rows]),
                    )
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    old = [r[0] for r in self._db.execute(
                        "SELECT id FROM keyframes WHERE moment_id = ? AND has_vector = 1", (moment.id,)
                    )]  # fmt: skip
                    self._db.execute("DELETE FROM moment_queries WHERE moment_id = ?", (moment.id,))
                    self._db.execute("DELETE FROM keyframes WHERE moment_id = ?", (moment.id,))
                    self._db.execute(
                        f"INSERT OR REPLACE INTO moments ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            moment.id, moment.camera, moment.kind, moment.start_wall, moment.end_wall,
                            moment.start_pts, moment.end_pts, moment.backend, int(moment.semantic), moment.peak,
                            moment.thumbnail, file_size(moment.thumbnail), time.time(), moment.clip,
                            file_size(moment.clip),
                            None if moment.clip_info is None else json.dumps(moment.clip_info),
                        ),
                    )  # fmt: skip
                    self._db.executemany(
                        "INSERT INTO moment_queries VALUES (?,?,?,?)",
                        [(moment.id, q, moment.query_texts.get(q, ""), s) for q, s in moment.queries.items()],
                    )
                    self._db.executemany(
                        "INSERT INTO keyframes VALUES (?,?,?,?,?,?,?)",
                        [
                            (int(vid), moment.id, k.wall, k.pts, k.thumbnail, file_size(k.thumbnail),
                             int(k.embedding is not None))
                            for vid, k in zip(ids, keyframes, strict=True)
                        ],
                    )  # fmt: skip
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                if old and self._vectors is not None:
                    self._vectors.delete(old)
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot store moment {moment.id} in {self.path}: {exc}") from exc

    def set_feedback(self, mark: Feedback) -> None:
        """Record (or replace) a user's mark on an alert's moment; durable when this returns."""
        vector = None if mark.vector is None else np.asarray(mark.vector, np.float32).tobytes()
        try:
            with self._lock, self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO feedback VALUES (?,?,?,?,?)",
                    (mark.moment_id, mark.query_id, int(mark.match), mark.at, vector),
                )
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot store feedback on {mark.moment_id} in {self.path}: {exc}") from exc

    def feedback(self, moment_ids: Sequence[str] | None = None) -> list[Feedback]:
        """Users' marks: on these moments, or all of them."""
        sql = "SELECT moment_id, query_id, match, at, vector FROM feedback"
        args: list[str] = []
        if moment_ids is not None:
            if not moment_ids:
                return []
            sql += f" WHERE moment_id IN ({','.join('?' * len(moment_ids))})"
            args = list(moment_ids)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY at", args).fetchall()
        return [
            Feedback(m, q, bool(match), at, None if v is None else np.frombuffer(v, np.float32).copy())
            for m, q, match, at, v in rows
        ]

    def _next_keyframe_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM keyframes").fetchone()
        top = -1 if row[0] is None else int(row[0])
        if self._vectors is not None:
            top = max(top, self._vectors.max_id())
        return top + 1

    def delete(self, moment_ids: Sequence[str]) -> int:
        """Forget moments, their keyframes, vectors and thumbnails."""
        if not moment_ids:
            return 0
        with self._lock:
            marks = ",".join("?" * len(moment_ids))
            vids = [r[0] for r in self._db.execute(
                f"SELECT id FROM keyframes WHERE has_vector = 1 AND moment_id IN ({marks})", list(moment_ids)
            )]  # fmt: skip
            files = [r[0] for r in self._db.execute(
                f"SELECT thumbnail FROM moments WHERE id IN ({marks}) UNION "
                f"SELECT clip FROM moments WHERE id IN ({marks}) UNION "
                f"SELECT thumbnail FROM keyframes WHERE moment_id IN ({marks})", [*moment_ids] * 3
            )]  # fmt: skip
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(f"DELETE FROM moments WHERE id IN ({marks})", list(moment_ids))
            self._db.execute("COMMIT")
            if vids and self._vectors is not None:
                self._vectors.delete(vids)
        for file in files:
            if file:
                Path(file).unlink(missing_ok=True)
        return int(cur.rowcount)

    def cameras(self) -> list[str]:
        """The cameras that have moments here."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT camera FROM moments ORDER BY camera")]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM moments").fetchone()[0])

    def search(
        self,
        *,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
        query_id: str | None = None,
        min_score: float | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[Moment]:
        """Moments matching every filter given (times are Unix seconds, overlapping the range)."""
        where, args = moment_filters(camera, since, until, query_id, min_score, kind, mark="?")
        sql = f"SELECT {_COLUMNS} FROM moments m" + (" WHERE " + " AND ".join(where) if where else "")
        order = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY m.start_wall {order}, m.id {order} LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, limit, offset]).fetchall()
            return [self._moment(row) for row in rows]

    def get(self, moment_id: str) -> Moment | None:
        """One moment by id."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM moments WHERE id = ?", (moment_id,)).fetchone()
            return self._moment(row) if row is not None else None

    def keyframe_times(self, moment_ids: Sequence[str]) -> dict[str, float]:
        """When each moment's first keyframe (the frame its thumbnail shows) was taken."""
        if not moment_ids:
            return {}
        marks = ",".join("?" * len(moment_ids))
        sql = f"SELECT moment_id, MIN(wall) FROM keyframes WHERE moment_id IN ({marks}) GROUP BY moment_id"
        with self._lock:
            return {str(mid): float(wall) for mid, wall in self._db.execute(sql, list(moment_ids))}

    def search_similar(
        self,
        vector: NDArray[np.float32],
        *,
        k: int = 10,
        camera: str | None = None,
        since: float | None = None,
        until: float | None = None,
        query_id: str | None = None,
        min_score: float | None = None,
    ) -> list[SimilarMoment]:
        """Moments whose keyframes are most similar to ``vector`` (a text or image embedding)."""
        if self._vectors is None:
            raise MemoryStoreError(
                "semantic search needs an embedding model: this memory holds no embeddings (moments were "
                "recorded by the activity scorer); search by camera, time, query or score instead"
            )
        extra = query_id is not None or min_score is not None
        hits = self._vectors.search(vector, k * 8 if extra else k * 2, camera=camera, since=since, until=until)
        return self._resolve(hits, k, query_id, min_score)

    def _resolve(self, hits: list[Hit], k: int, query_id: str | None, min_score: float | None) -> list[SimilarMoment]:
        out: list[SimilarMoment] = []
        seen: set[str] = set()
        with self._lock:
            for hit in hits:
                row = self._db.execute("SELECT moment_id FROM keyframes WHERE id = ?", (hit.id,)).fetchone()
                if row is None or row[0] in seen:
                    continue
                moment_row = self._db.execute(f"SELECT {_COLUMNS} FROM moments WHERE id = ?", (row[0],)).fetchone()
                if moment_row is None:
                    continue
                moment = self._moment(moment_row)
                if query_id is not None and query_id not in moment.queries:
                    continue
                if min_score is not None and moment.peak < min_score:
                    continue
                seen.add(moment.id)
                out.append(SimilarMoment(moment, hit.wall, hit.score))
                if len(out) == k:
                    break
        return out

    def _moment(self, row: tuple[object, ...]) -> Moment:
        (mid, camera, kind, sw, ew, sp, ep, backend, semantic, peak, thumb, _tb, _created, clip, _cb, info) = row
        queries: dict[str, float] = {}
        texts: dict[str, str] = {}
        for qid, text, score in self._db.execute(
            "SELECT query_id, query_text, score FROM moment_queries WHERE moment_id = ?", (mid,)
        ):
            queries[qid] = float(score)
            texts[qid] = str(text)
        return Moment(
            id=str(mid),
            camera=str(camera),
            start_wall=float(sw),  # type: ignore[arg-type]
            end_wall=float(ew),  # type: ignore[arg-type]
            start_pts=float(sp),  # type: ignore[arg-type]
            end_pts=float(ep),  # type: ignore[arg-type]
            backend=str(backend),
            semantic=bool(semantic),
            peak=float(peak),  # type: ignore[arg-type]
            queries=queries,
            query_texts=texts,
            thumbnail=None if thumb is None else str(thumb),
            kind=str(kind),
            clip=None if clip is None else str(clip),
            clip_info=None if info is None else json.loads(str(info)),
        )

    def expired(self, before: float) -> list[str]:
        """Moments that ended before ``before`` (Unix seconds)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM moments WHERE end_wall < ?", (before,))]

    def footprints(self) -> Iterator[tuple[str, int]]:
        """Every moment, oldest first, with the bytes forgetting it frees: its thumbnails (each file once), its clip,
        its vector records and its rows."""
        per_vector = self._vectors.record if self._vectors is not None else 0
        sql = (
            "SELECT m.id, m.thumb_bytes + m.clip_bytes + COALESCE(SUM(CASE WHEN k.thumbnail IS NOT m.thumbnail "
            "THEN k.thumb_bytes ELSE 0 END), 0), COALESCE(SUM(k.has_vector), 0) "
            "FROM moments m LEFT JOIN keyframes k ON k.moment_id = m.id GROUP BY m.id ORDER BY m.start_wall"
        )
        with self._lock:
            rows = self._db.execute(sql).fetchall()
        for mid, thumbs, vectors in rows:
            yield str(mid), int(thumbs) + int(vectors) * per_vector + ROW_BYTES

    def compact(self) -> None:
        """Give the disk back after deletions: rewrite vector shards without deleted records, vacuum SQLite."""
        with self._lock:
            if self._vectors is not None:
                self._vectors.compact()
            self._db.execute("PRAGMA incremental_vacuum")

    def iter_all(self) -> Iterator[Moment]:
        """Every moment, oldest first."""
        yield from self.search(limit=-1, newest_first=False)


def _saved_dim(folder: Path) -> int:
    return int(json.loads((folder / "vectors.json").read_text())["dim"])
