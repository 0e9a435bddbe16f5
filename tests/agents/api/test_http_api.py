"""The HTTP API of a running service, through a real HTTP client: reads, writes, live events, auth and bad input."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents import Service, validate_config
from agents.api import HttpApi
from agents.bench.common import free_port
from agents.config.models import HttpConfig
from streamer import ConfigError
from tests.helpers import PERSON_CLIP, scaled, served, wait_until

SECRET = "hunter2-secret"


def _config(tmp_path: Path, port: int, **http: Any) -> dict[str, Any]:
    return {
        "cameras": [
            {"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True},
            # A camera that never opens, with a password in its URL that must never show.
            {"id": "gate", "url": f"rtsp://admin:{SECRET}@127.0.0.1:{free_port()}/live", "open_timeout_s": 1},
        ],
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")},
        "http": {"port": port, **http},
    }


async def _remember(tmp_path: Path) -> None:
    """Fill the memory first: the clip replayed fast, so moments exist before the live service starts."""
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP)}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "http": {"enabled": False},
        }
    )
    await Service(config, retry=False).run()


async def _started(service: Service, http: HttpApi | None) -> asyncio.Task[Any]:
    assert http is not None
    task = asyncio.create_task(service.run())
    await wait_until(lambda: http.bound_port is not None or task.done(), what="the HTTP server")
    if task.done():
        task.result()
    return task


async def _stop(service: Service, task: asyncio.Task[Any]) -> None:
    service.stop()
    await asyncio.wait_for(task, scaled(30))


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    await _remember(tmp_path)
    service, http = served(validate_config(_config(tmp_path, free_port())), retry=True)
    task = await _started(service, http)
    try:
        assert http is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}", timeout=scaled(30)) as client:
            yield service, client
    finally:
        await _stop(service, task)


@pytest.mark.slow
async def test_reads_writes_events_and_bad_input(running: tuple[Service, httpx.AsyncClient], tmp_path: Path) -> None:
    _, client = running
    seen: list[str] = []

    async def get(path: str, status: int = 200) -> httpx.Response:
        response = await client.get(path)
        assert response.status_code == status, (path, response.text)
        seen.append(response.text if "json" in response.headers.get("content-type", "") else "")
        return response

    health = (await get("/api/health")).json()
    assert health["status"] == "ok" and health["cameras"] == 2
    schema = (await get("/openapi.json")).json()
    assert {"/api/cameras", "/api/queries", "/api/alerts", "/api/moments", "/api/ask", "/api/events"} <= set(
        schema["paths"]
    )
    assert "<title>feedwatch</title>" in (await get("/")).text

    # Cameras: status and counters, never the URL or its password.
    deadline = time.monotonic() + scaled(20)
    while True:
        cameras = {c["id"]: c for c in (await get("/api/cameras")).json()}
        if (cameras["lobby"]["latest"] and cameras["gate"]["error"]) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert cameras["lobby"]["status"] == "live" and cameras["lobby"]["buffer_frames"] > 0
    assert cameras["gate"]["status"] in ("connecting", "offline") and cameras["gate"]["error"]
    snap = await get("/api/cameras/lobby/snapshot.jpg")
    assert snap.headers["content-type"] == "image/jpeg" and snap.content[:2] == b"\xff\xd8"
    await get("/api/cameras/nope/snapshot.jpg", 404)

    # Standing queries: add, list, replace, delete, with clear 4xx on bad input; persisted.
    added = await client.post("/api/queries", json={"id": "car", "text": "a car parks", "threshold": 4})
    assert added.status_code == 201 and added.json()["threshold"] == 4
    assert {q["id"] for q in (await get("/api/queries")).json()} == {"person", "car"}
    bad = [
        ({"id": "x"}, 422, "text"),
        ({"id": "bad id!", "text": "t"}, 422, "id"),
        ({"id": "x", "text": "t", "threshold": 9}, 422, "threshold"),
        (
            {"id": "x", "text": "t", "cameras": ["attic"]},
            422,
            "names unknown camera(s) ['attic']; known: ['gate', 'lobby']",
        ),
        ({"id": "x", "text": "t", "zones": ["porch"]}, 422, "zone(s) ['porch'], which camera 'lobby' does not have"),
        ({"id": "x", "text": "t", "armed": 0}, 422, "armed"),
        ({"id": "x", "text": "t", "active": ["25:00-06:00"]}, 422, "active"),
    ]
    for body, status, word in bad:
        response = await client.post("/api/queries", json=body)
        assert response.status_code == status and word in response.text, (body, response.text)
    malformed = await client.post("/api/queries", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    assert (await client.delete("/api/queries/nope")).status_code == 404
    assert (await client.delete("/api/queries/car")).status_code == 204
    stored = json.loads((tmp_path / "memory" / "queries.json").read_text())
    assert stored["deleted"] == ["car"]

    # Moments: by filters, by words, paged; thumbnails; unknown ids.
    listed = (await get("/api/moments?kind=alert&limit=2")).json()
    assert listed["search"] == "filters" and len(listed["items"]) == 2 and listed["next_offset"] == 2
    second = (await get("/api/moments?kind=alert&limit=2&offset=2")).json()
    assert {m["id"] for m in second["items"]}.isdisjoint({m["id"] for m in listed["items"]})
    found = (await get("/api/moments?q=person")).json()
    assert found["search"] == "words" and found["items"]
    assert all("a person" in m["query_texts"].values() for m in found["items"])
    assert not (await get("/api/moments?q=giraffe")).json()["items"]
    thumb = await get(found["items"][0]["thumbnail_url"])
    assert thumb.content[:2] == b"\xff\xd8"
    assert "thumbnail" not in found["items"][0]  # URLs, not file paths
    await get("/api/moments/nope", 404)
    await get("/api/moments?limit=0", 422)
    await get("/api/asked/..%2F..%2Fmoments.sqlite", 404)

    # Alerts: ended ones from the memory, paged; an open one arrives live on the event stream.
    history = (await get("/api/alerts?query=person&limit=3")).json()
    assert len(history["items"]) == 3 and history["next_offset"] == 3
    alert = await _next_alert(client)
    assert alert["camera"] == "lobby" and "snapshot" not in alert
    live_snapshot = await get(alert["snapshot_url"])
    assert live_snapshot.content[:2] == b"\xff\xd8"
    if alert["type"] != "end":
        assert any(a["id"] == alert["id"] for a in (await get("/api/alerts")).json()["open"])

    # Ask: an answer with citations whose pictures can be fetched; bad bodies are 4xx.
    asked = await client.post("/api/ask", json={"question": "when was a person on the lobby camera?"})
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["citations"] and set(answer["timings_ms"]) == {"parse", "retrieve", "select", "answer"}
    assert answer["candidates"]["buffer"] > 0 and answer["candidates"]["memory"] > 0
    for c in answer["citations"]:
        assert (await get(c["thumbnail_url"])).content[:2] == b"\xff\xd8"
    assert (await client.post("/api/ask", json={"question": ""})).status_code == 422
    assert (await client.post("/api/ask", content=b"question?")).status_code == 422
    huge = await client.post("/api/ask", json={"question": "x" * HttpConfig().max_body_kb * 1024})  # the default
    assert huge.status_code == 413 and "limit" in huge.json()["detail"]

    metrics = (await get("/metrics")).text
    assert 'feedwatch_frames_sampled_total{camera="lobby"}' in metrics
    assert 'feedwatch_camera_up{camera="lobby"} 1.0' in metrics
    assert 'feedwatch_camera_up{camera="gate"} 0.0' in metrics
    assert "feedwatch_asks_total 1.0" in metrics
    assert not any(SECRET in text for text in [*seen, metrics, answer["answer"]])


async def _next_alert(client: httpx.AsyncClient) -> dict[str, Any]:
    """Read the event stream until an alert event arrives."""
    async with client.stream("GET", "/api/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "alert":
                data: dict[str, Any] = json.loads(line[6:])
                return data
    raise AssertionError("the event stream ended without an alert")


@pytest.mark.slow
async def test_token_is_required_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FW_TEST_TOKEN", "s3cret-token")
    service, http = served(validate_config(_config(tmp_path, free_port(), token_env="FW_TEST_TOKEN")), retry=True)
    task = await _started(service, http)
    try:
        assert http is not None
        base = f"http://127.0.0.1:{http.bound_port}"
        async with httpx.AsyncClient(base_url=base, timeout=scaled(10)) as anonymous:
            for path in ("/api/cameras", "/api/queries", "/api/alerts", "/api/moments", "/metrics"):
                response = await anonymous.get(path)
                assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer", path
            assert (await anonymous.post("/api/ask", json={"question": "hi"})).status_code == 401
            wrong = await anonymous.get("/api/cameras", headers={"Authorization": "Bearer s3cret-tokem"})
            assert wrong.status_code == 401
            assert (await anonymous.get("/api/health")).status_code == 200  # liveness needs no token
            assert (await anonymous.get("/")).status_code == 200  # the page itself asks for the token
            assert (await anonymous.post("/api/login", json={"token": "nope"})).status_code == 401
        async with httpx.AsyncClient(base_url=base, timeout=scaled(10)) as bearer:
            ok = await bearer.get("/api/cameras", headers={"Authorization": "Bearer s3cret-token"})
            assert ok.status_code == 200 and {c["id"] for c in ok.json()} == {"lobby", "gate"}
        async with httpx.AsyncClient(base_url=base, timeout=scaled(10)) as browser:
            login = await browser.post("/api/login", json={"token": "s3cret-token"})
            assert login.status_code == 204 and "httponly" in login.headers["set-cookie"].lower()
            assert (await browser.get("/api/queries")).status_code == 200  # the cookie now authorises
    finally:
        await _stop(service, task)


# Everything answers 401 without the token but these: the page (it asks for the token), liveness, and signing in.
_OPEN = {("GET", "/"), ("GET", "/api/health"), ("POST", "/api/login")}


def _routes(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path template) of every route the app registers, routers included with their prefixes (FastAPI
    keeps an included router as one entry, its routes under ``original_router``)."""
    from starlette.routing import Route

    found = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            found += _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route):
            found += [(m, prefix + route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


@pytest.mark.slow
async def test_every_route_but_a_short_list_needs_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Walks the routes the app registers, so a new route without the guard fails here; the OpenAPI document and
    the docs pages name cameras and zones, so they are guarded (or not served) too."""
    monkeypatch.setenv("FW_TEST_TOKEN", "s3cret-token")
    service, http = served(validate_config(_config(tmp_path, free_port(), token_env="FW_TEST_TOKEN")), retry=True)
    task = await _started(service, http)
    try:
        assert http is not None and http.app is not None
        app = http.app
        while not hasattr(app, "routes"):  # the FastAPI app, inside the ASGI wrappers (body limit, JSON guard, ...)
            app = app.app
        walked = set()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}", timeout=scaled(10)) as anonymous:
            for method, template in _routes(app.routes):
                path = re.sub(r"\{[^}]+\}", "lobby", template)  # any value: the guard answers before the lookup
                walked.add((method, template))
                response = await anonymous.request(method, path, json={} if method != "GET" else None)
                if (method, template) in _OPEN:
                    assert response.status_code != 401, (method, template)
                else:
                    assert response.status_code == 401, (method, template, response.status_code)
            for page in ("/docs", "/redoc"):
                assert (await anonymous.get(page)).status_code in (401, 404), page  # never served openly
            with_token = await anonymous.get("/openapi.json", headers={"Authorization": "Bearer s3cret-token"})
            assert with_token.status_code == 200 and with_token.json()["openapi"]
        assert ("GET", "/openapi.json") in walked and ("DELETE", "/api/queries/{query_id}") in walked
        assert len(walked) > 20, walked
    finally:
        await _stop(service, task)


async def test_open_address_without_token_and_busy_port_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEEDWATCH_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="FEEDWATCH_API_TOKEN"):  # refused before anything opens
        served(validate_config(_config(tmp_path, free_port(), host="0.0.0.0")), retry=True)
    port = free_port()
    holder = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        busy, _ = served(validate_config(_config(tmp_path, port)), retry=True)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await busy.run()
    finally:
        holder.close()
        await holder.wait_closed()
