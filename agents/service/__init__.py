"""The running service: its lifecycle, its stages (ingest, output), its standing queries, and the port the APIs
use to reach it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.lazy import lazy_exports

if TYPE_CHECKING:
    from .port import AlertEvent as AlertEvent
    from .port import AlertListener as AlertListener
    from .port import Extension as Extension
    from .port import ServicePort as ServicePort
    from .queries import QueryStore as QueryStore
    from .report import CameraReport as CameraReport
    from .report import ServiceReport as ServiceReport
    from .service import Service as Service

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "port": ("AlertEvent", "AlertListener", "Extension", "ServicePort"),
            "queries": ("QueryStore",),
            "report": ("CameraReport", "ServiceReport"),
            "service": ("Service",),
        },
    )
