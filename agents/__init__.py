"""Judgment and the app: scorers, the alert policy, memory, question answering, the service and the CLI."""

from .alerts import Alert, AlertKind, AlertPolicy
from .config import FeedwatchConfig, load_config, read_config_file, validate_config
from .memory import Moment, MomentMemory
from .qa import Answer, Citation, answer_question
from .scheduler import Scheduler
from .scoring import Query, Scorer, WindowScores, create_scorer, resolve_backend
from .service import Service, ServiceReport

__all__ = [
    "Alert",
    "AlertKind",
    "AlertPolicy",
    "Answer",
    "Citation",
    "FeedwatchConfig",
    "Moment",
    "MomentMemory",
    "Query",
    "Scheduler",
    "Scorer",
    "Service",
    "ServiceReport",
    "WindowScores",
    "answer_question",
    "create_scorer",
    "load_config",
    "read_config_file",
    "resolve_backend",
    "validate_config",
]
