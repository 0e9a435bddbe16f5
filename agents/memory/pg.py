"""The moment memory on PostgreSQL with pgvector: one memory a fleet of nodes shares.

The same interface as :class:`~agents.memory.store.MomentMemory` (the service, the API, ``ask`` and ``search``
use either), chosen by ``memory.url: postgresql://...``:

- ``moments``, ``moment_queries``, ``keyframes`` and ``feedback`` hold what the SQLite memory holds; snapshots
  and keyframe thumbnails are kept in ``images`` as well as on the writing node's disk, so every node can
  serve them. Clips stay where the writing node put them (their location is in ``moments.clip``).
- Keyframe embeddings are a ``vector(dim)`` column of ``keyframes`` (stored inline, not TOASTed, so scans read
  them straight off the table's pages), searched by inner product (the vectors are L2-normalised: cosine).
  Up to ``IVF_MIN`` of them every search is exact; past it an IVFFlat index with about sqrt(n) lists is built,
  and built again (concurrently, by one node) each time the vectors outgrow it fourfold, as the embedded
  memory's FAISS index is. IVFFlat rather than HNSW: on clustered embeddings (cameras see the same scenes
  again and again) a search that scans its nearest lists whole finds the true neighbours, where HNSW's graph
  walk among near-equidistant points missed a quarter of them at the same time (``bench memory --url`` at a
  million vectors: recall@10 1.000 at a p99 of 11 ms against 0.73 at 11 ms, and 0.86 at 29 ms); it also builds
  in a seventh of the time and a fraction of the memory. Uniform random vectors are its worst case.
- Filters by camera, time, query and score are SQL in the same statement as the vector search. A filter
  that leaves few keyframes (up to ``exact_max``, default ``EXACT_MAX``) is searched exactly on the (camera,
  time) index; a broad one goes through the IVF lists, and is redone exactly when too few of the candidates
  passed the filter.

Schema versions are in ``feedwatch_meta``; opening a memory migrates it (read-only opens only check).
Errors from the database (it went away, a wrong password, no pgvector) are :class:`MemoryStoreError` with
what to do; a broken connection is reopened on the next call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.errors import MemoryStoreError

from .files import file_size, write_snapshot
from .filters import keyframe_filters, moment_filters
from .pg_schema import M_COLUMNS, MOMENT_COLUMNS, SCHEMA, read_moments
from .pgconn import PgConnection, said
from .records import Feedback, Keyframe, Moment, SimilarMoment

__all__ = ["EXACT_MAX", "IVF_MIN", "PG_SCHEMA_VERSION", "PROBES", "PgMomentMemory"]

log = logging.getLogger(__name__)

PG_SCHEMA_VERSION = 1
EXACT_MAX = 20_000  # a filter that leaves at most this many keyframes is searched exactly
IVF_MIN = 10_000  # up to this many vectors every search is exact; past it, an IVFFlat index
PROBES = 5  # IVF lists scanned per search: recall against time, see `bench memory --url`
_INLINE_MAX = 6000  # bytes of a vector kept inline in the table's rows (a page is 8 KiB)
ROW_BYTES = 512


class PgMomentMemory:
    """A moment memory in a PostgreSQL database with pgvector. Thread-safe; calls block.

    ``path`` is this node's own folder: snapshots and clips are written there first (the API serves them from
    disk when it can), and snapshots are copied into the database for the other nodes.
    """

    def __init__(
        self, url: str, path: str | Path, *, read_only: bool = False, dim: int | None = None,
        connect_timeout_s: float = 10.0, exact_max: int = EXACT_MAX, probes: int = PROBES, ivf_min: int = IVF_MIN,
    ) -> None:  # fmt: skip
        self._db = PgConnection(
            url, what="memory database", check="memory.url: host, port, user, password, database",
            purpose="memory.url", connect_timeout_s=connect_timeout_s, prepare=self._prepare,
        )  # fmt: skip
        self._psycopg = self._db.driver
        self.url = url
        self.where = self._db.where
        self.path = Path(path).expanduser()
        self.read_only = read_only
        self.thumbs = self.path / "thumbs"
        self.clips = self.path / "clips"
        self.exact_max = exact_max
        self.probes = probes
        self.ivf_min = ivf_min
        # When to look at the index again: vectors counted at the last look, added since, and the total at which
        # it needs building (IVF_MIN) or rebuilding (its lists outgrown fourfold). 0: look at the first write.
        self._known, self._added, self._outgrown_at = 0, 0, 0
        self._indexing: threading.Thread | None = None
        self._lock = self._db.lock  # also held across several transactions, and over the index's bookkeeping
        self._dim: int | None = None
        if not read_only:
            try:
                self.thumbs.mkdir(parents=True, exist_ok=True)
                self.clips.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MemoryStoreError(f"cannot create {self.path}: {exc.strerror or exc}") from exc
        try:
            with self._lock, self._transaction() as cur:
                if not read_only:
                    self._migrate(cur)
                self._check_version(cur)
                self._dim = self._saved_dim(cur)
            if dim is not None and not read_only:
                self._ensure_vectors(dim)
        except BaseException:
            self.close()
            raise

    # -- connection ------------------------------------------------------------------------------

    def _prepare(self, conn: Any) -> None:
        """On each new connection: pgvector there (created by the first writer) and its types registered."""
        psycopg = self._psycopg
        try:
            from pgvector.psycopg import register_vector

            if self.read_only:
                if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                    raise MemoryStoreError(
                        f"no memory in {self.where} (nothing remembered yet; run 'feedwatch run' with this memory.url "
                        "first)"
                    )
            else:
                with conn.transaction():  # nodes starting together: one creates it, the others wait and find it
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('feedwatch-schema'))")
                    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
        except MemoryStoreError:
            raise
        except (psycopg.Error, Exception) as exc:
            raise MemoryStoreError(
                f"the memory database {self.where} has no pgvector extension ({said(exc)}): install pgvector "
                "on the server (CREATE EXTENSION vector needs it), or use the embedded memory (leave memory.url unset)"
            ) from exc

    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor inside one transaction (see :class:`PgConnection`)."""
        return self._db.transaction()

    def __enter__(self) -> PgMomentMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- schema ----------------------------------------------------------------------------------

    def _migrate(self, cur: Any) -> None:
        # One node migrates at a time: the others wait on this lock, then find the schema current.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('feedwatch-schema'))")
        cur.execute(SCHEMA)
        cur.execute("SELECT value FROM feedwatch_meta WHERE key = 'schema_version'")
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "INSERT INTO feedwatch_meta VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING",
                (str(PG_SCHEMA_VERSION),),
            )
        # Later versions migrate here, one step at a time, as the SQLite memory does.

    def _check_version(self, cur: Any) -> None:
        try:
            cur.execute("SELECT value FROM feedwatch_meta WHERE key = 'schema_version'")
        except self._psycopg.errors.UndefinedTable as exc:
            raise MemoryStoreError(
                f"no memory in {self.where} (nothing remembered yet; run 'feedwatch run' with this memory.url first)"
            ) from exc
        row = cur.fetchone()
        version = int(row[0]) if row else 0
        if version != PG_SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the memory in {self.where} has schema version {version}; this feedwatch reads {PG_SCHEMA_VERSION}"
            )

    @staticmethod
    def _saved_dim(cur: Any) -> int | None:
        cur.execute("SELECT value FROM feedwatch_meta WHERE key = 'dim'")
        row = cur.fetchone()
        return None if row is None else int(row[0])

    def _ensure_vectors(self, dim: int) -> None:
        """Give keyframes their vector column and index, the first time an embedding arrives."""
        if self._dim == dim:
            return
        if self._dim is not None:
            raise MemoryStoreError(
                f"the memory in {self.where} holds {self._dim}-dimensional embeddings; this model gives {dim} "
                "(use another database or memory.url for another embedding model)"
            )
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('feedwatch-schema'))")
            saved = self._saved_dim(cur)
            if saved is None:
                cur.execute(f"ALTER TABLE keyframes ADD COLUMN IF NOT EXISTS embedding vector({int(dim)})")
                if 4 * dim + 8 <= _INLINE_MAX:
                    cur.execute("ALTER TABLE keyframes ALTER COLUMN embedding SET STORAGE PLAIN")
                cur.execute("INSERT INTO feedwatch_meta VALUES ('dim', %s)", (str(dim),))
                saved = dim
        self._dim = saved
        if saved != dim:
            self._ensure_vectors(dim)

    # -- the MomentMemory interface --------------------------------------------------------------

    @property
    def semantic_search(self) -> bool:
        return self._dim is not None

    @property
    def dim(self) -> int | None:
        return self._dim

    def save_snapshot(self, name: str, jpeg: bytes) -> str:
        """Write a JPEG under ``thumbs/`` and into the database; return its path."""
        target = write_snapshot(self.thumbs, name, jpeg)
        with self._lock, self._transaction() as cur:
            cur.execute(
                "INSERT INTO images VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET jpeg = EXCLUDED.jpeg",
                (target.name, jpeg),
            )
        return str(target)

    def image(self, path: str) -> bytes | None:
        """A snapshot's bytes by the path ``save_snapshot`` gave (any node's), or None."""
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT jpeg FROM images WHERE name = %s", (Path(path).name,))
            row = cur.fetchone()
        return None if row is None else bytes(row[0])

    def add(self, moment: Moment, keyframes: Sequence[Keyframe] = ()) -> None:
        """Store (or replace) a moment and its keyframes in one transaction; durable when this returns."""
        embedded = [k for k in keyframes if k.embedding is not None]
        if embedded:
            self._ensure_vectors(int(np.asarray(embedded[0].embedding).shape[-1]))
        with self._lock, self._transaction() as cur:
            cur.execute("DELETE FROM moments WHERE id = %s", (moment.id,))  # cascades to its queries and keyframes
            cur.execute(
                f"INSERT INTO moments ({MOMENT_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    moment.id, moment.camera, moment.kind, moment.start_wall, moment.end_wall, moment.start_pts,
                    moment.end_pts, moment.backend, moment.semantic, moment.peak, moment.thumbnail,
                    file_size(moment.thumbnail), time.time(), moment.clip, file_size(moment.clip),
                    None if moment.clip_info is None else json.dumps(moment.clip_info),
                ),
            )  # fmt: skip
            if moment.queries:
                cur.executemany(
                    "INSERT INTO moment_queries VALUES (%s,%s,%s,%s)",
                    [(moment.id, q, moment.query_texts.get(q, ""), s) for q, s in moment.queries.items()],
                )
            rows = [
                (moment.id, moment.camera, k.wall, k.pts, k.thumbnail, file_size(k.thumbnail),
                 None if k.embedding is None else np.asarray(k.embedding, np.float32).reshape(-1))
                for k in keyframes
            ]  # fmt: skip
            if rows and self._dim is not None:
                cur.executemany(
                    "INSERT INTO keyframes (moment_id, camera, wall, pts, thumbnail, thumb_bytes, embedding) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s)",
                    rows,
                )
            elif rows:
                cur.executemany(
                    "INSERT INTO keyframes (moment_id, camera, wall, pts, thumbnail, thumb_bytes) "
                    "VALUES (%s,%s,%s,%s,%s,%s)",
                    [r[:-1] for r in rows],
                )
        if embedded and not self.read_only:
            self._added += len(embedded)
            if self._known + self._added >= self._outgrown_at:
                self._index_in_background()

    def set_feedback(self, mark: Feedback) -> None:
        vector = None if mark.vector is None else np.asarray(mark.vector, np.float32).tobytes()
        with self._lock, self._transaction() as cur:
            cur.execute(
                "INSERT INTO feedback VALUES (%s,%s,%s,%s,%s) ON CONFLICT (moment_id) DO UPDATE SET "
                "query_id = EXCLUDED.query_id, match = EXCLUDED.match, at = EXCLUDED.at, vector = EXCLUDED.vector",
                (mark.moment_id, mark.query_id, mark.match, mark.at, vector),
            )

    def feedback(self, moment_ids: Sequence[str] | None = None) -> list[Feedback]:
        sql = "SELECT moment_id, query_id, match, at, vector FROM feedback"
        args: list[Any] = []
        if moment_ids is not None:
            if not moment_ids:
                return []
            sql += " WHERE moment_id = ANY(%s)"
            args = [list(moment_ids)]
        with self._lock, self._transaction() as cur:
            cur.execute(sql + " ORDER BY at", args)
            rows = cur.fetchall()
        return [
            Feedback(m, q, bool(match), at, None if v is None else np.frombuffer(bytes(v), np.float32).copy())
            for m, q, match, at, v in rows
        ]

    def delete(self, moment_ids: Sequence[str]) -> int:
        """Forget moments, their keyframes, vectors and snapshots (in the database and on this node's disk)."""
        if not moment_ids:
            return 0
        ids = list(moment_ids)
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT thumbnail FROM moments WHERE id = ANY(%s) UNION SELECT clip FROM moments WHERE id = ANY(%s) "
                "UNION SELECT thumbnail FROM keyframes WHERE moment_id = ANY(%s)",
                (ids, ids, ids),
            )
            files = [r[0] for r in cur.fetchall() if r[0]]
            cur.execute("DELETE FROM moments WHERE id = ANY(%s)", (ids,))
            gone = int(cur.rowcount)
            cur.execute("DELETE FROM images WHERE name = ANY(%s)", ([Path(f).name for f in files],))
        for file in files:
            Path(file).unlink(missing_ok=True)
        return gone

    def cameras(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT camera FROM moments ORDER BY camera")]

    def count(self) -> int:
        return int(self._all("SELECT COUNT(*) FROM moments")[0][0])

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
        where, args = moment_filters(camera, since, until, query_id, min_score, kind, mark="%s")
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {M_COLUMNS} FROM moments m" + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY m.start_wall {order}, m.id {order} OFFSET %s"
        args.append(max(0, offset))
        if limit >= 0:
            sql += " LIMIT %s"
            args.append(limit)
        with self._lock, self._transaction() as cur:
            cur.execute(sql, args)
            return read_moments(cur, cur.fetchall())

    def get(self, moment_id: str) -> Moment | None:
        with self._lock, self._transaction() as cur:
            cur.execute(f"SELECT {M_COLUMNS} FROM moments m WHERE m.id = %s", (moment_id,))
            found = read_moments(cur, cur.fetchall())
        return found[0] if found else None

    def keyframe_times(self, moment_ids: Sequence[str]) -> dict[str, float]:
        if not moment_ids:
            return {}
        sql = "SELECT moment_id, MIN(wall) FROM keyframes WHERE moment_id = ANY(%s) GROUP BY moment_id"
        rows = self._all(sql, [list(moment_ids)])
        return {str(mid): float(wall) for mid, wall in rows}

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
        """Moments whose keyframes are most similar to ``vector``: the filters and the vector search in one query."""
        if self._dim is None:
            with self._lock, self._transaction() as cur:
                self._dim = self._saved_dim(cur)  # another node may have stored the first embedding since
        if self._dim is None:
            raise MemoryStoreError(
                "semantic search needs an embedding model: this memory holds no embeddings (moments were "
                "recorded by the activity scorer); search by camera, time, query or score instead"
            )
        q = np.ascontiguousarray(vector, np.float32).reshape(-1)
        where, args = keyframe_filters(camera, since, until, query_id, min_score)
        # A moment has several keyframes: fetch enough rows to find k distinct moments.
        fetch = k * 4
        with self._lock, self._transaction() as cur:
            exact = bool(where) and self._few(cur, where, args)
            rows = self._nearest(cur, q, where, args, fetch, exact)
            if where and not exact and len({r[1] for r in rows}) < k:
                rows = self._nearest(cur, q, where, args, fetch, True)
            best: dict[str, tuple[float, float]] = {}
            for _, mid, wall, sim in rows:
                if mid not in best:
                    best[mid] = (wall, sim)
                if len(best) == k:
                    break
            if not best:
                return []
            cur.execute(f"SELECT {M_COLUMNS} FROM moments m WHERE m.id = ANY(%s)", (list(best),))
            moments = {m.id: m for m in read_moments(cur, cur.fetchall())}
        return [SimilarMoment(moments[mid], wall, sim) for mid, (wall, sim) in best.items() if mid in moments]

    def nearest_keyframes(
        self, vector: NDArray[np.float32], k: int = 10, *, camera: str | None = None, since: float | None = None,
        until: float | None = None, exact: bool = False,
    ) -> list[tuple[int, float]]:  # fmt: skip
        """The ``k`` nearest keyframe ids with their cosine similarity (for benchmarks: recall against exact)."""
        q = np.ascontiguousarray(vector, np.float32).reshape(-1)
        where, args = keyframe_filters(camera, since, until, None, None)
        with self._lock, self._transaction() as cur:
            use_exact = exact or (bool(where) and self._few(cur, where, args))
            return [(i, sim) for i, _, _, sim in self._nearest(cur, q, where, args, k, use_exact)]

    # -- the vector index -------------------------------------------------------------------------

    def index_state(self) -> tuple[int, int]:
        """How many vectors there are, and the IVF lists of the index over them (0: none, searches are exact)."""
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT COUNT(*) FROM keyframes WHERE embedding IS NOT NULL")
            n = int(cur.fetchone()[0])
            cur.execute("SELECT value FROM feedwatch_meta WHERE key = 'ivf_lists'")
            row = cur.fetchone()
        return n, 0 if row is None else int(row[0])

    def maintain_index(self) -> int:
        """Build the IVFFlat index when the vectors outgrew exact search or the index (fourfold); the lists it has.

        Built under another name without blocking writes (``CONCURRENTLY``), then put in place of the old one;
        one node at a time (the others find the lock taken and leave it)."""
        if self._dim is None:
            return 0
        n, lists = self.index_state()
        want = int(min(16_384, max(16, math.sqrt(n))))
        self._known, self._added = n, 0
        if n < self.ivf_min or (lists and lists >= want / 2):
            self._outgrown_at = 4 * lists * lists + 1 if lists else self.ivf_min
            return lists
        self._outgrown_at = 4 * want * want + 1
        psycopg = self._psycopg
        try:
            with self._db.connect() as conn:
                if not conn.execute("SELECT pg_try_advisory_lock(hashtext('feedwatch-ivf'))").fetchone()[0]:
                    return lists  # another node is building it
                conn.execute("SET maintenance_work_mem = '1GB'")
                t0 = time.perf_counter()
                conn.execute("DROP INDEX IF EXISTS keyframes_ivf_next")
                conn.execute(
                    "CREATE INDEX CONCURRENTLY keyframes_ivf_next ON keyframes USING ivfflat (embedding vector_ip_ops) "
                    f"WITH (lists = {want})"
                )
                with conn.transaction():
                    conn.execute("DROP INDEX IF EXISTS keyframes_ivf")
                    conn.execute("ALTER INDEX keyframes_ivf_next RENAME TO keyframes_ivf")
                    conn.execute(
                        "INSERT INTO feedwatch_meta VALUES ('ivf_lists', %s) ON CONFLICT (key) DO UPDATE SET "
                        "value = EXCLUDED.value",
                        (str(want),),
                    )
                log.info("memory: built the vector index (IVFFlat, %d lists over %d vectors) in %.1f s", want, n,
                         time.perf_counter() - t0)  # fmt: skip
        except psycopg.Error as exc:
            log.error("memory: could not build the vector index in %s (%s); searches stay as they are", self.where,
                      said(exc))  # fmt: skip
            return lists
        return want

    def _index_in_background(self) -> None:
        """Check the index off the caller's path (a build takes minutes at millions of vectors)."""
        if self._indexing is not None and self._indexing.is_alive():
            return
        self._indexing = threading.Thread(target=self.maintain_index, name="memory-index", daemon=True)
        self._indexing.start()

    def _few(self, cur: Any, where: list[str], args: list[Any]) -> bool:
        """Whether the filtered keyframes number at most ``exact_max`` (counted on the indexes, bounded)."""
        cur.execute(  # counted on the indexes alone: keyframes without a vector count too (an upper bound)
            f"SELECT COUNT(*) FROM (SELECT 1 FROM keyframes k WHERE {' AND '.join(where)} LIMIT %s) s",
            [*args, self.exact_max + 1],
        )
        return int(cur.fetchone()[0]) <= self.exact_max

    def _nearest(
        self, cur: Any, q: NDArray[np.float32], where: list[str], args: list[Any], fetch: int, exact: bool
    ) -> list[tuple[int, str, float, float]]:
        """Keyframes nearest ``q`` within the filters: (id, moment id, time, cosine similarity), best first.

        Exact: the filtered rows are found on the b-tree indexes and ranked by similarity, so the IVF index plays
        no part. Approximate: the ``probes`` nearest IVF lists, the filters applied to their rows."""
        conditions = "k.embedding IS NOT NULL" + "".join(" AND " + w for w in where)
        if exact:
            # The fence (OFFSET 0) keeps the index out; similarities are ranked, never the vectors materialised.
            cur.execute(
                f"SELECT id, moment_id, wall, sim FROM (SELECT k.id, k.moment_id, k.wall, -(k.embedding <#> %s) AS sim "
                f"FROM keyframes k WHERE {conditions} OFFSET 0) c ORDER BY sim DESC LIMIT %s",
                [q, *args, fetch],
            )
        else:
            cur.execute("SELECT set_config('ivfflat.probes', %s, true)", (str(self.probes),))
            cur.execute(
                f"SELECT k.id, k.moment_id, k.wall, -(k.embedding <#> %s) FROM keyframes k WHERE {conditions} "
                "ORDER BY k.embedding <#> %s LIMIT %s",
                [q, *args, q, fetch],
            )
        return [(int(i), str(m), float(w), float(s)) for i, m, w, s in cur.fetchall()]

    def expired(self, before: float) -> list[str]:
        return [r[0] for r in self._all("SELECT id FROM moments WHERE end_wall < %s", [before])]

    def footprints(self) -> Iterator[tuple[str, int]]:
        """Every moment, oldest first, with the bytes forgetting it frees (snapshots, clip, vectors, rows)."""
        per_vector = 4 * (self._dim or 0) + 64
        rows = self._all(
            "SELECT m.id, m.thumb_bytes + m.clip_bytes + COALESCE(SUM(CASE WHEN k.thumbnail IS DISTINCT FROM "
            "m.thumbnail THEN k.thumb_bytes ELSE 0 END), 0), COUNT(k.id) "
            "FROM moments m LEFT JOIN keyframes k ON k.moment_id = m.id GROUP BY m.id ORDER BY m.start_wall"
        )
        for mid, files, keys in rows:
            yield str(mid), int(files) + int(keys) * per_vector + ROW_BYTES

    def compact(self) -> None:
        """PostgreSQL's autovacuum gives deleted rows' space back; nothing to do here."""

    def iter_all(self) -> Iterator[Moment]:
        yield from self.search(limit=-1, newest_first=False)

    # -- helpers ---------------------------------------------------------------------------------

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._transaction() as cur:
            cur.execute(sql, list(args))
            return list(cur.fetchall())
