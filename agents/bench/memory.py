"""`feedwatch bench memory`: the vector memory at size, on clustered and on uniform random vectors.

Real embeddings cluster (scenes repeat, cameras see the same things), so the main figures use a
mixture of Gaussians; uniform random vectors on the sphere are reported as the worst case for the
approximate index. Each search is a top-10 with a camera and a one-day time filter (how people ask:
"on the porch camera yesterday"); unfiltered search is reported beside it.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from numpy.typing import NDArray

from ..memory.records import Keyframe, Moment
from ..memory.vectors import VectorStore
from .common import percentile

__all__ = ["clustered", "run_memory_bench", "uniform"]

CAMERAS = 8
DAYS = 30


def _normalise(x: NDArray[np.float32]) -> NDArray[np.float32]:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered(
    n: int, dim: int, rng: np.random.Generator, clusters: int = 1000, spread: float = 0.35
) -> NDArray[np.float32]:
    """Unit vectors drawn around ``clusters`` random centres (a mixture of Gaussians)."""
    centres = _normalise(rng.standard_normal((clusters, dim)).astype(np.float32))
    out = np.empty((n, dim), np.float32)
    step = 100_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        pick = rng.integers(0, clusters, hi - lo)
        noise = rng.standard_normal((hi - lo, dim)).astype(np.float32) * (spread / np.sqrt(dim))
        out[lo:hi] = centres[pick] + noise
    return _normalise(out)


def uniform(n: int, dim: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """Unit vectors uniform on the sphere: no structure for an index to exploit."""
    out = np.empty((n, dim), np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        out[lo:hi] = rng.standard_normal((hi - lo, dim)).astype(np.float32)
    return _normalise(out)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


@dataclass(frozen=True)
class _Data:
    """One run's vectors, their cameras and times, the queries with their filters, and the exact answers."""

    vecs: NDArray[np.float32]
    walls: NDArray[np.float64]
    cameras: list[str]
    queries: NDArray[np.float32]
    filters: list[tuple[str, float, float]]
    truth_filtered: list[set[int]]
    truth_unfiltered: list[set[int]]


def _recalls(truths: list[set[int]], found: list[set[int]]) -> list[float]:
    """Recall of each search that had something to find."""
    return [len(t & f) / len(t) for t, f in zip(truths, found, strict=True) if t]


