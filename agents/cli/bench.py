"""``feedwatch bench``: the shipped benchmarks (ingest, memory, e2e, scoring), each side by side in one run."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError, FeedwatchError

from .common import progress

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="run a shipped benchmark (ingest, clips, memory, e2e, scoring, recovery) and print its figures"
    )
    bench = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    b = bench.add_parser("ingest", help="the reader against the ffmpeg command line: decode speed and memory")
    b.add_argument("--file", type=Path, help="clip to decode (default: a 1080p30 clip with a 2 s GOP made with ffmpeg)")
    b.add_argument("--seconds", type=float, default=120.0, help="length of the generated clip (default 120)")
    b.add_argument("--repeat", type=int, default=5, help="runs of each side, best kept (default 5)")
    b.add_argument("--work", type=Path, help="folder for generated clips (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b = bench.add_parser("clips", help="event clips: the packet ring's CPU and memory, and 20 s clip write times")
    b.add_argument("--file", type=Path, help="clip to use (default: a 1080p30 clip with a 2 s GOP made with ffmpeg)")
    b.add_argument("--seconds", type=float, default=60.0, help="length of the generated clip (default 60)")
    b.add_argument(
        "--mbit",
        type=float,
        default=4.0,
        help="bit rate of the generated clip, Mbit/s (default 4, a usual 1080p camera)",
    )
    b.add_argument("--repeat", type=int, default=5, help="runs of each side, best kept (default 5)")
    b.add_argument("--work", type=Path, help="folder for generated clips (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b = bench.add_parser("memory", help="the vector memory at size: add rate, filtered search latency, recall, reopen")
    b.add_argument("--n", type=int, default=100_000, help="vectors to store (default 100000)")
    b.add_argument("--dim", type=int, default=512, help="embedding size (default 512, CLIP ViT-B/32)")
    b.add_argument("--queries", type=int, default=300, help="searches to time (default 300)")
    b.add_argument("--no-uniform", action="store_true", help="skip the uniform-random worst case")
    b.add_argument("--work", type=Path, help="folder for the temporary memory (default: the system temp dir)")
    b.add_argument(
        "--url",
        help="also the PostgreSQL memory on the same vectors, in a temporary schema of this database (postgresql://...)",
    )
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b = bench.add_parser(
        "e2e", help="cameras in real time through the service and a broker: alert latency, CPU, memory"
    )
    b.add_argument("--cameras", default="1,4,8,16", help="camera counts to try, in order (default 1,4,8,16)")
    b.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step (default 30)")
    b.add_argument(
        "--scorers",
        default="activity,embedding,embedding+gate",
        help="scorers to run, side by side: activity, or embedding with any of +gate (the change gate), +onnx (ONNX "
        "Runtime image tower), +burst (4 fps on motion); default activity,embedding,embedding+gate",
    )
    b.add_argument("--work", type=Path, help="folder for the random-weight model (default: a cache folder)")
    b.add_argument(
        "--transport",
        choices=("rtsp", "files"),
        help="rtsp: through a real RTSP server, one publisher per camera, all on this machine's cores (the default "
        "where rtsp-server-perl and ffmpeg are installed); files: each camera replays its clip at real time, so "
        "feedwatch alone has the cores",
    )
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b = bench.add_parser("scoring", help="frames scored per second, window latency and queue lag of each scorer")
    b.add_argument(
        "--backends",
        default="activity,embedding",
        help="activity, embedding, gens, openai (default: the first two); openai talks to an in-process stand-in "
        "server whose latency stays flat however many requests are open, once per --in-flight setting",
    )
    b.add_argument(
        "--in-flight", default="1,16", help="openai: scorer.openai.max_in_flight settings, side by side (default 1,16)"
    )
    b.add_argument(
        "--server-latency", type=float, default=0.5, help="openai: the stand-in server's seconds per answer (0.5)"
    )
    b.add_argument("--cameras", type=int, default=4, help="cameras in the real-time replay (default 4)")
    b.add_argument("--seconds", type=float, default=20.0, help="length of the real-time replay (default 20)")
    b.add_argument("--windows", type=int, default=8, help="windows timed per backend, after one of warm-up (default 8)")
    b.add_argument("--window", type=int, default=16, help="frames per GenS window (default 16)")
    b.add_argument("--stride", type=float, default=8.0, help="seconds between a camera's windows (default 8)")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N for the model backends")
    b.add_argument(
        "--attention", default="auto", choices=["auto", "sdpa", "flash_attention_2", "eager"], help="GenS attention"
    )
    b.add_argument("--gens-tokens", type=int, default=16, help="GenS new tokens per answer (random weights never stop)")
    b.add_argument("--no-replay", action="store_true", help="skip the real-time replay (throughput only)")
    b.add_argument(
        "--gens-random",
        action="store_true",
        help="without GenS weights, build a random-weight Qwen2.5-VL-3B (about 15 GB of RAM and disk) to time",
    )
    b.add_argument("--work", type=Path, help="folder for random-weight models (default: a cache folder)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b = bench.add_parser(
        "recovery", help="an RTSP camera's publisher killed and restarted: detection and recovery times, flapping"
    )
    b.add_argument("--kills", type=int, default=10, help="publisher kills (default 10)")
    b.add_argument("--min-outage", type=float, default=1.0, help="shortest outage in seconds (default 1)")
    b.add_argument("--max-outage", type=float, default=10.0, help="longest outage in seconds (default 10)")
    b.add_argument(
        "--flap", type=float, default=0.0, metavar="S", help="then flap the publisher (1 s up, 1 s down) for S seconds"
    )
    b.add_argument("--seed", type=int, help="seed for the outage lengths (default: random, printed)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    for name, command in bench.choices.items():
        command.set_defaults(handler=_cmd_bench, bench=name)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the benchmark stops its servers and publishers on the way out


def _cmd_bench(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    if args.bench == "memory":
        from ..bench import memory as membench

        if args.n < 100 or args.dim < 2:
            raise FeedwatchError("bench memory: --n must be at least 100 and --dim at least 2")
        progress(f"building memories of {args.n:,} vectors of {args.dim} dims")
        report = membench.run_memory_bench(
            args.n, args.dim, queries=args.queries, uniform_too=not args.no_uniform, progress=progress, work=args.work,
            url=args.url,
        )  # fmt: skip
        print(json.dumps(report, indent=2) if args.json else membench.format_report(report))
        return 0
    if args.bench == "e2e":
        return _bench_e2e(args)
    if args.bench == "scoring":
        return _bench_scoring(args)
    if args.bench == "recovery":
        return _bench_recovery(args)
    if args.bench == "ingest":
        from ..bench import ingest

        report = ingest.run_ingest_bench(_bench_clip(args), repeat=args.repeat, progress=progress)
        print(json.dumps(report, indent=2) if args.json else ingest.format_report(report))
    if args.bench == "clips":
        from ..bench import clips

        if args.repeat < 1:
            raise FeedwatchError("bench clips: --repeat must be at least 1")
        report = clips.run_clips_bench(_bench_clip(args), repeat=args.repeat, progress=progress)
        print(json.dumps(report, indent=2) if args.json else clips.format_report(report))
    return 0


def _bench_clip(args: argparse.Namespace) -> Path:
    """``--file``, or a 1080p30 clip with a 2 s GOP made from the sample footage (cached)."""
    from ..bench import ingest

    if args.file is not None:
        if not args.file.is_file():
            raise FeedwatchError(f"bench {args.bench}: {args.file} is not a file")
        return Path(args.file)
    work = args.work or _cache_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    progress(f"preparing a {args.seconds:g} s 1080p30 clip in {work}")
    return ingest.prepare_clip(work, args.seconds, _sample_clip(), mbit_s=getattr(args, "mbit", None))


def _bench_recovery(args: argparse.Namespace) -> int:
    import shutil

    from ..bench import recovery

    if args.kills < 0 or args.flap < 0:
        raise FeedwatchError("bench recovery: --kills and --flap must not be negative")
    if not 0.1 <= args.min_outage <= args.max_outage <= 600:
        raise FeedwatchError("bench recovery: need 0.1 <= --min-outage <= --max-outage <= 600")
    missing = [tool for tool in ("rtsp-server-perl", "ffmpeg", "mosquitto") if shutil.which(tool) is None]
    if "mosquitto" in missing and os.path.exists("/usr/sbin/mosquitto"):
        missing.remove("mosquitto")
    if missing:
        raise FeedwatchError(f"bench recovery needs {', '.join(missing)} (Debian packages of the same names)")
    report = recovery.run_recovery_bench(
        args.kills, outage_s=(args.min_outage, args.max_outage), flap_s=args.flap, seed=args.seed, progress=progress
    )
    print(json.dumps(report, indent=2) if args.json else recovery.format_report(report))
    return 0


def _embedding_for_bench(work: Path | None) -> tuple[str, str]:
    """The CLIP ViT-B/32 weights to time: real ones from the cache, else random ones of the same shapes."""
    from ..models import find_weights

    model = "openai/clip-vit-base-patch32"
    if find_weights(model) is not None:
        return model, f"real weights ({model})"
    folder = (work or _cache_dir() / "bench") / "clip-vit-b32-random"
    if not (folder / "config.json").is_file():
        from ..models.random_init import build_random_clip

        progress(f"building a random-weight CLIP ViT-B/32 (real size) in {folder}")
        build_random_clip(folder, size="base")
    return str(folder), "random weights, CLIP ViT-B/32 shapes (compute is real, scores are not)"


def _bench_scoring(args: argparse.Namespace) -> int:
    from ..bench import scoring
    from ..bench.vlm_server import StandInVLMServer
    from ..models import find_weights

    clip = _sample_clip()
    if clip is None:
        raise FeedwatchError(_NO_CLIPS.format(bench="scoring"))
    backends: dict[str, tuple[dict[str, Any], str]] = {}
    servers: dict[str, StandInVLMServer] = {}
    server: StandInVLMServer | None = None
    for name in [x.strip() for x in args.backends.split(",") if x.strip()]:
        if name == "activity":
            backends[name] = ({"backend": "activity"}, "no weights (model-free)")
        elif name == "embedding":
            model, weights = _embedding_for_bench(args.work)
            backends[name] = ({"backend": "embedding", "embedding": {"model": model, "device": args.device}}, weights)
        elif name == "gens":
            model = "yaolily/GenS-qwen2d5-vl-3b"
            if find_weights(model) is not None:
                weights = f"real weights ({model})"
            elif args.gens_random:
                folder = (args.work or _cache_dir() / "bench") / "qwen2_5_vl-3b-random"
                if not (folder / "config.json").is_file():
                    from ..models.random_init import build_random_qwen2_5_vl

                    progress(f"building a random-weight Qwen2.5-VL-3B in {folder} (several minutes)")
                    build_random_qwen2_5_vl(folder, size="3b")
                model, weights = str(folder), f"random weights, Qwen2.5-VL-3B shapes, {args.gens_tokens} new tokens"
            else:
                progress("gens: skipped (no GenS weights here; --gens-random times a random 3B model)")
                continue
            gens = {"model": model, "max_new_tokens": args.gens_tokens, "device": args.device,
                    "attention": args.attention}  # fmt: skip
            backends[name] = ({"backend": "gens", "window": args.window, "gens": gens}, weights)
        elif name == "openai":
            server = server or StandInVLMServer(answer="{}", latency_s=args.server_latency).start()
            for flight in _numbers("--in-flight", args.in_flight):
                remote = {"base_url": server.base_url, "model": "gens", "max_in_flight": flight}
                label = f"openai x{flight}"
                # The gate off: every window goes to the server, as on a busy scene.
                backends[label] = ({"backend": "openai", "gate": {"enabled": False}, "openai": remote},
                                   f"no model: a stand-in server answering in {args.server_latency:g} s")  # fmt: skip
                servers[label] = server
        else:
            raise ConfigError(f"--backends: unknown backend {name!r}; known: activity, embedding, gens, openai")
    try:
        result = scoring.run_scoring_bench(
            backends, clip=clip, windows=args.windows, cameras=args.cameras, seconds=args.seconds,
            stride_s=args.stride, replay=not args.no_replay, progress=progress, servers=servers,
        )  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(result, indent=2) if args.json else scoring.format_report(result))
    return 0


def _numbers(option: str, text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"{option}: expected numbers like 1,4,8, not {text!r}") from None


def _bench_e2e(args: argparse.Namespace) -> int:
    from ..bench import e2e

    steps = _numbers("--cameras", args.cameras)
    clip = _sample_clip()
    if clip is None:
        raise FeedwatchError(_NO_CLIPS.format(bench="e2e"))
    clips = [clip.with_name(n) for n in (clip.name, "car-detection.mp4", "bottle-detection.mp4")]
    scorers: dict[str, dict[str, Any]] = {}
    for name in [x.strip() for x in args.scorers.split(",") if x.strip()]:
        backend, *options = name.split("+")
        if name == "activity":
            scorers[name] = {"backend": "activity"}
        elif backend == "embedding" and set(options) <= {"gate", "onnx", "burst"}:
            model, weights = _embedding_for_bench(args.work)
            progress(f"{name}: {weights}")
            runtime = "onnx" if "onnx" in options else "torch"
            gate = {"enabled": "gate" in options, "burst_fps": 4.0 if "burst" in options else 0.0}
            scorers[name] = {"backend": "embedding", "embedding": {"model": model, "runtime": runtime}, "gate": gate}
        else:
            raise ConfigError(f"--scorers: unknown scorer {name!r}; known: activity, embedding[+gate][+onnx][+burst]")
    result = e2e.run_e2e_bench(
        steps, seconds=args.seconds, clips=clips, scorers=scorers, progress=progress, transport=args.transport
    )
    print(json.dumps(result, indent=2) if args.json else e2e.format_report(result))
    return 0


_NO_CLIPS = (
    "bench {bench} needs the sample clips of tests/media: run it from a checkout of the repository, or set "
    "FEEDWATCH_MEDIA to a folder holding one-by-one-person-detection.mp4"
)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedwatch"


def _sample_clip() -> Path | None:
    """Real footage to build benchmark clips from: ``$FEEDWATCH_MEDIA``, else the sample clips in the checkout's
    tests/media (beside this package in a source checkout, or under the current folder)."""
    places = [Path(os.environ["FEEDWATCH_MEDIA"])] if os.environ.get("FEEDWATCH_MEDIA") else []
    places += [Path(__file__).resolve().parents[2] / "tests" / "media", Path.cwd() / "tests" / "media"]
    for media in places:
        clip = media / "one-by-one-person-detection.mp4"
        if clip.is_file():
            return clip
    return None
