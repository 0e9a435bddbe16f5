"""The shipped benchmarks run and report what they promise (on small inputs; figures are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import PERSON_CLIP, SHORT_CLIP, run_cli


@pytest.mark.slow
def test_bench_ingest_reports_every_mode_side_by_side(media: Path) -> None:
    result = run_cli("bench", "ingest", "--file", str(SHORT_CLIP), "--repeat", "1", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clip"]["gop_frames"] > 0
    for mode in ("full", "sampled", "keyframes", "every_frame"):
        entry = report["modes"][mode]
        for key in ("fps", "ffmpeg_fps", "ratio", "realtime_factor", "peak_rss_mb"):
            assert entry[key] > 0, (mode, key)
        assert entry["ratio"] == pytest.approx(entry["fps"] / entry["ffmpeg_fps"], rel=0.01)
    frames = report["clip"]["frames"]
    assert report["modes"]["full"]["frames_decoded"] == frames
    assert report["modes"]["keyframes"]["frames_decoded"] < frames
    assert report["buffer"]["mb_per_camera_minute"] > 0


@pytest.mark.slow
def test_bench_e2e_measures_latency_through_rtsp_and_a_broker(media: Path, tmp_path: Path) -> None:
    result = run_cli(
        "bench", "e2e", "--cameras", "2", "--seconds", "12", "--scorers", "activity,embedding+gate",
        "--work", str(tmp_path), "--json", timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["transport"].startswith("rtsp")
    step = report["steps"][0]
    assert step["cameras"] == 2 and step["scorer"] == "activity"
    assert step["frames_sampled"] > 0 and step["cpu_per_camera"] > 0 and step["rss_mb_per_camera"] > 0
    assert 0 < step["decision_lag_p95_s"] <= step["max_lag_s"]  # a frame's arrival to its scores, live cameras
    assert step["rig_cpu_cores"] > 0  # the RTSP server and publishers share the cores, and the report says how much
    # The clip's first person walks in at 7 s: with 12 s measured there is an alert per camera.
    assert step["alerts"] >= 1 and step["latency_p50_s"] is not None
    assert step["latency_p50_s"] >= 0  # a figure, not a verdict: how fast depends on the machine
    assert report["max_realtime_cameras"]["activity"] in (0, 2)
    # The activity scorer is the gate's own measure: it runs on every frame. Behind the gate, the real-size
    # embedding model skips the empty room the person clip opens with (0-7 s).
    assert step["held_frames"] == 0 and step["model_frames"] > 0 and step["model_share"] == 1.0
    gated = next(s for s in report["steps"] if s["scorer_setting"] == "embedding+gate")
    assert gated["scorer"] == "embedding" and gated["model_frames"] > 0 and gated["held_frames"] > 0
    # The machine's measure, for comparing runs on different machines: the CPU, and the tower's cost alone.
    assert report["cpu"]
    (alone,) = report["model_alone"]
    assert alone["runtime"] == "torch" and alone["batch1_ms"] > 0 and alone["batch8_ms"] > 0


def test_bench_e2e_can_leave_the_cores_to_feedwatch_with_paced_files(media: Path, tmp_path: Path) -> None:
    result = run_cli(
        "bench", "e2e", "--cameras", "1", "--seconds", "4", "--scorers", "activity", "--transport", "files",
        "--work", str(tmp_path), "--json", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (step,) = report["steps"]
    assert report["transport"] == "paced files" and step["rig_cpu_cores"] == 0 and step["frames_sampled"] > 0


@pytest.mark.slow
def test_bench_memory_reports_its_figures(tmp_path: Path) -> None:
    result = run_cli("bench", "memory", "--n", "3000", "--dim", "64", "--queries", "50", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for kind in ("clustered", "uniform"):
        r = report[kind]
        assert r["n"] == 3000 and r["recall_at_10"] == 1.0  # filtered searches are exact
        for key in ("add_per_s", "search_p50_ms", "search_p99_ms", "disk_mb", "rss_mb", "reopen_s"):
            assert r[key] > 0, (kind, key)


@pytest.mark.slow
def test_bench_scoring_reports_throughput_and_queue_lag(media: Path) -> None:
    result = run_cli(
        "bench", "scoring", "--backends", "activity", "--cameras", "2", "--seconds", "4", "--windows", "2", "--json",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["backends"]["activity"]
    assert entry["frames_per_s"] > 0 and entry["window_latency_p50_s"] >= 0
    replay = entry["replay"]
    assert replay["cameras"] == 2 and replay["scored_frames"] > 0 and replay["queue_lag_s"] >= 0


@pytest.mark.slow
def test_bench_scoring_runs_the_remote_scorer_one_at_a_time_and_many_at_once(media: Path) -> None:
    """Four cameras' windows against a stand-in server: with one request in flight the server never sees two;
    with eight, it sees several at once, on reused connections."""
    result = run_cli(
        "bench", "scoring", "--backends", "openai", "--in-flight", "1,8", "--server-latency", "0.2", "--cameras", "4",
        "--seconds", "12", "--windows", "2", "--json", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    backends = json.loads(result.stdout)["backends"]
    one, many = backends["openai x1"]["replay"]["server"], backends["openai x8"]["replay"]["server"]
    assert one["most_in_flight"] == 1 and one["max_in_flight"] == 1
    assert many["most_in_flight"] > 1 and many["max_in_flight"] == 8
    assert many["requests_served_per_s"] > 0 and many["connections"] >= 1


def test_bench_memory_names_the_index_the_store_really_uses() -> None:
    from agents.bench.memory import run_memory_bench
    from agents.memory.vectors import EXACT_MAX

    n = EXACT_MAX + 10_000  # past EXACT_MAX, but the store stays exact up to twice that
    report = run_memory_bench(n, 8, queries=20, uniform_too=False)["clustered"]
    assert report["n"] == n and report["index"] == "exact"


def test_bench_memory_recall_counts_only_searches_with_something_to_find() -> None:
    """A small memory leaves some camera-day windows empty: those searches have no truth, not zero recall."""
    from agents.bench.memory import run_memory_bench

    report = run_memory_bench(300, 8, queries=100, uniform_too=False)["clustered"]
    assert 0 < report["filtered_searches_with_truth"] < 100
    assert report["recall_at_10"] == 1.0  # filtered searches are exact


def test_bench_e2e_serves_its_api_on_a_free_port(tmp_path: Path) -> None:
    from agents.bench.e2e import service_config
    from agents.config import validate_config

    config = validate_config(service_config(["rtsp://127.0.0.1:9/cam0"], {"backend": "activity"}, 1883, tmp_path))
    assert config.http.enabled and config.http.port == 0


@pytest.mark.slow
def test_bench_recovery_kills_restarts_and_flaps_a_real_rtsp_camera() -> None:
    result = run_cli(
        "bench", "recovery", "--kills", "1", "--min-outage", "1", "--max-outage", "1", "--flap", "20", "--json",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"].startswith("rtsp") and "GOP 25" in report["source"]
    assert report["kills"] == report["recoveries"] == 1 and report["outage_events"] == 1
    assert report["detection_s"]["max"] is not None and report["recovery_s"]["max"] is not None
    flap = report["flap"]
    assert flap["cycles"] >= 5
    # Flapping is one outage: the hook (after 9 s away) runs once, and the log gets a handful of lines.
    assert flap["hook_runs"] == 1, flap["log"]
    assert flap["log_lines"] <= 12, flap["log"]


def test_bench_clips_reports_ring_cost_memory_and_write_times(media: Path) -> None:
    result = run_cli("bench", "clips", "--file", str(PERSON_CLIP), "--repeat", "1", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clip"]["gop_s"] == 1.0 and report["clip"]["width"] == 768  # the clip's GOP is stated
    assert report["demux_with_ring_cpu_s"] >= 0 and 0 <= report["ring_cpu_share_of_one_core"] < 1
    # 139 s at about 0.19 Mbit/s: the ring's payload per minute is the stream's bytes per minute.
    per_minute = PERSON_CLIP.stat().st_size / report["stream_s"] * 60 / 2**20
    assert abs(report["ring_payload_mib_per_min"] - per_minute) < 0.15 * per_minute
    assert report["ring_traced_mib_per_min"] >= report["ring_payload_mib_per_min"]
    assert 19.0 <= report["written_clip"]["seconds"] <= 22.0 and report["write_20s_ms"]["median"] > 0


def test_bench_memory_runs_the_postgres_memory_beside_and_leaves_nothing_behind(pg_url: str) -> None:
    import psycopg

    from agents.bench.memory import run_memory_bench

    report = run_memory_bench(12_000, 16, queries=20, uniform_too=False, url=pg_url)["clustered"]
    pg = report["postgres"]
    assert pg["recall_at_10"] == 1.0  # a camera-day holds few keyframes: searched exactly
    assert pg["unfiltered_recall_at_10"] >= 0.9 and pg["index"].startswith("ivfflat, ")
    assert pg["search_p50_ms"] > 0 and pg["load_per_s"] > 0 and pg["add_per_s"] > 0
    # What a filtered search's speed depends on is reported: the table it reads and the server's buffers for it.
    assert 0 < pg["table_mb"] <= pg["disk_mb"] and pg["shared_buffers"].endswith(("kB", "MB", "GB"))
    with psycopg.connect(pg_url) as conn:  # the bench's schema is dropped after
        left = conn.execute("SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'feedwatch_bench%'").fetchone()
    assert left == (0,)
