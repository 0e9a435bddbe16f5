"""A model that fails never stops the watching: ``feedwatch run``, in its own process, against an OpenAI-compatible
server that misbehaves as real ones do (busy, an HTML error page, too slow, a 200 without choices, bytes that are
not JSON, gone), a real broker and the real HTTP API.

The server is a stand-in (:class:`agents.bench.vlm_server.StandInVLMServer`): no VLM can run here, so it answers
with a fixed GenS-style text, the lowest layer there is; everything on feedwatch's side is real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.bench.vlm_server import StandInVLMServer
from tests.helpers import PERSON_CLIP, Broker, Inbox, payload_json
from tests.running import FeedwatchProcess

pytestmark = pytest.mark.slow

EVENTS = "fw/lobby/query/person/event"


@pytest.fixture
def vlm() -> Iterator[StandInVLMServer]:
    server = StandInVLMServer(answer='{"0-3": 5}').start()  # every frame of a 4-frame window: relevant
    try:
        yield server
    finally:
        server.stop()


def _config(tmp: Path, broker: Broker, vlm: StandInVLMServer, **scorer: Any) -> dict[str, Any]:
    return {
        "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True, "fps": 2.0}],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {
            "backend": "openai", "window": 4, "stride": 2, "gate": {"enabled": False},
            "openai": {"base_url": vlm.base_url, "model": "gens", "timeout_s": 1.0, "max_in_flight": 4},
            **scorer,
        },
        "mqtt": {"enabled": True, "port": broker.port, "prefix": "fw"},
        "memory": {"path": str(tmp / "memory")},
        "clips": {"enabled": False},
    }  # fmt: skip


@pytest.fixture
async def running(tmp_path: Path, broker: Broker, vlm: StandInVLMServer) -> AsyncIterator[Any]:
    made: list[FeedwatchProcess] = []

    def make(**scorer: Any) -> FeedwatchProcess:
        fw = FeedwatchProcess(tmp_path, _config(tmp_path, broker, vlm, **scorer))
        made.append(fw)
        return fw

    yield make
    for fw in made:
        fw.kill()


def _scorer_down(health: dict[str, Any]) -> bool:
    return "scorer" in health.get("degraded", {})


def _scorer_back(health: dict[str, Any]) -> bool:
    return health.get("status") == "ok"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("503", "overloaded"), ("500", "unavailable"), ("slow", "timeout"), ("no_choices", "malformed"),
     ("garbage", "malformed"), ("down", "unavailable")],
)  # fmt: skip
async def test_a_failing_model_server_degrades_the_service_which_recovers_by_itself(
    running: Any, vlm: StandInVLMServer, inbox: Inbox, fault: str, kind: str
) -> None:
    if fault == "down":
        vlm.stop()
    else:
        vlm.fault = fault
    fw = running()
    fw.start()
    health = await fw.until("the scorer's outage in /api/health", _scorer_down)
    # Degraded, not broken: 200, the scorer named with the kind of fault and since when; no stage restarted.
    assert health["http"] == 200 and health["status"] == "degraded", health
    assert health["problems"] == {} and health["restarts"] == {}, health
    said = health["degraded"]["scorer"]
    assert said.startswith("scorer openai is unavailable since ") and f"({kind}: " in said, said
    assert await fw.metric(f'feedwatch_model_faults_total{{kind="{kind}"}}') >= 1
    assert await fw.metric("feedwatch_unscored_windows_total") >= 1
    assert not [m for m in inbox.messages if m.topic.matches(EVENTS)]  # nothing scored, so nothing alerted
    # MQTT says so too: the retained health (Home Assistant's problem sensor follows it); availability stays online.
    told = await inbox.wait_for("fw/health", lambda m: "scorer" in payload_json(m)["degraded"])
    assert payload_json(told)["status"] == "degraded"
    available = [m.payload for m in inbox.messages if m.topic.matches("fw/available")]
    assert available and available[-1] == b"online"

    # The server answers again: scoring resumes without a restart, and the alert it finds goes out over MQTT.
    if fault == "down":
        vlm.start()
    else:
        vlm.fault = None
    await fw.until("the scorer to be back", _scorer_back)
    event = payload_json(await inbox.wait_for(EVENTS, lambda m: payload_json(m)["type"] == "new", timeout=30))
    assert event["backend"] == "openai" and event["semantic"] is True
    health = await fw.health()
    assert health["restarts"] == {} and health["problems"] == {}
    await fw.stop()


async def test_the_activity_scorer_watches_while_the_model_is_away(
    running: Any, vlm: StandInVLMServer, inbox: Inbox
) -> None:
    vlm.stop()
    fw = running(fallback="activity")
    fw.start()
    health = await fw.until("the scorer's outage", _scorer_down)
    assert "the activity scorer (not semantic) watches meanwhile" in health["degraded"]["scorer"]
    event = payload_json(await inbox.wait_for(EVENTS, lambda m: payload_json(m)["type"] == "new", timeout=60))
    assert event["backend"] == "activity" and event["semantic"] is False
    assert await fw.metric("feedwatch_fallback_windows_total") >= 1
    await fw.stop()


async def test_an_open_alert_outlives_a_short_outage_of_its_scorer(
    running: Any, vlm: StandInVLMServer, inbox: Inbox
) -> None:
    fw = running()
    fw.start()
    new = payload_json(await inbox.wait_for(EVENTS, lambda m: payload_json(m)["type"] == "new", timeout=60))
    vlm.fault = "503"
    await fw.until("the scorer's outage", _scorer_down)
    before = await fw.metric("feedwatch_unscored_windows_total")
    while await fw.metric("feedwatch_unscored_windows_total") < before + 2:  # two more windows go unscored
        await fw.until("the outage to go on", _scorer_down)
    vlm.fault = None
    await fw.until("the scorer to be back", _scorer_back)
    ends = [payload_json(m) for m in inbox.messages if m.topic.matches(EVENTS) and payload_json(m)["type"] == "end"]
    assert not [e for e in ends if e["id"] == new["id"]], ends  # the outage did not end it
    log = await fw.stop()
    assert "scorer openai answers again; scoring resumes" in log
