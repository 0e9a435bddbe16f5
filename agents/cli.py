"""The ``feedwatch`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
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
    p.add_argument("--report", type=Path, help="at exit, write the run's figures (per camera) to this JSON file")

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
    p.add_argument(
        "--scorer",
        choices=["auto", "activity", "embedding", "gens", "cascade", "openai"],
        help="scorer backend (default: auto)",
    )
    p.add_argument("--config", "-c", type=Path, help="take scorer, alert, buffer and MQTT settings from this config")
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--mqtt", metavar="HOST[:PORT]", help="also publish alerts to this MQTT broker")
    p.add_argument("--realtime", action="store_true", help="pace a file at its own speed, like a live camera")
    p.add_argument("--http", metavar="[HOST:]PORT", help="also serve the HTTP API and web page (default: off)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a stream to open or send data")
    p.add_argument("--json", action="store_true", help="print alerts as JSON lines (new, update and end events)")

    p = sub.add_parser("ask", help="ask a question about remembered footage")
    p.add_argument("question", help="the question, in plain language")
    p.add_argument(
        "--config",
        "-c",
        type=Path,
        help="take the memory, the frame-selecting model (scorer section: GenS, cascade or embedding) and the "
        "answering model (qa section) from this config; without it, frames are chosen by time and words",
    )
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--limit", type=int, default=5, help="moments to cite at most (default 5)")
    p.add_argument(
        "--local",
        action="store_true",
        help="answer from the memory on disk even when a service is running (by default, a running service at "
        "the config's http address answers, over its memory and its cameras' rolling buffers)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the running service's answer")
    p.add_argument("--json", action="store_true", help="print the answer, citations and timings as JSON")

    p = sub.add_parser("validate", help="check a config file and print every error with its key path")
    p.add_argument("config", type=Path, help="YAML config file")

    p = sub.add_parser("eval", help="replay annotated videos through the pipeline and measure the alerts")
    p.add_argument("annotations", nargs="+", type=Path, metavar="ANNOTATION.json", help="one annotation per video")
    p.add_argument(
        "--scorer",
        choices=["auto", "activity", "embedding", "gens", "cascade", "openai"],
        help="scorer backend (default auto)",
    )
    p.add_argument("--config", "-c", type=Path, help="take scorer, alert and buffer settings from this config")
    p.add_argument("--threshold", type=float, default=3.0, help="alert threshold 1-5 for every query (default 3)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = sub.add_parser("bench", help="run a shipped benchmark (ingest, ...) and print its figures")
    bench = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    b = bench.add_parser("ingest", help="the reader against the ffmpeg command line: decode speed and memory")
    b.add_argument("--file", type=Path, help="clip to decode (default: a 1080p30 clip with a 2 s GOP made with ffmpeg)")
    b.add_argument("--seconds", type=float, default=120.0, help="length of the generated clip (default 120)")
    b.add_argument("--repeat", type=int, default=5, help="runs of each side, best kept (default 5)")
    b.add_argument("--work", type=Path, help="folder for generated clips (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b = bench.add_parser("memory", help="the vector memory at size: add rate, filtered search latency, recall, reopen")
    b.add_argument("--n", type=int, default=100_000, help="vectors to store (default 100000)")
    b.add_argument("--dim", type=int, default=512, help="embedding size (default 512, CLIP ViT-B/32)")
    b.add_argument("--queries", type=int, default=300, help="searches to time (default 300)")
    b.add_argument("--no-uniform", action="store_true", help="skip the uniform-random worst case")
    b.add_argument("--work", type=Path, help="folder for the temporary memory (default: the system temp dir)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")

    b = bench.add_parser(
        "e2e", help="cameras in real time through the service and a broker: alert latency, CPU, memory"
    )
    b.add_argument("--cameras", default="1,4,8,16", help="camera counts to try, in order (default 1,4,8,16)")
    b.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step (default 30)")
    b.add_argument("--scorers", default="activity,embedding", help="scorers to run: activity, embedding (default both)")
    b.add_argument("--work", type=Path, help="folder for the random-weight model (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")

    b = bench.add_parser("scoring", help="frames scored per second, window latency and queue lag of each scorer")
    b.add_argument(
        "--backends", default="activity,embedding", help="activity, embedding, gens (default: the first two)"
    )
    b.add_argument("--cameras", type=int, default=4, help="cameras in the real-time replay (default 4)")
    b.add_argument("--seconds", type=float, default=20.0, help="length of the real-time replay (default 20)")
    b.add_argument("--windows", type=int, default=8, help="windows timed per backend (default 8)")
    b.add_argument(
        "--gens-random",
        action="store_true",
        help="without GenS weights, build a random-weight Qwen2.5-VL-3B (about 15 GB of RAM and disk) to time",
    )
    b.add_argument("--work", type=Path, help="folder for random-weight models (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("search", help="search remembered moments by text, by example image, or by filters")
    p.add_argument("text", nargs="?", help="what to look for (needs an embedding model and a memory with embeddings)")
    p.add_argument("--image", type=Path, help="find moments that look like this image (needs an embedding model)")
    p.add_argument("--camera", help="only this camera")
    p.add_argument("--since", help="only after this time (ISO date/time or Unix seconds)")
    p.add_argument("--until", help="only before this time (ISO date/time or Unix seconds)")
    p.add_argument("--query", dest="query_id", help="only moments that matched this standing query id")
    p.add_argument("--min-score", type=float, help="only moments whose peak score is at least this")
    p.add_argument("--limit", type=int, default=10, help="results at most (default 10)")
    p.add_argument("--memory", type=Path, help=f"memory folder (default {default_memory_dir()})")
    p.add_argument("--config", "-c", type=Path, help="take the embedding model from this config")
    p.add_argument("--json", action="store_true", help="print results as JSON")
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
    http = base.setdefault("http", {})
    http["enabled"] = args.http is not None
    if args.http:
        host, _, port = args.http.rpartition(":") if ":" in args.http else ("127.0.0.1", "", args.http)
        http.update({"host": host or "127.0.0.1", "port": port})
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
    if args.report is not None:
        import dataclasses

        args.report.write_text(json.dumps(dataclasses.asdict(report), indent=2))
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    config = _load(args.config, None) if args.config is not None else None
    if args.memory is None and not args.local:
        answered = _ask_service(args, config or FeedwatchConfig())
        if answered is not None:
            print(json.dumps(answered, indent=2) if args.json else answered["answer"])
            return 0
    path = args.memory or (config.memory.path if config is not None else default_memory_dir())
    answerer, budget, scorer = None, 8, None
    if config is not None:
        from .scoring import create_scorer, resolve_backend
        from .selection import selection_for
        from .videoqa import create_videoqa

        backend, _ = resolve_backend(config.scorer)
        if backend != "activity":  # a model that can judge frames against the question selects them
            scorer = create_scorer(config.scorer, backend)
        answerer, budget = create_videoqa(config.qa), config.qa.frame_budget
    try:
        with MomentMemory(path, read_only=True) as memory:
            answer = answer_question(
                args.question,
                memory,
                limit=args.limit,
                answerer=answerer,
                budget=budget,
                selection=selection_for(scorer) if scorer is not None else None,
            )
    finally:
        if scorer is not None:
            scorer.close()
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2))
    else:
        print(answer.text)
    return 0


def _ask_service(args: argparse.Namespace, config: FeedwatchConfig) -> dict[str, Any] | None:
    """Ask the running service (memory plus its rolling buffers); None when no service listens there."""
    import urllib.error
    import urllib.request

    if not config.http.enabled:
        return None
    host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::", "") else config.http.host
    url = f"http://{host}:{config.http.port}/api/ask"
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(config.http.token_env)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"question": args.question, "limit": args.limit}).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except (ValueError, AttributeError):
            detail = exc.reason
        raise ConfigError(f"the running service at {url} refused the question ({exc.code}): {detail}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        log.debug("no running service at %s (%s); answering from the memory on disk", url, exc)
        return None
    print(f"(answered by the running service at {url}, over its memory and rolling buffers)", file=sys.stderr)
    return answer


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


def _parse_time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is neither an ISO date/time nor Unix seconds") from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()
    return stamp.timestamp()


def _cmd_search(args: argparse.Namespace) -> int:
    path = args.memory or default_memory_dir()
    since, until = _parse_time(args.since, "--since"), _parse_time(args.until, "--until")
    with MomentMemory(path, read_only=True) as memory:
        if args.text is None and args.image is None:
            moments = memory.search(
                camera=args.camera, since=since, until=until, query_id=args.query_id, min_score=args.min_score,
                limit=args.limit,
            )  # fmt: skip
            results: list[dict[str, object]] = [m.to_dict() for m in moments]
        else:
            from .embedder import load_embedder

            embedder = load_embedder(args.config)
            if args.image is not None:
                vector = embedder.embed_image_file(args.image)
            else:
                vector = embedder.embed_texts([args.text])[0]
            found = memory.search_similar(
                vector, k=args.limit, camera=args.camera, since=since, until=until, query_id=args.query_id,
                min_score=args.min_score,
            )  # fmt: skip
            results = [{**s.moment.to_dict(), "similarity": round(s.similarity, 4)} for s in found]
    if args.json:
        print(json.dumps(results, indent=2))
    elif not results:
        print("no moment matches")
    else:
        from datetime import datetime

        for r in results:
            when = datetime.fromtimestamp(float(r["start"])).astimezone().isoformat(timespec="seconds")  # type: ignore[arg-type]
            sim = f" similarity {r['similarity']}" if "similarity" in r else ""
            texts = ", ".join(f"'{t}'" for t in r["query_texts"].values()) or r["kind"]  # type: ignore[attr-defined]
            print(f"{when} {r['camera']}: {texts} peak {r['peak_score']}{sim} {r['thumbnail'] or ''}".rstrip())
    return 0


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
    from .evaluation import evaluate, format_eval

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


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import ingest

    if args.bench == "memory":
        from .bench import memory as membench

        if args.n < 100 or args.dim < 2:
            raise FeedwatchError("bench memory: --n must be at least 100 and --dim at least 2")
        _progress(f"building memories of {args.n:,} vectors of {args.dim} dims")
        report = membench.run_memory_bench(
            args.n, args.dim, queries=args.queries, uniform_too=not args.no_uniform, progress=_progress, work=args.work
        )
        print(json.dumps(report, indent=2) if args.json else membench.format_report(report))
        return 0
    if args.bench == "e2e":
        return _bench_e2e(args)
    if args.bench == "scoring":
        return _bench_scoring(args)
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


def _embedding_for_bench(work: Path | None) -> tuple[str, str]:
    """The CLIP ViT-B/32 weights to time: real ones from the cache, else random ones of the same shapes."""
    from .weights import find_weights

    model = "openai/clip-vit-base-patch32"
    if find_weights(model) is not None:
        return model, f"real weights ({model})"
    folder = (work or _cache_dir() / "bench") / "clip-vit-b32-random"
    if not (folder / "config.json").is_file():
        from .scoring.random_init import build_random_clip

        _progress(f"building a random-weight CLIP ViT-B/32 (real size) in {folder}")
        build_random_clip(folder, size="base")
    return str(folder), "random weights, CLIP ViT-B/32 shapes (compute is real, scores are not)"


def _bench_scoring(args: argparse.Namespace) -> int:
    from .bench import scoring
    from .weights import find_weights

    clip = _sample_clip()
    if clip is None:
        raise FeedwatchError("bench scoring needs the sample clips in ../shared/media beside the checkout")
    backends: dict[str, tuple[dict[str, Any], str]] = {}
    for name in [x.strip() for x in args.backends.split(",") if x.strip()]:
        if name == "activity":
            backends[name] = ({"backend": "activity"}, "no weights (model-free)")
        elif name == "embedding":
            model, weights = _embedding_for_bench(args.work)
            backends[name] = ({"backend": "embedding", "embedding": {"model": model}}, weights)
        elif name == "gens":
            model = "yaolily/GenS-qwen2d5-vl-3b"
            if find_weights(model) is not None:
                weights = f"real weights ({model})"
            elif args.gens_random:
                folder = (args.work or _cache_dir() / "bench") / "qwen2_5_vl-3b-random"
                if not (folder / "config.json").is_file():
                    from .scoring.random_init import build_random_qwen2_5_vl

                    _progress(f"building a random-weight Qwen2.5-VL-3B in {folder} (several minutes)")
                    build_random_qwen2_5_vl(folder, size="3b")
                model, weights = str(folder), "random weights, Qwen2.5-VL-3B shapes, 16 new tokens"
            else:
                _progress("gens: skipped (no GenS weights here; --gens-random times a random 3B model)")
                continue
            backends[name] = ({"backend": "gens", "gens": {"model": model, "max_new_tokens": 16}}, weights)
        else:
            raise ConfigError(f"--backends: unknown backend {name!r}; known: activity, embedding, gens")
    result = scoring.run_scoring_bench(
        backends, clip=clip, windows=args.windows, cameras=args.cameras, seconds=args.seconds, progress=_progress
    )
    print(json.dumps(result, indent=2) if args.json else scoring.format_report(result))
    return 0


def _bench_e2e(args: argparse.Namespace) -> int:
    from .bench import e2e

    try:
        steps = [int(x) for x in args.cameras.split(",")]
    except ValueError:
        raise ConfigError(f"--cameras: expected numbers like 1,4,8, not {args.cameras!r}") from None
    clip = _sample_clip()
    if clip is None:
        raise FeedwatchError("bench e2e needs the sample clips in ../shared/media beside the checkout")
    scorers: dict[str, dict[str, Any]] = {}
    for name in [x.strip() for x in args.scorers.split(",") if x.strip()]:
        if name == "activity":
            scorers[name] = {"backend": "activity"}
        elif name == "embedding":
            model, weights = _embedding_for_bench(args.work)
            _progress(f"embedding: {weights}")
            scorers[name] = {"backend": "embedding", "embedding": {"model": model}}
        else:
            raise ConfigError(f"--scorers: unknown scorer {name!r}; known: activity, embedding")
    result = e2e.run_e2e_bench(steps, seconds=args.seconds, clip=clip, scorers=scorers, progress=_progress)
    print(json.dumps(result, indent=2) if args.json else e2e.format_report(result))
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
    "search": _cmd_search,
    "eval": _cmd_eval,
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
