"""The service's health: what is wrong now, how often each stage was restarted, and who wants to know.

A stage that fails is logged and restarted (:mod:`.supervisor`); one that cannot come back, or a part that reports
a standing problem (the MQTT publisher failing on a bug), makes the service unhealthy until it recovers. The APIs
show it: ``/api/health`` answers 503, the MQTT availability topic says ``offline``, ``feedwatch_healthy`` is 0.

A dependency that is away (the scoring model's server, the memory's disk or database) makes it *degraded*, not
unhealthy: feedwatch is doing what it can and waits for it. ``/api/health`` still answers 200, with status
``degraded`` and what is away; the MQTT health topic and Home Assistant's problem sensor say so; availability stays
``online``, since the service still works (alerts go out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streamer.redact import redact_text

__all__ = ["Health", "HealthCounter", "HealthReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The service's health at one moment: problems by part (stage name), restarts by stage."""

    problems: dict[str, str] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    degraded: dict[str, str] = field(default_factory=dict)  # dependencies that are away, by part

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        return "unhealthy" if self.problems else "degraded" if self.degraded else "ok"

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "problems": dict(self.problems),
            "degraded": dict(self.degraded),
            "restarts": dict(self.restarts),
        }


@dataclass(frozen=True, slots=True)
class HealthCounter:
    """A counter some part of the service keeps (messages the broker refused, say), read at scrape time; with
    ``label``, ``read`` gives one value per label value (model faults by kind)."""

    name: str
    doc: str
    read: Callable[[], float | Mapping[str, float]]
    label: str | None = None


class Health:
    """Problems and restarts of a running service; listeners hear every change (call on the loop)."""

    def __init__(self) -> None:
        self._problems: dict[str, str] = {}
        self._degraded: dict[str, str] = {}
        self._restarts: dict[str, int] = {}
        self._listeners: list[Callable[[HealthReport], None]] = []
        self.counters: list[HealthCounter] = []

    @property
    def healthy(self) -> bool:
        return not self._problems

    def report(self) -> HealthReport:
        return HealthReport(dict(self._problems), dict(self._restarts), dict(self._degraded))

    def listen(self, listener: Callable[[HealthReport], None]) -> None:
        self._listeners.append(listener)

    def count(
        self, name: str, doc: str, read: Callable[[], float | Mapping[str, float]], label: str | None = None
    ) -> None:
        """Expose a counter kept elsewhere as the metric ``feedwatch_<name>`` (labelled by ``label``, if given)."""
        self.counters.append(HealthCounter(name, doc, read, label))

    def degrade(self, part: str, text: str | None) -> None:
        """Record that the dependency ``part`` is away (``text`` says what and since when), or with None that it is
        back."""
        self._record(self._degraded, part, text, "DEGRADED", "is back", logging.WARNING)

    def problem(self, part: str, text: str | None) -> None:
        """Record that ``part`` is broken (``text`` says how), or with None that it works again."""
        self._record(self._problems, part, text, "UNHEALTHY", "recovered", logging.ERROR)

    def _record(self, table: dict[str, str], part: str, text: str | None, what: str, back: str, level: int) -> None:
        """Set (logged at ``level``) or clear ``part`` in ``table``; listeners hear of each change, not of repeats."""
        if text is None:
            if table.pop(part, None) is not None:
                log.warning("health: %s %s", part, back)
                self._changed()
            return
        text = redact_text(text)
        if table.get(part) != text:
            table[part] = text
            log.log(level, "health: %s: %s: %s", what, part, text)
            self._changed()

    def restarted(self, stage: str) -> None:
        self._restarts[stage] = self._restarts.get(stage, 0) + 1
        self._changed()

    def _changed(self) -> None:
        report = self.report()
        for listener in self._listeners:
            try:
                listener(report)
            except Exception:  # a listener's bug must not hide the problem from the others
                log.exception("health: a listener failed")
