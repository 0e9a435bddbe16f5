"""Lazy re-exports for package ``__init__`` modules (PEP 562), so importing a package stays cheap.

``import agents`` or ``import streamer`` must not load FFmpeg, FAISS, uvicorn or an MQTT client: a package
names what it exports and where it lives, and each name is imported the first time it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package``: ``exports`` maps a submodule to the names it provides."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace = importlib.import_module(package).__dict__
        namespace[name] = value  # later lookups skip this function
        return value

    return sorted(where), __getattr__