def _scoped(url: str, schema: str) -> str:
    """``url`` with its sessions' search path set to ``schema`` (pgvector's type stays reachable in public)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema},public")]
    return urlunsplit(parts._replace(query=urlencode(query)))


_COPY_MOMENTS = (
    "COPY moments (id, camera, kind, start_wall, end_wall, start_pts, end_pts, backend, semantic, peak, created) "
    "FROM STDIN"
)
_COPY_KEYFRAMES = "COPY keyframes (id, moment_id, camera, wall, pts, embedding) FROM STDIN WITH (FORMAT BINARY)"


def _postgres(kind: str, url: str, data: _Data, progress: Callable[[str], None] | None, work: Path) -> dict[str, Any]:
    """The PostgreSQL memory on the same data: bulk-loaded, its IVFFlat index built, searched, then fed moment by
    moment as the service writes (the steady-state add rate with the index in place)."""
    import psycopg
    from pgvector.psycopg import register_vector

    from ..memory.pg import PROBES, PgMomentMemory

    schema = f"feedwatch_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"CREATE SCHEMA {schema}")
    scoped = _scoped(url, schema)
    n, dim = data.vecs.shape
    try:
        with PgMomentMemory(scoped, work / "pg-files", dim=dim) as mem, psycopg.connect(scoped, autocommit=True) as c:
            register_vector(c)
            t0 = time.perf_counter()
            step = 50_000
            with c.cursor() as cur:
                for lo in range(0, n, step):
                    hi = min(n, lo + step)
                    with c.transaction():
                        with cur.copy(_COPY_MOMENTS) as copy:
                            for i in range(lo, hi):
                                w = float(data.walls[i])
                                copy.write_row((f"v{i}", data.cameras[i], "context", w, w, 0, 0, "bench", True, 3, 0))
                        with cur.copy(_COPY_KEYFRAMES) as copy:
                            copy.set_types(["int8", "text", "text", "float8", "float8", "vector"])
                            for i in range(lo, hi):
                                copy.write_row((i, f"v{i}", data.cameras[i], float(data.walls[i]), 0.0, data.vecs[i]))
                    if progress and (lo // step) % 4 == 0:
                        progress(f"{kind} postgres: loaded {hi:,}/{n:,}")
                c.execute("SELECT setval('keyframes_id_seq', %s)", (n,))
                load_s = time.perf_counter() - t0
                if progress:
                    progress(f"{kind} postgres: building the vector index")
                c.execute("VACUUM ANALYZE keyframes")  # as autovacuum leaves a table after a load
                c.execute("VACUUM ANALYZE moments")
                t0 = time.perf_counter()
                lists = mem.maintain_index()  # as the memory does when its vectors outgrow exact search
                build_s = time.perf_counter() - t0
            filtered_ms, unfiltered_ms, found_f, found_u = [], [], [], []
            for q, (cam, since, until) in zip(data.queries, data.filters, strict=True):
                t = time.perf_counter()
                found_f.append({i for i, _ in mem.nearest_keyframes(q, 10, camera=cam, since=since, until=until)})
                filtered_ms.append((time.perf_counter() - t) * 1e3)
            for q in data.queries:
                t = time.perf_counter()
                found_u.append({i for i, _ in mem.nearest_keyframes(q, 10)})
                unfiltered_ms.append((time.perf_counter() - t) * 1e3)
            # The lists scanned trade recall for time: the same unfiltered searches at other numbers of them.
            sweep = []
            for probes in sorted({2, 5, 10, 20} - {PROBES}):
                mem.probes = probes
                times, found = [], []
                for q in data.queries:
                    t = time.perf_counter()
                    found.append({i for i, _ in mem.nearest_keyframes(q, 10)})
                    times.append((time.perf_counter() - t) * 1e3)
                recall = float(np.mean(_recalls(data.truth_unfiltered, found)))
                sweep.append({"probes": probes, "p50_ms": round(percentile(times, 50), 3),
                              "p99_ms": round(percentile(times, 99), 3), "recall_at_10": round(recall, 4)})  # fmt: skip
            mem.probes = PROBES
            adds = 500
            t0 = time.perf_counter()
            for i in range(adds):
                v = data.vecs[i % n]
                w = float(data.walls[-1]) + i
                mem.add(
                    Moment(f"add{i}", data.cameras[i % n], w, w, 0.0, 0.0, "bench", True, 3.0, {"q": 3.0}),
                    [Keyframe(w, 0.0, None, v)],
                )
            add_s = time.perf_counter() - t0
            (size_mb, index_mb, table_mb, buffers) = c.execute(
                "SELECT (pg_total_relation_size('keyframes') + pg_total_relation_size('moments')) / 1048576.0, "
                "COALESCE(pg_relation_size(to_regclass('keyframes_ivf')), 0) / 1048576.0, "
                "pg_relation_size('keyframes') / 1048576.0, current_setting('shared_buffers')"
            ).fetchall()[0]
        recall_f = _recalls(data.truth_filtered, found_f)
        recall_u = _recalls(data.truth_unfiltered, found_u)
        return {
            "index": f"ivfflat, {lists} lists",
            "load_per_s": round(n / load_s, 1),
            "index_build_s": round(build_s, 1),
            "add_per_s": round(adds / add_s, 1),
            "search_p50_ms": round(percentile(filtered_ms, 50), 3),
            "search_p99_ms": round(percentile(filtered_ms, 99), 3),
            "recall_at_10": round(float(np.mean(recall_f)), 4) if recall_f else None,
            "unfiltered_search_p50_ms": round(percentile(unfiltered_ms, 50), 3),
            "unfiltered_search_p99_ms": round(percentile(unfiltered_ms, 99), 3),
            "unfiltered_recall_at_10": round(float(np.mean(recall_u)), 4),
            "probes": PROBES,
            "unfiltered_by_probes": sweep,
            "disk_mb": round(float(size_mb), 1),
            "index_mb": round(float(index_mb), 1),
            # A filtered search reads its keyframes' rows off the table: served from PostgreSQL's own buffers when
            # they hold the table, else page by page from the OS (twice as slow at a million vectors).
            "table_mb": round(float(table_mb), 1),
            "shared_buffers": str(buffers),
        }
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _one(
    kind: str, n: int, dim: int, queries: int, progress: Callable[[str], None] | None, work: Path, url: str | None
) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    make = clustered if kind == "clustered" else uniform
    if progress:
        progress(f"{kind}: generating {n:,} vectors of {dim} dims")
    vecs = make(n, dim, rng)
    span = DAYS * 86400.0
    walls = np.sort(rng.uniform(0, span, n))
    cams = rng.integers(0, CAMERAS, n)
    names = [f"cam{c}" for c in range(CAMERAS)]
    path = work / kind
    store = VectorStore(path, dim)
    batch = 10_000
    t0 = time.perf_counter()
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        store.add(np.arange(lo, hi, dtype=np.int64), [names[c] for c in cams[lo:hi]], walls[lo:hi], vecs[lo:hi])
        if progress and (lo // batch) % 20 == 0:
            progress(f"{kind}: added {hi:,}/{n:,}")
    add_s = time.perf_counter() - t0
    store.checkpoint()
    if progress:
        progress(f"{kind}: {store.index_kind} index; searching")
    qs = vecs[rng.integers(0, n, queries)] + rng.standard_normal((queries, dim)).astype(np.float32) * 0.02
    qs = _normalise(qs)
    filters = []
    for _ in range(queries):
        since = float(rng.uniform(0, span - 86400))
        filters.append((names[int(rng.integers(0, CAMERAS))], since, since + 86400))
    # Timed loops first, recall afterwards: the exact reference scans everything and would evict the
    # caches between timed searches, which a running service does not do.
    filtered_ms, unfiltered_ms = [], []
    filtered_hits, unfiltered_hits = [], []
    for q, (cam, since, until) in zip(qs, filters, strict=True):
        t = time.perf_counter()
        filtered_hits.append(store.search(q, 10, camera=cam, since=since, until=until))
        filtered_ms.append((time.perf_counter() - t) * 1e3)
    for q in qs:
        t = time.perf_counter()
        unfiltered_hits.append(store.search(q, 10))
        unfiltered_ms.append((time.perf_counter() - t) * 1e3)
    # Recall is over the searches that have something to find: a camera-day with no vector has no truth.
    truth_f = [
        {h.id for h in store.exact_search(q, 10, camera=c, since=a, until=b)}
        for q, (c, a, b) in zip(qs, filters, strict=True)
    ]
    truth_u = [{h.id for h in store.exact_search(q, 10)} for q in qs]
    recall_f = _recalls(truth_f, [{h.id for h in hits} for hits in filtered_hits])
    recall_u = _recalls(truth_u, [{h.id for h in hits} for hits in unfiltered_hits])
    pg = None
    if url is not None:
        data = _Data(vecs, walls, [names[c] for c in cams], qs, filters, truth_f, truth_u)
        pg = _postgres(kind, url, data, progress, work)
    index = store.index_kind  # what the store really switched to at this size
    store.close()
    rss = _rss_mb()
    del store
    t = time.perf_counter()
    reopened = VectorStore(path, dim)
    reopen_s = time.perf_counter() - t
    assert len(reopened) == n
    reopened.close()
    return {
        "n": n,
        "dim": dim,
        "index": index,
        "add_per_s": round(n / add_s, 1),
        "search_p50_ms": round(percentile(filtered_ms, 50), 3),
        "search_p99_ms": round(percentile(filtered_ms, 99), 3),
        "recall_at_10": round(float(np.mean(recall_f)), 4) if recall_f else None,
        "filtered_searches_with_truth": len(recall_f),
        "unfiltered_search_p50_ms": round(percentile(unfiltered_ms, 50), 3),
        "unfiltered_search_p99_ms": round(percentile(unfiltered_ms, 99), 3),
        "unfiltered_recall_at_10": round(float(np.mean(recall_u)), 4),
        "reopen_s": round(reopen_s, 3),
        "disk_mb": round(_disk_mb(path), 1),
        "rss_mb": round(rss, 1),
        **({"postgres": pg} if pg is not None else {}),
    }


def run_memory_bench(
    n: int,
    dim: int = 512,
    *,
    queries: int = 200,
    uniform_too: bool = True,
    progress: Callable[[str], None] | None = None,
    work: Path | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Build, search and reopen a vector memory of ``n`` vectors; clustered first, uniform as worst case. With
    ``url``, the PostgreSQL memory is built from the same vectors in a schema of its own there (dropped after) and
    searched with the same queries, beside it."""
    root = Path(tempfile.mkdtemp(prefix="feedwatch-bench-memory-", dir=work))
    try:
        report: dict[str, Any] = {
            "filter": f"top-10 within one camera of {CAMERAS} and a one-day window of {DAYS} days",
            "clustered": _one("clustered", n, dim, queries, progress, root, url),
        }
        if uniform_too:
            shutil.rmtree(root / "clustered", ignore_errors=True)
            report["uniform"] = _one("uniform", n, dim, queries, progress, root, url)
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


