"""A stand-in for an OpenAI-compatible VLM server, for the scoring benchmark and the model-fault tests.

It speaks the chat-completions route over HTTP/1.1 keep-alive, answers every request after ``latency_s`` (in a
thread of its own, so its latency stays flat however many requests are open: the best a batching vLLM server
does), and counts what it sees: requests, the most open at once, connections. Its answer is a fixed text it is
given (``answer``): no model runs here. ``fault`` makes it misbehave as real servers do, for the tests: ``503``
(busy, with Retry-After), ``500`` (an HTML error page), ``slow`` (answers after ``slow_s``), ``no_choices`` (a 200
without choices), ``garbage`` (a 200 whose body is not UTF-8); :meth:`stop` and :meth:`start` take it down and
bring it back on the same port (connections refused meanwhile).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FAULTS", "StandInVLMServer"]

FAULTS = ("503", "500", "slow", "no_choices", "garbage")


class StandInVLMServer:
    """An OpenAI-compatible endpoint on 127.0.0.1 (``port`` 0: a free one) with a fixed answer and latency."""

    def __init__(self, *, answer: str = "{}", latency_s: float = 0.0, port: int = 0) -> None:
        self.answer = answer
        self.latency_s = latency_s
        self.fault: str | None = None
        self.slow_s = 5.0
        self.requests = 0
        self.open = 0
        self.most_open = 0
        self.connections: set[tuple[str, int]] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def reset_counts(self) -> None:
        with self._lock:
            self.requests, self.most_open, self.connections = 0, self.open, set()

    def start(self) -> StandInVLMServer:
        server = self._server = _Server(("127.0.0.1", self._port), _handler(self))
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="vlm-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the open connections: the next requests are refused."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def reply(self, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        """The status, body and headers for one request (after the latency), by the current fault."""
        with self._lock:
            self.requests += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            fault = self.fault
            time.sleep(self.slow_s if fault == "slow" else self.latency_s)
            if fault == "503":
                return 503, b'{"error": "the server is busy"}', {"Retry-After": "1"}
            if fault == "500":
                return 500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", {}
            if fault == "no_choices":
                return 200, b'{"object": "chat.completion", "choices": []}', {}
            if fault == "garbage":
                return 200, b"\x00\xff\xfe garbage", {}
            message = {"role": "assistant", "content": self.answer}
            answer = {"object": "chat.completion", "model": body.get("model"), "choices": [{"message": message}]}
            return 200, json.dumps(answer).encode(), {}
        finally:
            with self._lock:
                self.open -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up (its deadline): not news
            return
        super().handle_error(request, client_address)


def _handler(stand_in: StandInVLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with stand_in._lock:
                stand_in._sockets.add(self.connection)

        def finish(self) -> None:
            with stand_in._lock:
                stand_in._sockets.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with stand_in._lock:
                stand_in.connections.add(self.client_address)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            status, payload, headers = stand_in.reply(body if isinstance(body, dict) else {})
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if status == 500 else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler
