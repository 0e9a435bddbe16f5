"""The README, .ci/run and --help must agree with each other and with the code."""

from __future__ import annotations

import re

from agents.cli import build_parser
from tests.helpers import ROOT


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", _readme(), re.S)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_quick_start_runs_watch_on_the_sample_clip() -> None:
    first = re.findall(r"```bash\n(.*?)```", _readme(), re.S)[0]
    assert "pip install" in first
    assert "feedwatch watch ../shared/media/intel-sample-videos/one-by-one-person-detection.mp4" in first


def test_every_command_is_documented_and_has_a_purpose() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    readme = _readme()
    for action in subparsers._choices_actions:  # type: ignore[attr-defined]
        assert action.help, action.dest
        assert f"`feedwatch {action.dest}" in readme, action.dest


def test_streamer_never_imports_agents() -> None:
    for path in (ROOT / "streamer").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+agents\b", text, re.M), path
