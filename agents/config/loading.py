"""Reading a config file: YAML with ``${ENV}`` placeholders, then strict validation with key paths.

Reading (:func:`read_config_file`) and validating (:func:`validate_config`) are separate steps so the
``validate`` command can report every error with its key path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streamer.errors import ConfigError
from streamer.redact import redact_text

from .models import FeedwatchConfig

__all__ = ["format_validation_error", "load_config", "read_config_file", "validate_config"]

_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _expand(node: Any, path: str, env: dict[str, str], missing: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand(v, f"{path}.{k}" if path else str(k), env, missing) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, f"{path}.{i}", env, missing) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group("name"), m.group("default")
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append(f"{path}: environment variable {name} is not set")
            return ""

        return _PLACEHOLDER.sub(sub, node)
    return node


def read_config_file(path: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Read YAML and expand ``${VAR}`` / ``${VAR:-default}`` placeholders; no validation yet."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections, not {type(data).__name__}")
    missing: list[str] = []
    expanded = _expand(data, "", dict(os.environ) if env is None else env, missing)
    if missing:
        raise ConfigError(f"{p}: " + "; ".join(missing))
    return dict(expanded)


def format_validation_error(exc: ValidationError) -> list[str]:
    """One line per error: ``key.path: message``, credentials redacted."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{loc}: {redact_text(err['msg'])}")
    return lines


def validate_config(data: dict[str, Any], source: str = "config") -> FeedwatchConfig:
    """Validate a raw mapping; :class:`ConfigError` lists every problem with its key path."""
    try:
        return FeedwatchConfig.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_error(exc)
        raise ConfigError(f"{source} is invalid ({len(lines)} error(s)):\n  " + "\n  ".join(lines)) from None


def load_config(path: str | Path) -> FeedwatchConfig:
    """Read and validate a config file."""
    return validate_config(read_config_file(path), str(path))
