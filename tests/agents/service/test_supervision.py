"""No stage dies silently: a stage that fails on a bug is logged with its name, restarted, and counted; one that
cannot come back makes the service unhealthy (``run``) or ends it with one clear error (``watch``).

Faults are injected for real: a scorer whose scoring raises (named as the fault it is), a listener that raises."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from agents import Service, validate_config
from agents.api import HttpApi, MqttApi
from agents.bench.common import free_port
from agents.scoring.activity import ActivityScorer
from agents.scoring.base import ScoreJob, WindowScores
from agents.service import AlertEvent
from agents.service.health import Health
from agents.service.supervisor import RestartPolicy, StageFailed, supervise
from streamer import SourceError
from tests.helpers import PERSON_CLIP, SHORT_CLIP, Broker, Inbox, scaled, served, wait_until

FAST = RestartPolicy(base_s=0.01, cap_s=0.05)


class ScorerThatFails(ActivityScorer):
    """The activity scorer with a fault injected: its first ``fail_times`` batches raise, as a bug would."""

    def __init__(self, fail_times: int) -> None:
        super().__init__()
        self.fail_times = fail_times
        self.calls = 0

    def score_batch(self, jobs: Sequence[ScoreJob]) -> list[WindowScores]:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise RuntimeError(f"injected fault {self.calls}")
        return super().score_batch(jobs)


# -- the supervisor alone ---------------------------------------------------------------------------


async def test_a_failing_stage_is_logged_with_its_name_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    health, runs = Health(), []

    async def stage() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise KeyError("a bug")

    await supervise("demo", stage, health, policy=FAST, fatal=True, stopping=asyncio.Event())
    assert len(runs) == 3 and health.report().restarts == {"demo": 2} and health.healthy
    failed = [r for r in caplog.records if r.levelname == "ERROR" and r.getMessage().startswith("stage demo failed")]
    assert len(failed) == 2 and all(r.exc_info for r in failed)


async def test_a_stage_that_keeps_failing_makes_the_service_unhealthy_and_stays_down() -> None:
    health, stopping, runs = Health(), asyncio.Event(), []

    async def stage() -> None:
        runs.append(1)
        raise RuntimeError("always")

    policy = RestartPolicy(max_restarts=2, base_s=0.01, cap_s=0.05)
    task = asyncio.create_task(supervise("demo", stage, health, policy=policy, fatal=False, stopping=stopping))
    await wait_until(lambda: not health.healthy, what="the stage to be given up")
    assert len(runs) == 3 and not task.done()  # down, waiting for the service to stop
    assert health.report().problems == {"demo": "the demo stage stopped: RuntimeError: always (failed 3 times)"}
    stopping.set()
    await asyncio.wait_for(task, scaled(5))

    with pytest.raises(StageFailed, match="the demo stage failed: RuntimeError: always"):
        await supervise("demo", stage, Health(), policy=policy, fatal=True, stopping=asyncio.Event())


async def test_a_stage_that_may_not_restart_is_not_and_our_own_errors_pass_through() -> None:
    health, runs = Health(), []

    async def stage() -> None:
        runs.append(1)
        raise RuntimeError("once")

    policy = RestartPolicy(restart=False)
    with pytest.raises(StageFailed):
        await supervise("demo", stage, health, policy=policy, fatal=True, stopping=asyncio.Event())
    assert runs == [1] and "may not be restarted" in health.report().problems["demo"]

    async def source_gone() -> None:
        raise SourceError("camera x: no such file")

    with pytest.raises(SourceError):  # not a bug: the caller says it in its own words
        await supervise("ingest-x", source_gone, Health(), policy=FAST, fatal=True, stopping=asyncio.Event())


# -- in the service -------------------------------------------------------------------------------


def _config(tmp_path: Path, broker: Broker | None = None, **extra: Any) -> Any:
    cfg: dict[str, Any] = {
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")},
        "http": {"port": free_port()},
        **extra,
    }
    if broker is not None:
        cfg["mqtt"] = {"enabled": True, "port": broker.port, "prefix": "fw", "discovery_prefix": ""}
    return validate_config(cfg)


@pytest.mark.slow
async def test_a_scheduler_that_fails_once_is_restarted_and_alerts_still_flow(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alerts: list[AlertEvent] = []

    async def collect(event: AlertEvent) -> None:
        alerts.append(event)

    async def broken_listener(event: AlertEvent) -> None:  # a listener's bug costs it the event, nobody else
        raise ValueError("a listener bug")

    service, http = served(_config(tmp_path), retry=True, on_alert=collect, scorer=ScorerThatFails(fail_times=1))
    service.on_alert(broken_listener)
    service.restart_policy = FAST
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: any(a.alert.kind.value == "new" for a in alerts), 60, "an alert after the restart")
        assert isinstance(http, HttpApi) and http.bound_port is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}") as web:
            health = await web.get("/api/health")
            metrics = (await web.get("/metrics")).text
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["restarts"] == {"scheduler": 1}
    assert 'feedwatch_stage_restarts_total{stage="scheduler"} 1.0' in metrics and "feedwatch_healthy 1.0" in metrics
    assert "feedwatch_alert_listener_failures_total" in metrics
    restarts = [r for r in caplog.records if r.getMessage().startswith("stage scheduler failed (1 time(s)")]
    assert len(restarts) == 1 and "injected fault 1" in str(restarts[0].exc_info[1])  # type: ignore[index]
    listener_errors = [r for r in caplog.records if "listener test_a_scheduler_that_fails_once" in r.getMessage()]
    assert listener_errors and len(listener_errors) == service._run.output.listener_failures  # type: ignore[union-attr]


@pytest.mark.slow
async def test_a_scheduler_that_cannot_come_back_makes_the_service_unhealthy_everywhere(
    tmp_path: Path, broker: Broker
) -> None:
    service, http = served(_config(tmp_path, broker), retry=True, scorer=ScorerThatFails(fail_times=10**6))
    mqtt = next(e for e in service.extensions if isinstance(e, MqttApi))
    service.restart_policy = RestartPolicy(max_restarts=2, base_s=0.01, cap_s=0.05)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="watcher") as client:
        await client.subscribe("fw/#", qos=1)
        inbox = Inbox(client)
        listening = asyncio.create_task(inbox.run())
        task = asyncio.create_task(service.run())
        try:
            await inbox.wait_for("fw/available", lambda m: m.payload == b"offline", timeout=60)
            unhealthy = await inbox.wait_for("fw/health", lambda m: b"unhealthy" in m.payload)
            assert isinstance(http, HttpApi)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}") as web:
                health = await web.get("/api/health")
                metrics = (await web.get("/metrics")).text
            assert not task.done()  # run keeps serving its APIs, and says what is wrong
        finally:
            service.stop()
            await asyncio.wait_for(task, scaled(30))
            listening.cancel()
    assert isinstance(unhealthy.payload, bytes)
    body = json.loads(unhealthy.payload)
    assert body["status"] == "unhealthy" and "RuntimeError: injected fault 3" in body["problems"]["scheduler"]
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    assert "feedwatch_healthy 0.0" in metrics and mqtt.publisher is not None


@pytest.mark.slow
def test_watch_ends_with_one_clear_error_when_a_stage_cannot_come_back(tmp_path: Path) -> None:
    config = validate_config(
        {
            "cameras": [{"id": "cam", "url": str(SHORT_CLIP)}],
            "queries": [{"id": "q", "text": "a person"}],
            "memory": {"path": str(tmp_path / "memory")},
            "http": {"enabled": False},
        }
    )
    service = Service(config, retry=False, scorer=ScorerThatFails(fail_times=10**6))
    service.restart_policy = RestartPolicy(max_restarts=1, base_s=0.01, cap_s=0.05)
    with pytest.raises(StageFailed, match="the scheduler stage failed: RuntimeError: injected fault 2"):
        asyncio.run(service.run())
