"""``feedwatch models``: each backend's model, where it was looked for, whether it is here; ``models pull`` fetches."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import FeedwatchConfig
from .common import load_with_memory

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("models", help="list the models the config names and whether they are here; pull them")
    p.add_argument("--config", "-c", type=Path, help="take the model settings from this config (default: the defaults)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=_cmd_list)
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    pull = actions.add_parser(
        "pull",
        help="download a model into the Hugging Face cache (resumable; HF_ENDPOINT mirrors, HF_TOKEN for gated models)",
    )
    pull.add_argument("target", help="gens, embedding or qa (the model the config names), or a hub id")
    pull.add_argument("--config", "-c", type=Path, help="take the model settings from this config")
    pull.add_argument("--revision", help="a branch, tag or commit (default: main)")
    pull.set_defaults(handler=_cmd_pull)


def _config(path: Path | None) -> FeedwatchConfig:
    return load_with_memory(path, None) if path is not None else FeedwatchConfig()


def _cmd_list(args: argparse.Namespace) -> int:
    from ..models.hub import statuses

    found = statuses(_config(args.config))
    if args.json:
        print(json.dumps([s.to_dict() for s in found], indent=2))
        return 0
    for s in found:
        where = f"present: {s.folder}" if s.folder else "missing: looked in " + " and ".join(s.looked)
        print(f"{s.role:<10} {s.model}  ({s.setting})\n           {where}")
    missing = [s.role for s in found if s.folder is None]
    if missing:
        print(f"\nfetch with: feedwatch models pull {missing[0]}")
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    from ..models.hub import pull

    folder = pull(args.target, _config(args.config), revision=args.revision)
    print(f"{args.target}: ready in {folder}")
    if args.revision:  # the configured hub id means the snapshot `main` points to: name this one's folder instead
        print(f"to use revision {args.revision}, set the model setting to that folder")
    return 0
