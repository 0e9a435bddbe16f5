"""JSON from outside (MQTT commands, HTTP bodies), parsed with limits: nesting depth, finite numbers, valid UTF-8.

Python's ``json`` recurses once per nesting level (so a few thousand ``[`` raise RecursionError), accepts ``NaN``
and ``Infinity``, and turns ``"\\ud800"`` into a string no UTF-8 encoder takes. :func:`loads` refuses all three
with a :class:`LimitError` that says what is wrong, before anything downstream sees the value; text that is not JSON
at all is a plain :class:`ValueError`.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_DEPTH", "LimitError", "check_value", "loads"]

MAX_DEPTH = 32


class LimitError(ValueError):
    """JSON that parses, or would, but crosses a limit: too deep, a number that is not finite, text not UTF-8."""


def _depth(raw: str, limit: int) -> None:
    """Refuse nesting deeper than ``limit`` without recursing (a linear scan that skips strings)."""
    depth = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise LimitError(f"JSON nested deeper than {limit} levels")
        elif ch in "]}":
            depth -= 1


def _constant(name: str) -> Any:
    raise LimitError(f"JSON number {name} is not allowed (numbers must be finite)")


def check_value(value: Any, where: str = "") -> None:
    """Refuse non-finite numbers and strings (or keys) that are not valid UTF-8 anywhere in ``value``."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _utf8(item, path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise LimitError(f"{path or 'value'}: numbers must be finite")
        elif isinstance(item, dict):
            for key, sub in item.items():
                _utf8(str(key), f"{path}.{key}" if path else "a key")
                stack.append((sub, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]") for i, sub in enumerate(item))


def _utf8(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LimitError(f"{path or 'a string'} is not valid UTF-8 (it holds a lone surrogate)") from None


def loads(raw: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` as JSON within the limits: :class:`LimitError` says which one was crossed, a plain
    :class:`ValueError` that it is not JSON."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LimitError(f"not UTF-8 (byte {exc.start})") from None
    else:
        text = raw
    _depth(text, max_depth)
    try:
        value = json.loads(text, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    check_value(value)
    return value
