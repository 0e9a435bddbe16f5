"""``feedwatch ask`` (a question over the running service or the memory on disk) and ``feedwatch search``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.errors import ConfigError, ModelError

from ..config import FeedwatchConfig, default_memory_dir
from ..scoring import Scorer, TextImageEmbedder, create_scorer, resolve_backend
from .common import load_with_memory, open_memory_read_only, refusal, service_request

__all__ = ["add_parsers", "parse_time"]

log = logging.getLogger("feedwatch")


def add_parsers(sub: Any) -> None:
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
        "--alert",
        help="ask about this alert alone (its id): the answer sees frames of its clip at qa.clip_fps",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="answer from the memory on disk even when a service is running (by default, a running service at "
        "the config's http address answers, over its memory and its cameras' rolling buffers)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the running service's answer")
    p.add_argument("--json", action="store_true", help="print the answer, citations and timings as JSON")
    p.set_defaults(handler=_cmd_ask)

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
    p.add_argument(
        "--config", "-c", type=Path, help="take the embedding model and the memory (folder, or memory.url) from here"
    )
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(handler=_cmd_search)


def _cmd_ask(args: argparse.Namespace) -> int:
    config = load_with_memory(args.config, None) if args.config is not None else None
    if args.memory is None and not args.local:
        answered = _ask_service(args, config or FeedwatchConfig())
        if answered is not None:
            print(json.dumps(answered, indent=2) if args.json else answered["answer"])
            return 0
    from ..qa.answering import create_videoqa
    from ..qa.asker import Asker
    from ..qa.selection import selection_for

    scorer: Scorer | None = None
    if config is not None:
        backend, _ = resolve_backend(config.scorer)
        if backend != "activity":  # a model that can judge frames against the question selects them
            scorer = create_scorer(config.scorer, backend)
    try:
        with open_memory_read_only(args.memory, config) as memory:
            asker = Asker(
                memory,
                selection=selection_for(scorer),
                answerer=create_videoqa(config.qa) if config is not None else None,
                budget=config.qa.frame_budget if config is not None else 8,
                clip_fps=config.qa.clip_fps if config is not None else 4.0,
            )
            try:
                answer = asyncio.run(asker.ask(args.question, limit=args.limit, alert=args.alert))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
    finally:
        if scorer is not None:
            scorer.close()
    print(json.dumps(answer.to_dict(), indent=2) if args.json else answer.text)
    return 0


def _ask_service(args: argparse.Namespace, config: FeedwatchConfig) -> dict[str, Any] | None:
    """Ask the running service (memory plus its rolling buffers); None when no service listens there."""
    if not config.http.enabled:
        return None
    body = {"question": args.question, "limit": args.limit, "alert": args.alert}
    request = service_request(config, "/api/ask", body=body, method="POST")
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = refusal(exc)
        raise ConfigError(f"the running service at {url} refused the question ({exc.code}): {detail}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        log.debug("no running service at %s (%s); answering from the memory on disk", url, exc)
        return None
    print(f"(answered by the running service at {url}, over its memory and rolling buffers)", file=sys.stderr)
    return answer


def parse_time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is neither an ISO date/time nor Unix seconds") from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()
    return stamp.timestamp()


def _embedder(config: Path | None) -> tuple[Scorer, TextImageEmbedder]:
    """The embedding model named in ``config`` (or the default one), or a clear error."""
    import importlib.util

    settings = load_with_memory(config, None).scorer if config is not None else FeedwatchConfig().scorer
    if importlib.util.find_spec("transformers") is None:
        raise ModelError("searching by text or image needs the model stack: pip install 'feedwatch[models]'")
    scorer = create_scorer(settings, "embedding")
    assert scorer.embedder is not None
    return scorer, scorer.embedder


def _image(path: Path) -> NDArray[np.uint8]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise ConfigError(f"--image: {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"--image: {path} is not an image Pillow can read ({exc})") from exc


def _cmd_search(args: argparse.Namespace) -> int:
    config = load_with_memory(args.config, None) if args.config is not None else None
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    filters = {"camera": args.camera, "since": since, "until": until, "query_id": args.query_id,
               "min_score": args.min_score}  # fmt: skip
    with open_memory_read_only(args.memory, config) as memory:
        if args.text is None and args.image is None:
            results: list[dict[str, object]] = [m.to_dict() for m in memory.search(limit=args.limit, **filters)]
        else:
            picture = _image(args.image) if args.image is not None else None
            scorer, embedder = _embedder(args.config)
            try:
                if picture is not None:
                    vector = embedder.embed_images([picture])[0]
                else:
                    vector = embedder.embed_texts([args.text])[0]
            finally:
                scorer.close()
            found = memory.search_similar(vector, k=args.limit, **filters)
            results = [{**s.moment.to_dict(), "similarity": round(s.similarity, 4)} for s in found]
    if args.json:
        print(json.dumps(results, indent=2))
    elif not results:
        print("no moment matches")
    else:
        for r in results:
            when = datetime.fromtimestamp(float(r["start"])).astimezone().isoformat(timespec="seconds")  # type: ignore[arg-type]
            sim = f" similarity {r['similarity']}" if "similarity" in r else ""
            texts = ", ".join(f"'{t}'" for t in r["query_texts"].values()) or r["kind"]  # type: ignore[attr-defined]
            print(f"{when} {r['camera']}: {texts} peak {r['peak_score']}{sim} {r['thumbnail'] or ''}".rstrip())
    return 0
