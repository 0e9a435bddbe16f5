"""Relevance scorers: the contract, the backends, the registry that picks one, and the inference limiter."""

from __future__ import annotations

from .base import (
    MAX_SCORE,
    MIN_SCORE,
    FrameGrader,
    Grades,
    Query,
    ScoreJob,
    Scorer,
    ScorerBase,
    TextImageEmbedder,
    WindowScores,
)
from .gate import GatedScorer
from .guard import ScoringGuard
from .limiter import InferenceLimiter
from .registry import BACKENDS, create_fallback, create_scorer, resolve_backend

__all__ = [
    "BACKENDS",
    "MAX_SCORE",
    "MIN_SCORE",
    "FrameGrader",
    "GatedScorer",
    "Grades",
    "InferenceLimiter",
    "Query",
    "ScoreJob",
    "Scorer",
    "ScorerBase",
    "ScoringGuard",
    "TextImageEmbedder",
    "WindowScores",
    "create_fallback",
    "create_scorer",
    "resolve_backend",
]
