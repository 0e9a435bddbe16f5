"""``feedwatch eval``: replay annotated videos through the real pipeline and report the alerts' quality."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError

from ..config import BACKEND_NAMES, default_memory_dir, read_config_file
from .common import load_with_memory, open_memory_read_only

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="replay annotated videos through the pipeline and measure the alerts; or, with --feedback, report "
        "precision per query from users' marks",
    )
    p.add_argument("annotations", nargs="*", type=Path, metavar="ANNOTATION.json", help="one annotation per video")
    p.add_argument("--feedback", action="store_true", help="report precision per query from the marks in the memory")
    p.add_argument("--memory", type=Path, help=f"memory folder for --feedback (default {default_memory_dir()})")
    p.add_argument("--scorer", choices=["auto", *BACKEND_NAMES], help="scorer backend (default auto)")
    p.add_argument("--config", "-c", type=Path, help="take scorer, alert and buffer settings from this config")
    p.add_argument("--threshold", type=float, default=3.0, help="alert threshold 1-5 for every query (default 3)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=_cmd_eval)


class _ProgressBar:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._last = ""

    def __call__(self, name: str, fraction: float) -> None:
        if not self.enabled:
            return
        width = 30
        done = int(width * fraction)
        line = f"\r{name[:30]:<30} [{'#' * done}{'.' * (width - done)}] {fraction * 100:5.1f}%"
        if line != self._last:
            sys.stderr.write(line)
            sys.stderr.flush()
            self._last = line
        if fraction >= 1.0:
            sys.stderr.write("\n")
            self._last = ""


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.feedback:
        return _feedback(args)
    if not args.annotations:
        raise ConfigError("give one or more ANNOTATION.json files, or --feedback")
    from ..eval import evaluate, format_eval

    if not 1.0 <= args.threshold <= 5.0:
        raise ConfigError(f"--threshold must be between 1 and 5 (GenS's scale), not {args.threshold}")
    base = read_config_file(args.config) if args.config else {}
    result = asyncio.run(
        evaluate(
            args.annotations, base_config=base, scorer=args.scorer, threshold=args.threshold, progress=_ProgressBar()
        )
    )
    print(json.dumps(result, indent=2) if args.json else format_eval(result))
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from ..eval.feedback import feedback_report, format_feedback

    config = load_with_memory(args.config, None) if args.config else None
    with open_memory_read_only(args.memory, config) as store:
        report = feedback_report(store)
    print(json.dumps(report, indent=2) if args.json else format_feedback(report))
    return 0
