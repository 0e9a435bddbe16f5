"""``feedwatch fleet``: seed a fleet's cameras and queries from a config, and see which node holds what."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError

from ..config import FeedwatchConfig
from .common import load_with_memory

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "fleet",
        help="a fleet of nodes on one PostgreSQL: import its cameras and queries, show its nodes and leases",
        description="Nodes that share a PostgreSQL (fleet.url, or memory.url) share its cameras and standing "
        "queries; each node holds cameras through leases it renews (see the README, 'Running a fleet').",
    )
    fleet = p.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    i = fleet.add_parser(
        "import", help="make the fleet's cameras and queries those of CONFIG (added, changed, removed)"
    )
    i.add_argument("config", type=Path, metavar="CONFIG", help="a config file with cameras and queries")
    i.add_argument("--url", help="the fleet's PostgreSQL (default: fleet.url, else memory.url, of CONFIG)")
    i.add_argument("--json", action="store_true", help="print what changed as JSON")
    i.set_defaults(handler=_cmd_import)
    s = fleet.add_parser("status", help="the fleet's nodes, the cameras each holds, and the leases' ages")
    s.add_argument("--config", "-c", type=Path, help="take fleet.url (or memory.url) and lease_s from here")
    s.add_argument("--url", help="the fleet's PostgreSQL (overrides the config's)")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(handler=_cmd_status)


def _fleet_url(url: str | None, config: FeedwatchConfig | None) -> str:
    found = url or (config.fleet.url or config.memory.url if config is not None else None)
    if not found:
        raise ConfigError(
            "no fleet database: set fleet.url (or memory.url) in the config, or pass --url postgresql://..."
        )
    if not found.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"--url must be a PostgreSQL URL (postgresql://user:password@host/database), not {found!r}")
    return found


def _cmd_import(args: argparse.Namespace) -> int:
    from ..fleet.store import FleetStore

    config = load_with_memory(args.config, None)
    if not config.cameras:
        raise ConfigError(f"{args.config} configures no cameras; a fleet imports its cameras from 'cameras:'")
    with FleetStore(_fleet_url(args.url, config)) as store:
        report = store.import_config(config.cameras, config.queries)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        changes = [f"{key.replace('_', ' ')}: {', '.join(ids)}" for key, ids in report.items() if ids]
        print("\n".join(changes) if changes else "nothing changed")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from ..fleet.store import FleetStore

    config = load_with_memory(args.config, None) if args.config is not None else None
    lease_s = config.fleet.lease_s if config is not None else FeedwatchConfig().fleet.lease_s
    with FleetStore(_fleet_url(args.url, config)) as store:
        nodes = store.status(lease_s)
        leases = store.leases()
    if args.json:
        print(json.dumps({
            "nodes": [{"id": n.id, "api": n.api, "seen_s_ago": round(n.seen_s_ago, 1), "alive": n.alive,
                       "lag_s": n.lag_s, "cameras": n.cameras} for n in nodes],
            "leases": [{"camera": le.camera, "owner": le.owner, "held_s": _r(le.held_s),
                        "expires_in_s": _r(le.expires_in_s)} for le in leases],
        }, indent=2))  # fmt: skip
        return 0
    print(f"{'node':<24}{'state':<8}{'seen':>8}{'lag':>8}  cameras")
    for n in nodes:
        lag = "-" if n.lag_s is None else f"{n.lag_s:.1f}s"
        print(
            f"{n.id:<24}{'alive' if n.alive else 'gone':<8}{n.seen_s_ago:>7.1f}s{lag:>8}  {', '.join(n.cameras) or '-'}"
        )
    print(f"\n{'camera':<24}{'held by':<24}{'for':>9}{'expires in':>12}")
    for le in leases:
        held = "-" if le.held_s is None else f"{le.held_s:.1f}s"
        left = "-" if le.expires_in_s is None else f"{le.expires_in_s:.1f}s"
        print(f"{le.camera:<24}{le.owner or '(free)':<24}{held:>9}{left:>12}")
    return 0


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
