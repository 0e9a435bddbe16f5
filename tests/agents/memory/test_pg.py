"""The PostgreSQL memory against a real PostgreSQL 16 with pgvector: the same answers as the embedded memory on the
same moments, its vectors searched with the filters in SQL, clear errors, and a database that goes away and back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest
from numpy.typing import NDArray

from agents.memory import Keyframe, Moment, disk_usage, prune
from agents.memory.backend import Memory, open_memory
from agents.memory.pg import PgMomentMemory
from agents.memory.records import Feedback
from streamer import MemoryStoreError
from streamer.redact import redact_url
from tests.helpers import SHORT_CLIP, Postgres, run_cli, scaled

Opener = Callable[..., Memory]


@pytest.fixture(params=["embedded", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the same memory again and again: a folder, or a PostgreSQL database (with the folder for files)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None

    def open_it(**kw: object) -> Memory:
        return open_memory(tmp_path / "mem", url, **kw)  # type: ignore[arg-type]

    return open_it


def _moment(i: int, camera: str = "cam", query: str = "person", peak: float = 4.0, thumb: str | None = None) -> Moment:
    return Moment(
        id=f"m{i}", camera=camera, start_wall=1000.0 + 10 * i, end_wall=1005.0 + 10 * i, start_pts=10.0 * i,
        end_pts=10.0 * i + 5, backend="embedding", semantic=True, peak=peak, queries={query: peak},
        query_texts={query: f"text of {query}"}, thumbnail=thumb, clip_info={"codec": "h264", "gaps": []},
    )  # fmt: skip


def _unit(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def test_both_memories_answer_filters_alike_and_keep_them_across_reopening(opener: Opener) -> None:
    with opener() as mem:
        for i in range(10):
            mem.add(_moment(i, camera="a" if i % 2 else "b", query="car" if i >= 8 else "person", peak=1 + i * 0.4))
        mem.add(_moment(3, camera="a", peak=2.5))  # replaced, not added
        assert mem.count() == 10
        assert mem.cameras() == ["a", "b"]
        assert [m.id for m in mem.search(camera="a", newest_first=False)] == ["m1", "m3", "m5", "m7", "m9"]
        assert [m.id for m in mem.search(since=1032, until=1050, newest_first=False)] == ["m3", "m4", "m5"]
        assert [m.id for m in mem.search(query_id="car")] == ["m9", "m8"]
        assert [m.id for m in mem.search(min_score=4.0, newest_first=False)] == ["m8", "m9"]
        assert [m.id for m in mem.search(limit=2, offset=1)] == ["m8", "m7"]
        assert mem.get("m3") == _moment(3, camera="a", peak=2.5)
        assert mem.get("m3").clip_info == {"codec": "h264", "gaps": []}  # type: ignore[union-attr]
        assert mem.get("nope") is None
        assert mem.expired(1031) == ["m0", "m1", "m2"]
        assert [m.id for m in mem.iter_all()][:3] == ["m0", "m1", "m2"]
    with opener(read_only=True) as again:
        assert again.count() == 10
        assert again.search(limit=1)[0].query_texts == {"car": "text of car"}


def test_both_memories_find_the_same_moments_by_similarity(tmp_path: Path, pg_url: str) -> None:
    """Filtered search is exact in both: on the same moments, the same ranking and similarities."""
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 120, 16)
    results = []
    for url in (None, pg_url):
        with open_memory(tmp_path / ("pg" if url else "faiss"), url) as mem:
            for i in range(40):
                mem.add(
                    _moment(i, camera="ab"[i % 2], query="car" if i % 3 == 0 else "person", peak=1 + (i % 5)),
                    [Keyframe(1000.0 + 10 * i + j, 10.0 * i + j, None, vecs[3 * i + j]) for j in range(3)],
                )
            q = vecs[7] + 0.3 * vecs[50]
            q /= np.linalg.norm(q)
            runs = [
                mem.search_similar(q, k=5),
                mem.search_similar(q, k=5, camera="b", since=1100, until=1300),
                mem.search_similar(q, k=4, query_id="car", min_score=2.0),
            ]
            results.append([[(s.moment.id, s.keyframe_wall, s.similarity) for s in r] for r in runs])
            assert mem.keyframe_times(["m2", "m5"]) == {"m2": 1020.0, "m5": 1050.0}
    faiss_results, pg_results = results
    assert [[hit[:2] for hit in run] for run in pg_results] == [[hit[:2] for hit in run] for run in faiss_results]
    sims = [[hit[2] for hit in run] for run in pg_results]
    assert sims == [pytest.approx([hit[2] for hit in run], abs=1e-5) for run in faiss_results]
    assert pg_results[0][0][0] == "m2"  # the keyframe the query was made from (vecs[7]: moment 2)
    assert all(mid in {f"m{i}" for i in range(40) if i % 2} for mid, _, _ in pg_results[1])


def test_feedback_deletion_and_retention_with_snapshots(opener: Opener) -> None:
    with opener() as mem:
        thumbs = [mem.save_snapshot(f"m{i}", b"\xff\xd8" + bytes([i]) * 30_000) for i in range(6)]
        for i in range(6):
            mem.add(_moment(i, thumb=thumbs[i]))
        assert mem.image(thumbs[2]) == b"\xff\xd8" + bytes([2]) * 30_000
        mem.set_feedback(Feedback("m1", "person", True, 5.0))
        mem.set_feedback(Feedback("m1", "person", False, 6.0, np.ones(3, np.float32)))  # a changed mind replaces
        (mark,) = mem.feedback(["m1"])
        assert (mark.match, mark.at) == (False, 6.0) and mark.vector is not None and mark.vector.tolist() == [1.0] * 3
        assert mem.feedback([]) == [] and len(mem.feedback()) == 1
        assert prune(mem, max_age_s=100, max_bytes=10**9, now=1000 + 100 + 21) == 2  # m0, m1 ended over 100 s ago
        assert not Path(thumbs[0]).exists() and mem.image(thumbs[0]) is None
        assert prune(mem, max_age_s=1e9, max_bytes=disk_usage(mem).moments - 2 * 30_000, now=0) == 2
        assert [m.id for m in mem.search(newest_first=False)] == ["m4", "m5"]
        assert mem.delete(["m4", "unknown"]) == 1 and mem.count() == 1


def test_snapshots_another_node_took_are_served_from_the_database(tmp_path: Path, pg_url: str) -> None:
    with open_memory(tmp_path / "node-a", pg_url) as a, open_memory(tmp_path / "node-b", pg_url) as b:
        path = a.save_snapshot("m1", b"\xff\xd8jpeg of node a")
        a.add(_moment(1, thumb=path))
        found = b.get("m1")
        assert found is not None and found.thumbnail == path
        assert not str(found.thumbnail).startswith(str(tmp_path / "node-b"))
        assert b.image(path) == b"\xff\xd8jpeg of node a"


def test_approximate_search_over_a_broad_filter_still_fills_k(tmp_path: Path, pg_url: str) -> None:
    """Past ``ivf_min`` vectors the memory builds an IVFFlat index; a filter that leaves more than ``exact_max``
    keyframes goes through it, and when the lists scanned hold too few that pass the filter, the search is redone
    exactly rather than returning fewer than k."""
    rng = np.random.default_rng(5)
    n = 3000
    vecs = _unit(rng, n, 8)
    with PgMomentMemory(pg_url, tmp_path, dim=8, exact_max=1000, ivf_min=1000) as mem:
        with psycopg.connect(pg_url, autocommit=True) as conn:  # bulk-load: one moment per keyframe is slow
            rows = [(f"b{i}", "big" if i < n - 30 else "rare", 1.0 + i, 1.0 + i) for i in range(n)]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO moments (id, camera, kind, start_wall, end_wall, start_pts, end_pts, backend, "
                    "semantic, peak, created) VALUES (%s, %s, 'alert', %s, %s, 0, 0, 'embedding', true, 3, 0)",
                    rows,
                )
                with cur.copy("COPY keyframes (moment_id, camera, wall, pts, embedding) FROM STDIN") as copy:
                    for (mid, cam, wall, _), v in zip(rows, vecs, strict=True):
                        copy.write_row((mid, cam, wall, 0.0, "[" + ",".join(map(str, v.tolist())) + "]"))
        assert mem.index_state() == (n, 0)  # loaded behind its back: no index yet
        assert mem.maintain_index() == 54  # about sqrt(n) lists
        assert mem.maintain_index() == 54 and mem.index_state() == (n, 54)  # not rebuilt until it is outgrown
        # "since 0" keeps every keyframe: broad, so through the index; the rare camera's 30 are far from the query.
        rare = mem.search_similar(-vecs[n - 1], k=10, camera="rare", since=0.0)
        assert len(rare) == 10 and {s.moment.camera for s in rare} == {"rare"}
        exact = mem.nearest_keyframes(vecs[0], 10, since=0.0, exact=True)
        approx = mem.nearest_keyframes(vecs[0], 10, since=0.0)
        assert exact[0][1] == pytest.approx(1.0, abs=1e-5)
        # The lists are k-means on a sample (they differ from build to build); what holds every time: a stored
        # vector is in its nearest list, which is always probed, and what comes back is ranked.
        assert approx[0] == exact[0] and len(approx) == 10
        assert [sim for _, sim in approx] == sorted((sim for _, sim in approx), reverse=True)
        mem.probes = 54  # every list: the index's answer is the exact one
        everything = mem.nearest_keyframes(vecs[0], 10, since=0.0)
        assert [i for i, _ in everything] == [i for i, _ in exact]
        assert [sim for _, sim in everything] == pytest.approx([sim for _, sim in exact], abs=1e-6)


def test_writes_build_the_index_once_the_vectors_outgrow_exact_search(tmp_path: Path, pg_url: str) -> None:
    rng = np.random.default_rng(6)
    vecs = _unit(rng, 1200, 16)
    with PgMomentMemory(pg_url, tmp_path, ivf_min=1100) as mem:
        for i in range(0, 1200, 3):
            mem.add(_moment(i), [Keyframe(1000.0 + i + j, float(j), None, vecs[i + j]) for j in range(3)])
        deadline = time.monotonic() + scaled(60)
        while mem.index_state()[1] == 0:  # built off the writer's path, by a thread of its own
            assert time.monotonic() < deadline, "no index was built"
            time.sleep(0.05)
        n, lists = mem.index_state()
        assert n == 1200 and 33 <= lists <= 34  # about sqrt of the 1100-1200 there were when it was built
        assert mem.search_similar(vecs[601], k=1)[0].moment.id == "m600"


def test_clear_errors(tmp_path: Path, pg_url: str, postgres: Postgres) -> None:
    with pytest.raises(MemoryStoreError, match="no memory in"):
        PgMomentMemory(pg_url, tmp_path, read_only=True)
    with PgMomentMemory(pg_url, tmp_path, dim=4):
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE feedwatch_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(MemoryStoreError, match="schema version 99; this feedwatch reads 1"):
        PgMomentMemory(pg_url, tmp_path)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE feedwatch_meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(MemoryStoreError, match="holds 4-dimensional embeddings; this model gives 8"):
        PgMomentMemory(pg_url, tmp_path, dim=8)
    missing = f"postgresql://postgres:s3cret@/nowhere?host={tmp_path / 'no-socket'}"
    refused = r"cannot connect to the memory database .*\*\*\*.*check memory.url"
    with pytest.raises(MemoryStoreError, match=refused) as e:
        PgMomentMemory(missing, tmp_path)
    assert "s3cret" not in str(e.value)
    assert redact_url("postgresql://u:pw@db.example:5432/fw") == "postgresql://u:***@db.example:5432/fw"
    assert "pw" not in redact_url("postgresql://u@db.example/fw?password=pw")  # libpq takes it as a parameter too


def test_a_database_that_goes_away_is_an_error_and_is_reconnected_to(tmp_path: Path) -> None:
    server = Postgres(tmp_path / "own-pg")
    url = server.new_database()
    try:
        with PgMomentMemory(url, tmp_path / "mem") as mem:
            mem.add(_moment(1))
            server.stop()
            with pytest.raises(MemoryStoreError, match=r"went away|cannot connect"):
                mem.add(_moment(2))
            server = Postgres(tmp_path / "own-pg")  # the same data folder, started again
            mem.add(_moment(2))
            assert [m.id for m in mem.search(newest_first=False)] == ["m1", "m2"]
    finally:
        server.stop()


def test_watch_remembers_in_postgres_and_search_reads_it_back(media: Path, tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(f"memory:\n  url: '{pg_url}'\n")
    node = tmp_path / "node"
    watched = run_cli(
        "watch", str(SHORT_CLIP), "-q", "a person", "--scorer", "activity", "--threshold", "2", "--json",
        "--config", str(config), "--memory", str(node),
    )  # fmt: skip
    assert watched.returncode == 0, watched.stderr
    ends = [e for e in map(json.loads, watched.stdout.splitlines()) if e["type"] == "end"]
    assert ends, watched.stderr
    assert not (node / "moments.sqlite").exists()  # the folder holds files only; moments are in the database
    found = run_cli("search", "--config", str(config), "--camera", ends[0]["camera"], "--json")
    assert found.returncode == 0, found.stderr
    remembered = {m["id"]: m for m in json.loads(found.stdout)}
    for e in ends:
        assert remembered[e["id"]]["backend"] == "activity"
        assert remembered[e["id"]]["queries"] == {"a-person": pytest.approx(e["peak_score"], abs=0.01)}
    with psycopg.connect(pg_url) as conn:
        (images,) = conn.execute("SELECT COUNT(*) FROM images").fetchall()[0]
        assert images >= len(ends)  # snapshots for every node
