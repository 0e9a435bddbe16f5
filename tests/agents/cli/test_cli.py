"""The command line as a user runs it: exit codes, one clear message, no traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PERSON_CLIP, PERSON_TRUTH, ROOT, SHORT_CLIP, run_cli


def test_version_and_help() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("feedwatch ")
    helptext = run_cli("--help").stdout
    for command in ("run", "watch", "ask", "validate"):
        assert command in helptext


def _assert_clean_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("feedwatch: error:")]
    assert len(errors) == 1, result.stderr
    message = result.stderr[result.stderr.index(errors[0]) :]  # the message may list several problems
    assert words in message, message


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["watch", "/nonexistent/clip.mp4", "-q", "a person"], "no such file"),
        (["watch", str(ROOT / "README.md"), "-q", "a person"], "not a video"),
        (["watch", "rtsp://admin:hunter2@127.0.0.1:9/live", "-q", "a person"], "connection refused"),
        (["watch", str(SHORT_CLIP), "-q", "a person", "--scorer", "gens"], "no weights for"),
        (["watch", str(SHORT_CLIP), "-q", "a person", "--threshold", "9"], "threshold"),
        (["run", "--config", "/nonexistent.yaml"], "does not exist"),
        (["ask", "what happened?", "--memory", "/nonexistent/memory"], "no memory at"),
    ],
)
def test_bad_input_ends_with_one_clear_message(args: list[str], words: str, tmp_path: Path) -> None:
    if args[0] == "watch":
        args = [*args, "--memory", str(tmp_path / "memory")]
    result = run_cli(*args, timeout=60)
    _assert_clean_failure(result, words)
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("command", "content", "words"),
    [
        ("validate", b"cameras:\n  - id: caf\xe9\n", "is not UTF-8: byte 0xe9 at line 2, column 12"),
        ("run", b"cameras: [{id: a, url: x}]\nqueries: &q [*q]\n", "queries.0: a YAML alias refers to itself"),
        ("validate", b"cameras: " + b"[" * 10000 + b"]" * 10000 + b"\n", "nested too deeply"),
        (
            "validate",
            b"cameras: [{id: a, url: x}]\nmemory: {max_mb: .inf}\n",
            "memory.max_mb: Input should be a finite",
        ),
        ("run", b"cameras: [{id: a, url: x}]\nbuffer: {max_mb: .inf}\n", "buffer.max_mb: Input should be a finite"),
        ("run", b"cameras: [{id: a, url: 'http://[::1/cam'}]\n", "cameras.0.url: Value error, not a valid URL"),
    ],
)
def test_hostile_config_files_end_with_one_clear_message(
    command: str, content: bytes, words: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(content)
    args = ["run", "--config", str(cfg), "--memory", str(tmp_path / "m")] if command == "run" else [command, str(cfg)]
    result = run_cli(*args)
    if command == "validate" and "feedwatch: error:" not in result.stderr:  # validate lists validation errors itself
        assert result.returncode == 1 and "Traceback" not in result.stderr and words in result.stderr, result.stderr
        return
    _assert_clean_failure(result, words)


def test_a_malformed_url_given_to_watch_is_one_clear_message(tmp_path: Path) -> None:
    result = run_cli("watch", "http://[::1/cam", "-q", "a person", "--memory", str(tmp_path / "m"))
    _assert_clean_failure(result, "cameras.0.url: Value error, not a valid URL (Invalid IPv6 URL)")


def test_unknown_backend_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras: [{id: a, url: x}]\nscorer: {backend: magic}\n")
    result = run_cli("run", "--config", str(cfg))
    _assert_clean_failure(result, "scorer.backend")
    assert "'activity'" in result.stderr and "'gens'" in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = run_cli("--debug", "watch", "/nonexistent/clip.mp4", "-q", "x")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_validate_prints_each_error_with_its_key_path(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras:\n  - id: 'bad id'\n    url: x\n    fpz: 1\nmqtt:\n  port: 99999\n")
    result = run_cli("validate", str(cfg))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any("cameras.0.id:" in line for line in lines)
    assert any("cameras.0.fpz: Extra inputs are not permitted" in line for line in lines)
    assert any("mqtt.port:" in line for line in lines)
    ok = run_cli("validate", str(ROOT / "configs" / "default.yaml"))
    assert ok.returncode == 0 and "OK" in ok.stdout


@pytest.mark.slow
def test_watch_then_ask_on_a_real_video(media: Path, tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    result = run_cli("watch", str(PERSON_CLIP), "--query", "a person", "--json", "--memory", str(memory))
    assert result.returncode == 0, result.stderr
    assert "ACTIVITY" in result.stderr  # the fallback is announced loudly
    events = [json.loads(line) for line in result.stdout.splitlines()]
    ends = [e for e in events if e["type"] == "end"]
    truth = [(e["start"], e["end"]) for e in json.loads(PERSON_TRUTH.read_text())["events"]]
    assert len(ends) == len(truth)
    for e in ends:
        assert e["query_id"] == "a-person" and e["backend"] == "activity"
        assert any(s - 1 <= e["start_pts"] and e["end_pts"] <= t + 1 for s, t in truth)
    asked = run_cli("ask", "when was a person here?", "--memory", str(memory), "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["citations"] and set(answer["timings_ms"]) == {"parse", "retrieve", "select", "answer"}
