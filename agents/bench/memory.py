"""`feedwatch bench memory`: the vector memory at size, on clustered and on uniform random vectors.

Real embeddings cluster (scenes repeat, cameras see the same things), so the main figures use a
mixture of Gaussians; uniform random vectors on the sphere are reported as the worst case for the
approximate index. Each search is a top-10 with a camera and a one-day time filter (how people ask:
"on the porch camera yesterday"); unfiltered search is reported beside it.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


def _one(
    kind: str, n: int, dim: int, queries: int, progress: Callable[[str], None] | None, work: Path
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
    recall_f, recall_u = [], []
    for q, (cam, since, until), fh, uh in zip(qs, filters, filtered_hits, unfiltered_hits, strict=True):
        truth = {h.id for h in store.exact_search(q, 10, camera=cam, since=since, until=until)}
        if truth:
            recall_f.append(len(truth & {h.id for h in fh}) / len(truth))
        truth = {h.id for h in store.exact_search(q, 10)}
        recall_u.append(len(truth & {h.id for h in uh}) / len(truth))
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
    }


def run_memory_bench(
    n: int,
    dim: int = 512,
    *,
    queries: int = 200,
    uniform_too: bool = True,
    progress: Callable[[str], None] | None = None,
    work: Path | None = None,
) -> dict[str, Any]:
    """Build, search and reopen a vector memory of ``n`` vectors; clustered first, uniform as worst case."""
    root = Path(tempfile.mkdtemp(prefix="feedwatch-bench-memory-", dir=work))
    try:
        report: dict[str, Any] = {
            "filter": f"top-10 within one camera of {CAMERAS} and a one-day window of {DAYS} days",
            "clustered": _one("clustered", n, dim, queries, progress, root),
        }
        if uniform_too:
            shutil.rmtree(root / "clustered", ignore_errors=True)
            report["uniform"] = _one("uniform", n, dim, queries, progress, root)
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


def format_report(report: dict[str, Any]) -> str:
    lines = [f"search: {report['filter']}"]
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
    return "\n".join(lines)
