"""``feedwatch reload``: have the running service read its config file again and apply the difference."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError

from .common import load_with_memory, refusal, service_request

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "reload",
        help="have the running service re-read its config file and apply the changes",
        description="Validates the file first (an invalid one changes nothing), then asks the service over its HTTP "
        "API (POST /api/reload), or with --pid sends it SIGHUP. Cameras added, removed or changed restart only "
        "their own reader; queries are applied as the MQTT and HTTP commands apply them; other sections need a "
        "restart and are named.",
    )
    p.add_argument("--config", "-c", required=True, type=Path, help="the config file the service runs from")
    p.add_argument("--pid", type=int, help="send SIGHUP to this 'feedwatch run' process instead of using HTTP")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the service's answer")
    p.set_defaults(handler=_cmd_reload)


def _cmd_reload(args: argparse.Namespace) -> int:
    config = load_with_memory(args.config, None)  # refuses an invalid file here, before the service is bothered
    if args.pid is not None:
        try:
            os.kill(args.pid, signal.SIGHUP)
        except OSError as exc:
            raise ConfigError(f"cannot signal process {args.pid}: {exc.strerror}") from None
        print(f"sent SIGHUP to {args.pid}; the service logs what it applied", file=sys.stderr)
        return 0
    if not config.http.enabled:
        raise ConfigError(f"{args.config} has the HTTP API off: reload with --pid PID (SIGHUP) instead")
    request = service_request(config, "/api/reload", method="POST", body={})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = refusal(exc)
        raise ConfigError(f"the service at {request.full_url} refused the reload ({exc.code}): {detail}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise ConfigError(f"no running service answers at {request.full_url} ({exc}); is 'feedwatch run' up?") from None
    print(json.dumps(result, indent=2))
    return 0
