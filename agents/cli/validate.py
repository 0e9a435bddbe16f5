"""``feedwatch validate``: check a config file and print every error with its key path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import FeedwatchConfig, format_validation_error, read_config_file

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("validate", help="check a config file and print every error with its key path")
    p.add_argument("config", type=Path, help="YAML config file")
    p.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    data = read_config_file(args.config)
    try:
        config = FeedwatchConfig.model_validate(data)
    except ValidationError as exc:
        for line in format_validation_error(exc):
            print(f"{args.config}: {line}", file=sys.stderr)
        return 1
    print(
        f"{args.config}: OK ({len(config.cameras)} camera(s), {len(config.queries)} query(ies), "
        f"scorer {config.scorer.backend})"
    )
    return 0
