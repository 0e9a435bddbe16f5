"""``feedwatch check SOURCE``: open a stream as the service would and say what it is, for setting a camera up."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="open a stream as the service would and print its codec, size, rate, GOP, B-frames, timings",
        description="Opens SOURCE (RTSP, HTTP, a file) with the service's own options, reads a few seconds, and "
        "prints what setting up a camera needs: codec, resolution, frame rate, GOP length, B-frames, time to the "
        "first frame and the transport used; writes one snapshot. Credentials are masked. Exits 1 with the reason "
        "when the source cannot be opened (timeout, 401, not found, not video).",
    )
    p.add_argument("source", help="stream URL or file path (credentials may be embedded; they are never printed)")
    p.add_argument("--transport", choices=["tcp", "udp"], help="RTSP transport (default: UDP, then TCP)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the stream to open (default 10)")
    p.add_argument("--seconds", type=float, default=6.0, help="seconds of stream to read for the GOP (default 6)")
    p.add_argument("-o", "--snapshot", type=Path, default=Path("check-snapshot.jpg"),
                   help="where the snapshot goes (default ./check-snapshot.jpg)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from streamer.inspect import inspect_source
    from streamer.source import SourceOptions
    from streamer.urls import check_source_url

    if args.timeout <= 0 or args.seconds <= 0:
        raise ConfigError("--timeout and --seconds must be positive")
    try:
        url = check_source_url(args.source)
    except ValueError as exc:
        raise ConfigError(f"SOURCE: {exc}") from None
    options = SourceOptions(rtsp_transport=args.transport, open_timeout_s=args.timeout, read_timeout_s=args.timeout)
    report, snapshot = inspect_source(url, options, read_s=args.seconds)
    args.snapshot.write_bytes(snapshot)
    if args.json:
        print(json.dumps({**report.to_dict(), "snapshot": str(args.snapshot)}, indent=2))
    else:
        print("\n".join([*report.lines(), f"snapshot:     {args.snapshot}"]))
    return 0
