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

__all__ = ["MAX_DEPTH", "MAX_VALUES", "format_validation_error", "load_config", "read_config_file", "validate_config"]

_PLACEHOLDER = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


# The config's schema is a few levels deep and has a few hundred values at most; anything far beyond that is a
# mistake (or an alias bomb: YAML aliases repeat a node without copying it, expanding here would).
MAX_DEPTH = 32
MAX_VALUES = 100_000


class _Expander:
    """Expand placeholders in a YAML tree, refusing cycles, depth and size beyond the limits, and bad strings."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.missing: list[str] = []
        self.values = 0
        self._active: set[int] = set()  # containers on the current path: seeing one again is a cycle

    def expand(self, node: Any, path: str, depth: int = 0) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise ConfigError(f"{path or 'the file'}: more than {MAX_VALUES} values (do YAML aliases repeat a node?)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, (dict, list)):
            if id(node) in self._active:
                raise ConfigError(f"{path or 'the top level'}: a YAML alias refers to itself (a cycle)")
            self._active.add(id(node))
            try:
                if isinstance(node, dict):
                    out: dict[Any, Any] = {}
                    for k, v in node.items():
                        key_path = f"{path}.{k}" if path else str(k)
                        if isinstance(k, str):
                            _text(k, key_path)
                        out[k] = self.expand(v, key_path, depth + 1)
                    return out
                return [self.expand(v, f"{path}.{i}", depth + 1) for i, v in enumerate(node)]
            finally:
                self._active.discard(id(node))
        if isinstance(node, str):
            _text(node, path)
            return _PLACEHOLDER.sub(lambda m: self._substitute(m, path), node)
        return node

    def _substitute(self, m: re.Match[str], path: str) -> str:
        name, default = m.group("name"), m.group("default")
        if name in self.env:
            return self.env[name]
        if default is not None:
            return default
        self.missing.append(f"{path}: environment variable {name} is not set")
        return ""


def _text(value: str, path: str) -> None:
    # The path may hold the very key at fault: shown with its bad characters escaped, so the message prints.
    path = path.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{path}: holds a lone surrogate (an escape like \\ud800), which is not text") from None
    if "\x00" in value:
        raise ConfigError(f"{path}: holds a NUL character")


def read_config_file(path: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Read YAML and expand ``${VAR}`` / ``${VAR:-default}`` placeholders; no validation yet.

    Every problem (missing file, not UTF-8, not YAML, too deep, an alias cycle) is a :class:`ConfigError`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{p} is not UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column {column}; save the file as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to read (more than {MAX_DEPTH} levels make no config)") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections, not {type(data).__name__}")
    expander = _Expander(dict(os.environ) if env is None else env)
    try:
        expanded = expander.expand(data, "")
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if expander.missing:
        raise ConfigError(f"{p}: " + "; ".join(expander.missing))
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