def format_report(report: dict[str, Any]) -> str:
    lines = [f"search: {report['filter']}"]
    notes: list[str] = []
    head = f"{'data':<10}{'n':>10}{'index':>7}{'add/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'recall@10':>10}"
    head += f"{'unfilt p99':>11}{'unfilt rec':>11}{'reopen s':>9}{'disk MB':>9}{'RSS MB':>8}"
    lines.append(head)
    for kind in ("clustered", "uniform"):
        r = report.get(kind)
        if r is None:
            continue
        recall = "-" if r["recall_at_10"] is None else f"{r['recall_at_10']:.3f}"
        lines.append(
            f"{kind:<10}{r['n']:>10,}{r['index']:>7}{r['add_per_s']:>11,.0f}{r['search_p50_ms']:>8.2f}"
            f"{r['search_p99_ms']:>8.2f}{recall:>10}{r['unfiltered_search_p99_ms']:>11.2f}"
            f"{r['unfiltered_recall_at_10']:>11.3f}{r['reopen_s']:>9.2f}{r['disk_mb']:>9.0f}{r['rss_mb']:>8.0f}"
        )
        pg = r.get("postgres")
        if pg is not None:
            recall = "-" if pg["recall_at_10"] is None else f"{pg['recall_at_10']:.3f}"
            lines.append(
                f"{'  postgres':<10}{r['n']:>10,}{'ivf':>7}{pg['add_per_s']:>11,.0f}{pg['search_p50_ms']:>8.2f}"
                f"{pg['search_p99_ms']:>8.2f}{recall:>10}{pg['unfiltered_search_p99_ms']:>11.2f}"
                f"{pg['unfiltered_recall_at_10']:>11.3f}{'-':>9}{pg['disk_mb']:>9.0f}{'-':>8}"
            )
            for row in pg["unfiltered_by_probes"]:
                notes.append(
                    f"{kind}, postgres, unfiltered with {row['probes']} probes: p50 {row['p50_ms']:.2f} ms, "
                    f"p99 {row['p99_ms']:.2f} ms, recall@10 {row['recall_at_10']:.3f}"
                )
            notes.append(
                f"{kind}, postgres: bulk load {pg['load_per_s']:,.0f} vectors/s, index ({pg['index']}, {pg['probes']} "
                f"probes) built in {pg['index_build_s']:.0f} s ({pg['index_mb']:.0f} MB); add/s: moment by moment"
            )
            notes.append(
                f"{kind}, postgres: keyframes table {pg['table_mb']:.0f} MB, the server's shared_buffers "
                f"{pg['shared_buffers']} (filtered searches read the table's rows: size it to hold them)"
            )
    return "\n".join(lines + notes)
