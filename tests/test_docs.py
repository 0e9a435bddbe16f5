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
    assert "feedwatch watch tests/media/one-by-one-person-detection.mp4" in first


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


def test_the_quick_start_clip_is_in_the_repository() -> None:
    first = re.findall(r"```bash\n(.*?)```", _readme(), re.S)[0]
    clip = re.search(r"feedwatch watch (\S+)", first)
    assert clip is not None and (ROOT / clip.group(1)).is_file(), first


# Ways a file could lean on something beside the checkout: the development machines keep the sample clips and
# other material in a folder next to it, which a user's clone does not have.
_OUTSIDE = re.compile(r"\.\./shared\b|shared[/]media|parent\s*/\s*[\"']shared[\"']|parents\[\d\]\s*/\s*[\"']shared")


def test_nothing_in_the_repository_points_outside_it() -> None:
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    offenders = []
    for name in tracked.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.suffix in {".mp4", ".mkv", ".npz", ".jpg", ".png"}:
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in _OUTSIDE.finditer(text)]
    assert not offenders, f"paths outside the repository: {offenders}"
