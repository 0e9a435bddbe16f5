"""``feedwatch run`` (the service from a config) and ``feedwatch watch`` (one source, no config needed)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamer.errors import ConfigError, FeedwatchError
from streamer.redact import redact_url
from streamer.urls import is_file_source

from ..config import BACKEND_NAMES, FeedwatchConfig, default_memory_dir, read_config_file, validate_config
from .common import load_with_memory

if TYPE_CHECKING:  # the service and its APIs load when a command runs, not for --help
    from ..service import AlertEvent, Service, ServiceReport

__all__ = ["add_parsers"]

log = logging.getLogger("feedwatch")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run the service from a config file until stopped (SIGINT/SIGTERM); SIGHUP reloads the file"
    )
    p.add_argument("--config", "-c", required=True, type=Path, help="YAML config file (see configs/default.yaml)")
    p.add_argument("--memory", type=Path, help="memory folder (overrides memory.path)")
    p.add_argument("--report", type=Path, help="at exit, write the run's figures (per camera) to this JSON file")
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("watch", help="watch one file or URL for some queries and print alerts (no config needed)")
    p.add_argument("source", help="video file path or stream URL (rtsp://, http(s)://, ...)")
    p.add_argument("--query", "-q", action="append", required=True, metavar="TEXT",
                   help="a standing question (repeatable)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=3.0, help="relevance 1-5 at which an alert opens (default 3)")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    p.add_argument("--scorer", choices=["auto", *BACKEND_NAMES], help="scorer backend (default: auto)")
    p.add_argument("--config", "-c", type=Path, help="take scorer, alert, buffer and MQTT settings from this config")
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--mqtt", metavar="HOST[:PORT]", help="also publish alerts to this MQTT broker")
    p.add_argument("--realtime", action="store_true", help="pace a file at its own speed, like a live camera")
    p.add_argument("--http", metavar="[HOST:]PORT", help="also serve the HTTP API and web page (default: off)")
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a stream to open; the longest a read may wait"
    )
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines (new, update and end events)")
    p.set_defaults(handler=_cmd_watch)


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text.strip().lower()).strip("-")[:48]
    return slug or fallback


def _fmt_time(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    return f"{int(m):02d}:{s:04.1f}"


class _AlertPrinter:
    """Print alerts as lines (new and end) or JSON lines (every event)."""

    def __init__(self, as_json: bool, verbose: bool) -> None:
        self.as_json = as_json
        self.verbose = verbose

    async def __call__(self, event: AlertEvent) -> None:
        from ..alerting import AlertKind

        if self.as_json:
            print(event.text, flush=True)
            return
        alert = event.alert
        if alert.kind is AlertKind.UPDATE and not self.verbose:
            return
        span = (
            f"{_fmt_time(alert.start_pts)}"
            if alert.kind is AlertKind.NEW
            else f"{_fmt_time(alert.start_pts)}-{_fmt_time(alert.end_pts)}"
        )
        score = "score" if alert.kind is AlertKind.NEW else "peak"
        tag = "" if alert.semantic else ": not semantic"
        line = (
            f"{alert.kind.value.upper():6} {alert.query_id} on {alert.camera} at {span} "
            f"{score} {alert.peak_score:.1f} [{alert.backend}{tag}]"
        )
        if alert.kind is AlertKind.END and alert.snapshot_path:
            line += f" snapshot {alert.snapshot_path}"
        print(line, flush=True)


async def run_until_signalled(service: Service, *, reload: bool = False) -> ServiceReport:
    """Run ``service`` until it ends or SIGINT/SIGTERM asks it to stop; with ``reload``, SIGHUP reloads its config."""
    loop = asyncio.get_running_loop()
    signals = [signal.SIGINT, signal.SIGTERM]
    for sig in signals:
        loop.add_signal_handler(sig, service.stop)
    reloads: set[asyncio.Task[Any]] = set()

    async def reload_config() -> None:
        with contextlib.suppress(FeedwatchError):  # refused: the service logged why, and nothing changed
            await service.reload()

    def hangup() -> None:
        task = loop.create_task(reload_config(), name="reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    if reload:
        loop.add_signal_handler(signal.SIGHUP, hangup)
        signals.append(signal.SIGHUP)
    try:
        return await service.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _summary(report: ServiceReport, memory: Path) -> str:
    lines = [f"scorer: {report.backend} ({report.backend_reason})"]
    for cam in report.cameras:
        lines.append(
            f"camera {cam.camera}: {cam.status}, {cam.sampled} frames sampled of {cam.decoded} decoded, "
            f"{cam.scored} scored, {cam.dropped} dropped, {cam.alerts} alert(s)"
            + (f", {cam.unscored} unscored (the model was unavailable)" if cam.unscored else "")
        )
    lines.append(f"{report.alerts} alert(s), {report.moments} moment(s) stored in {memory}, in {report.wall_s:.1f} s")
    return "\n".join(lines)


def _cmd_watch(args: argparse.Namespace) -> int:
    base: dict[str, Any] = read_config_file(args.config) if args.config else {}
    camera_id = _slug(Path(args.source).stem if is_file_source(args.source) else "camera", "camera")
    queries = []
    seen: set[str] = set()
    for text in args.query:
        qid = _slug(text, "query")
        n = 2
        while qid in seen:
            qid, n = f"{_slug(text, 'query')}-{n}", n + 1
        seen.add(qid)
        queries.append({"id": qid, "text": text, "threshold": args.threshold})
    base["cameras"] = [
        {
            "id": camera_id,
            "url": args.source,
            "fps": args.fps,
            "realtime": args.realtime,
            "open_timeout_s": args.timeout,
            "read_timeout_s": args.timeout,
        }
    ]
    base["queries"] = queries
    if args.scorer:
        base.setdefault("scorer", {})["backend"] = args.scorer
    if args.memory:
        base.setdefault("memory", {})["path"] = str(args.memory)
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":") if ":" in args.mqtt else (args.mqtt, "", "1883")
        base.setdefault("mqtt", {}).update({"enabled": True, "host": host, "port": port})
    http = base.setdefault("http", {})
    http["enabled"] = args.http is not None
    if args.http:
        host, _, port = args.http.rpartition(":") if ":" in args.http else ("127.0.0.1", "", args.http)
        http.update({"host": host or "127.0.0.1", "port": port})
    config = validate_config(base, "watch options")
    from ..api import extensions_for
    from ..service import Service

    service = Service(
        config, retry=False, on_alert=_AlertPrinter(args.json, args.verbose), extensions=extensions_for(config)
    )
    log.info("watching %s", redact_url(args.source))
    report = asyncio.run(run_until_signalled(service))
    print(_summary(report, config.memory.path), file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_with_memory(args.config, args.memory)
    from ..api import extensions_for
    from ..service import Service

    load = functools.partial(load_with_memory, args.config, args.memory)
    if config.fleet.url:
        return _run_in_fleet(args, config, load)
    if not config.cameras:
        raise ConfigError(f"{args.config} configures no cameras; add some under 'cameras:'")
    service = Service(config, retry=True, extensions=extensions_for(config), reload_from=load)
    return _run_service(args, service, config)


def _run_in_fleet(args: argparse.Namespace, config: FeedwatchConfig, load: Callable[[], FeedwatchConfig]) -> int:
    """A node of a fleet: its cameras and queries come from the fleet's database, as its leases give them."""
    from ..api import extensions_for
    from ..api.http import HttpApi
    from ..service import Service
    from ..service.fleet import FleetMember, advertised_api

    if config.cameras or config.queries:
        log.warning(
            "fleet: the cameras and queries of %s are not this node's: a fleet's come from its database "
            "('feedwatch fleet import %s' makes them the fleet's)", args.config, args.config,
        )  # fmt: skip
    extensions = extensions_for(config)
    http = next((e for e in extensions if isinstance(e, HttpApi)), None)
    member = FleetMember(config, load, lambda: advertised_api(config, http.bound_port if http else None))
    start = member.join()
    try:
        service = Service(start, retry=True, extensions=[*extensions, member], reload_from=member.view, fleet=member)
        return _run_service(args, service, start)
    finally:
        member.leave()  # a node that could not start hands its cameras on now, not at its leases' expiry


def _run_service(args: argparse.Namespace, service: Service, config: FeedwatchConfig) -> int:
    report = asyncio.run(run_until_signalled(service, reload=True))
    print(_summary(report, config.memory.path), file=sys.stderr)
    if args.report is not None:
        args.report.write_text(json.dumps(dataclasses.asdict(report), indent=2))
    return 0
