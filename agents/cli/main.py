"""The ``feedwatch`` command line: the parser, logging, and one clear error line instead of a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from streamer.errors import FeedwatchError
from streamer.redact import redact_text

from . import ask, bench, check, clip, evaluate, fleet, models, reload, run, validate

__all__ = ["build_parser", "main"]


def _version() -> str:
    try:
        return version("feedwatch")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedwatch",
        description="Watch camera streams for standing questions; alert over MQTT; answer questions about footage.",
    )
    parser.add_argument("--version", action="version", version=f"feedwatch {_version()}")
    parser.add_argument("--debug", action="store_true", help="debug logging, and tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="informational logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for family in (run, reload, check, ask, clip, validate, models, evaluate, bench, fleet):
        family.add_parsers(sub)
    return parser


def _setup_logging(args: argparse.Namespace, default: int) -> None:
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else default
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    if not args.debug:
        logging.getLogger("aiomqtt").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``feedwatch`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    _setup_logging(args, logging.INFO if args.command == "run" else logging.WARNING)
    try:
        status: int = args.handler(args)
        return status
    except FeedwatchError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"feedwatch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        print(
            f"feedwatch: internal error: {type(exc).__name__}: {redact_text(str(exc))}\n"
            "  this is a bug in feedwatch; run again with --debug for the traceback and please report it",
            file=sys.stderr,
        )
        return 70  # EX_SOFTWARE
