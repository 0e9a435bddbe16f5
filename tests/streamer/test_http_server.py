"""The HTTP plumbing: the JSON guard in front of the app, the response counter, and a server that stops by itself
being reported rather than silent."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from agents.bench.common import free_port
from streamer.transport.http import HttpServer, JsonGuard, ResponseCounter
from tests.helpers import wait_until


class EchoApp:
    """An ASGI app that answers with the body it was handed, so the guard's pass-through is visible."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("body", "ctype", "status", "words"),
    [
        (b"[" * 40 + b"]" * 40, "application/json", 422, "deeper than 32"),
        (b'{"x": NaN}', "application/json", 422, "NaN is not allowed"),
        (b'{"x": "\\ud800"}', "", 422, "not valid UTF-8"),  # no content type: FastAPI would read it as JSON
        (b'{"x": 1}', "application/merge-patch+json", 200, '{"x": 1}'),
        (b"{not json", "application/json", 200, "{not json"),  # not JSON at all: the app says so itself
        (b'{"x": NaN}', "text/plain", 200, '{"x": NaN}'),  # not JSON by its type: the app's business
    ],
)
async def test_the_json_guard(body: bytes, ctype: str, status: int, words: str) -> None:
    counter = ResponseCounter(JsonGuard(EchoApp()))
    transport = httpx.ASGITransport(app=counter)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {"content-type": ctype} if ctype else {}
        response = await client.post("/x", content=body, headers=headers)
        assert (await client.get("/x")).status_code == 200  # GETs pass untouched
    assert response.status_code == status and words in response.text
    if status == 422:
        detail = json.loads(response.text)["detail"]
        assert detail[0]["loc"] == ["body"] and detail[0]["type"] == "json_limit"
    expected = {"2xx": 2} if status == 200 else {f"{status // 100}xx": 1, "2xx": 1}
    assert counter.counts == expected


async def test_a_server_that_stops_by_itself_is_reported() -> None:
    stopped: list[str] = []
    async with HttpServer(EchoApp(), "127.0.0.1", free_port()) as server:
        server.on_stopped(stopped.append)
        assert server._server is not None
        server._server.should_exit = True  # uvicorn ending on its own, as on a fatal error
        await wait_until(lambda: stopped, what="the report")
    assert stopped == ["it stopped by itself"]
