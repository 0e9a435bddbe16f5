"""``feedwatch clip``: export an alert's clip, or any range of a camera still kept in memory or on disk."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from streamer.errors import ClipError, ConfigError, MemoryStoreError

from ..config import FeedwatchConfig, default_memory_dir
from .ask import parse_time
from .common import load_with_memory, open_memory_read_only, service_request

__all__ = ["add_parsers"]

log = logging.getLogger("feedwatch")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "clip",
        help="export an alert's clip, or a camera's range, as MP4",
        description="Export the MP4 of an alert (written when it ended), or of any range of one camera: from the "
        "running service's kept packets when it still holds them, else cut from the clips on disk that cover it.",
    )
    p.add_argument("alert_id", nargs="?", help="the alert (moment) id, as alerts and 'feedwatch search' show it")
    p.add_argument("--camera", help="export a range of this camera instead of an alert")
    p.add_argument("--since", help="start of the range (ISO date/time or Unix seconds)")
    p.add_argument("--until", help="end of the range (ISO date/time or Unix seconds)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: ./<alert id or camera-start>.mp4)")
    p.add_argument("--config", "-c", type=Path, help="take the memory folder and the service's address from here")
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the running service")
    p.set_defaults(handler=_cmd_clip)


def _cmd_clip(args: argparse.Namespace) -> int:
    config = load_with_memory(args.config, args.memory) if args.config is not None else None
    if (args.alert_id is None) == (args.camera is None):
        raise ConfigError("give an alert id, or --camera with --since and --until (not both)")
    if args.alert_id is not None:
        return _export_alert(args.alert_id, args.memory, config, args.output)
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    if since is None or until is None or until <= since:
        raise ConfigError("--camera needs --since and --until, with --until after --since")
    output = args.output or Path(f"{args.camera}-{int(since)}.mp4")
    if _from_service(args, config or FeedwatchConfig(), since, until, output):
        return 0
    return _from_disk(args.camera, since, until, args.memory, config, output)


def _export_alert(alert_id: str, folder: Path | None, config: FeedwatchConfig | None, output: Path | None) -> int:
    with open_memory_read_only(folder, config) as memory:
        moment, where = memory.get(alert_id), memory.where
    if moment is None:
        raise MemoryStoreError(f"no alert {alert_id!r} in {where} (open alerts get their clip when they end)")
    if moment.clip is None or not Path(moment.clip).is_file():
        raise MemoryStoreError(
            f"alert {alert_id!r} has no clip (clips were off, its writing failed, or retention removed it)"
        )
    target = output or Path(f"{alert_id}.mp4")
    shutil.copyfile(moment.clip, target)
    print(target)
    return 0


def _from_service(args: argparse.Namespace, config: FeedwatchConfig, since: float, until: float, out: Path) -> bool:
    """Ask the running service for the range from its kept packets; False when none runs or it holds none."""
    if not config.http.enabled:
        return False
    query = urllib.parse.urlencode({"since": since, "until": until})
    request = service_request(config, f"/api/cameras/{urllib.parse.quote(args.camera)}/clip.mp4?{query}")
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            out.write_bytes(response.read())
    except urllib.error.HTTPError as exc:
        log.debug("the running service has no packets for that range (%s); trying the clips on disk", exc.code)
        return False
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        log.debug("no running service at %s (%s); trying the clips on disk", url, exc)
        return False
    print(f"(from the running service's kept packets at {url.split('/api/')[0]})", file=sys.stderr)
    print(out)
    return True


def _from_disk(
    camera: str, since: float, until: float, folder: Path | None, config: FeedwatchConfig | None, out: Path
) -> int:
    """Cut the range out of the stored clip that covers most of it."""
    with open_memory_read_only(folder, config) as memory:
        moments = memory.search(camera=camera, since=since - 600, until=until + 600, kind="alert", limit=500)
    best, overlap = None, 0.0
    for m in moments:
        if m.clip is None or m.clip_info is None or not Path(m.clip).is_file():
            continue
        start, end = float(m.clip_info["start"]), float(m.clip_info["end"])  # type: ignore[arg-type]
        shared = min(end, until) - max(start, since)
        if shared > overlap:
            best, overlap = (m.clip, start, end), shared
    if best is None:
        raise MemoryStoreError(
            f"nothing of camera {camera!r} in that range is kept: no running service holds it, and no clip on disk "
            "covers it"
        )
    path, start, end = best
    from streamer.clips import cut_file  # PyAV loads only when a clip is cut

    try:
        info = cut_file(path, since - start, until - start, out, wall_origin=start)
    except ClipError as exc:
        raise MemoryStoreError(str(exc)) from exc
    if info.start > since + 1.0 or info.end < until - 1.0:
        print(f"(only {info.start:.1f}-{info.end:.1f} of that range is on disk)", file=sys.stderr)
    print(out)
    return 0
