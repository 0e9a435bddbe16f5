"""Judgment and the app: scorers, the alert policy, memory, question answering, the service, its APIs and the CLI.

The folders follow the pipeline (see the README's Architecture section): ``config`` -> ``models`` ->
``scoring`` -> ``alerting`` | ``memory`` -> ``qa`` -> ``service`` -> ``api`` -> ``eval`` | ``bench`` -> ``cli``.
Importing ``agents`` is cheap: these names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.lazy import lazy_exports

if TYPE_CHECKING:
    from .alerting import Alert as Alert
    from .alerting import AlertKind as AlertKind
    from .alerting import AlertPolicy as AlertPolicy
    from .alerting import Scheduler as Scheduler
    from .config import FeedwatchConfig as FeedwatchConfig
    from .config import load_config as load_config
    from .config import read_config_file as read_config_file
    from .config import validate_config as validate_config
    from .memory import Moment as Moment
    from .memory import MomentMemory as MomentMemory
    from .qa import Answer as Answer
    from .qa import Asker as Asker
    from .qa import Citation as Citation
    from .scoring import Query as Query
    from .scoring import Scorer as Scorer
    from .scoring import WindowScores as WindowScores
    from .scoring import create_scorer as create_scorer
    from .scoring import resolve_backend as resolve_backend
    from .service import AlertEvent as AlertEvent
    from .service import Service as Service
    from .service import ServiceReport as ServiceReport

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "alerting": ("Alert", "AlertKind", "AlertPolicy", "Scheduler"),
            "config": ("FeedwatchConfig", "load_config", "read_config_file", "validate_config"),
            "memory": ("Moment", "MomentMemory"),
            "qa": ("Answer", "Asker", "Citation"),
            "scoring": ("Query", "Scorer", "WindowScores", "create_scorer", "resolve_backend"),
            "service": ("AlertEvent", "Service", "ServiceReport"),
        },
    )
