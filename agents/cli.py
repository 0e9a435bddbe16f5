"""The ``feedwatch`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from streamer import ConfigError, FeedwatchError, is_file_source, redact_url

from .alerts import Alert, AlertKind
from .config import (
    FeedwatchConfig,
    default_memory_dir,
    format_validation_error,
    read_config_file,
    validate_config,
)
from .memory import MomentMemory
from .qa import answer_question
from .service import Service, ServiceReport

__all__ = ["main"]

log = logging.getLogger("feedwatch")


def _version() -> str:
    try:
        return version("feedwatch")
    except PackageNotFoundError:
        return "unknown"


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text.strip().lower()).strip("-")[:48]
    return slug or fallback


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedwatch",
        description="Watch camera streams for standing questions; alert over MQTT; answer questions about footage.",
    )
    parser.add_argument("--version", action="version", version=f"feedwatch {_version()}")
    parser.add_argument("--debug", action="store_true", help="debug logging, and tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="informational logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run the service from a config file until stopped (SIGINT/SIGTERM)")
    p.add_argument("--config", "-c", required=True, type=Path, help="YAML config file (see configs/default.yaml)")
    p.add_argument("--memory", type=Path, help="memory folder (overrides memory.path)")

    p = sub.add_parser("watch", help="watch one file or URL for some queries and print alerts (no config needed)")
    p.add_argument("source", help="video file path or stream URL (rtsp://, http(s)://, ...)")
    p.add_argument(
        "--query",
        "-q",
        action="append",
        required=True,
        metavar="TEXT",
        help="a standing question (repeatable)",
    )
    p.add_argument("--threshold", type=float, default=3.0, help="relevance 1-5 at which an alert opens (default 3)")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    p.add_argument("--scorer", choices=["auto", "activity", "embedding", "gens"], help="scorer backend (default: auto)")
    p.add_argument("--config", "-c", type=Path, help="take scorer, alert, buffer and MQTT settings from this config")
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--mqtt", metavar="HOST[:PORT]", help="also publish alerts to this MQTT broker")
    p.add_argument("--realtime", action="store_true", help="pace a file at its own speed, like a live camera")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a stream to open or send data")
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines (new, update and end events)")

    p = sub.add_parser("ask", help="ask a question about remembered footage")
    p.add_argument("question", help="the question, in plain language")
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--limit", type=int, default=5, help="moments to cite at most (default 5)")
    p.add_argument("--json", action="store_true", help="print the answer, citations and timings as JSON")

    p = sub.add_parser("validate", help="check a config file and print every error with its key path")
    p.add_argument("config", type=Path, help="YAML config file")

    p = sub.add_parser("bench", help="run a shipped benchmark (ingest, ...) and print its figures")
    bench = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    b = bench.add_parser("ingest", help="the reader against the ffmpeg command line: decode speed and memory")
    b.add_argument("--file", type=Path, help="clip to decode (default: a 1080p30 clip with a 2 s GOP made with ffmpeg)")
    b.add_argument("--seconds", type=float, default=120.0, help="length of the generated clip (default 120)")
    b.add_argument("--repeat", type=int, default=5, help="runs of each side, best kept (default 5)")
    b.add_argument("--work", type=Path, help="folder for generated clips (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _setup_logging(args: argparse.Namespace, default: int) -> None:
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else default
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    if not args.debug:
        logging.getLogger("aiomqtt").setLevel(logging.WARNING)


def _load(path: Path, memory: Path | None) -> FeedwatchConfig:
    data = read_config_file(path)
    if memory is not None:
        data.setdefault("memory", {})["path"] = str(memory)
    return validate_config(data, str(path))


def _fmt_time(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    return f"{int(m):02d}:{s:04.1f}"


class _AlertPrinter:
    """Print alerts as lines (new and end) or JSON lines (every event)."""

    def __init__(self, as_json: bool, verbose: bool) -> None:
        self.as_json = as_json
        self.verbose = verbose

    async def __call__(self, alert: Alert) -> None:
        if self.as_json:
            print(json.dumps(alert.to_payload()), flush=True)
            return
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


async def _run_service(service: Service) -> ServiceReport:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, service.stop)
    try:
        return await service.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _summary(report: ServiceReport, memory: Path) -> str:
    lines = [f"scorer: {report.backend} ({report.backend_reason})"]
    for cam in report.cameras:
        lines.append(
            f"camera {cam.camera}: {cam.status}, {cam.sampled} frames sampled of {cam.decoded} decoded, "
            f"{cam.scored} scored, {cam.dropped} dropped, {cam.alerts} alert(s)"
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
        mqtt = base.setdefault("mqtt", {})
        mqtt.update({"enabled": True, "host": host, "port": port})
    config = validate_config(base, "watch options")
    service = Service(config, retry=False, on_alert=_AlertPrinter(args.json, args.verbose))
    log.info("watching %s", redact_url(args.source))
    report = asyncio.run(_run_service(service))
    print(_summary(report, config.memory.path), file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config, args.memory)
    if not config.cameras:
        raise ConfigError(f"{args.config} configures no cameras; add some under 'cameras:'")
    service = Service(config, retry=True)
    report = asyncio.run(_run_service(service))
    print(_summary(report, config.memory.path), file=sys.stderr)
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    path = args.memory or default_memory_dir()
    with MomentMemory(path, read_only=True) as memory:
        answer = answer_question(args.question, memory, limit=args.limit)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2))
    else:
        print(answer.text)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

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


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import ingest

    if args.bench == "ingest":
        if args.file is not None:
            if not args.file.is_file():
                raise FeedwatchError(f"bench ingest: {args.file} is not a file")
            clip = args.file
        else:
            work = args.work or _cache_dir() / "bench"
            work.mkdir(parents=True, exist_ok=True)
            base = _sample_clip()
            _progress(f"preparing a {args.seconds:g} s 1080p30 clip in {work}")
            clip = ingest.prepare_clip(work, args.seconds, base)
        report = ingest.run_ingest_bench(clip, repeat=args.repeat, progress=_progress)
        print(json.dumps(report, indent=2) if args.json else ingest.format_report(report))
    return 0


def _cache_dir() -> Path:
    import os

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedwatch"


def _sample_clip() -> Path | None:
    """Real footage to build benchmark clips from, when the shared sample clips are beside the checkout."""
    here = Path(__file__).resolve().parents[2] / "shared" / "media" / "intel-sample-videos"
    clip = here / "one-by-one-person-detection.mp4"
    return clip if clip.is_file() else None


_COMMANDS = {
    "run": _cmd_run,
    "watch": _cmd_watch,
    "ask": _cmd_ask,
    "validate": _cmd_validate,
    "bench": _cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``feedwatch`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    _setup_logging(args, logging.INFO if args.command == "run" else logging.WARNING)
    try:
        return _COMMANDS[args.command](args)
    except FeedwatchError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"feedwatch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
