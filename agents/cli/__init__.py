"""The ``feedwatch`` command line, one module per command family: ``run``/``watch``, ``ask``/``search``,
``validate``, ``eval`` and ``bench``."""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
