"""Relevance scorers: the contract, the backends and the registry that picks one."""

from .base import MAX_SCORE, MIN_SCORE, Query, Scorer, WindowScores
from .registry import BACKENDS, create_scorer, resolve_backend

__all__ = [
    "BACKENDS",
    "MAX_SCORE",
    "MIN_SCORE",
    "Query",
    "Scorer",
    "WindowScores",
    "create_scorer",
    "resolve_backend",
]
