"""HTTP plumbing: an ASGI app served by uvicorn inside the caller's event loop, bearer-token checks and a
request-size limit. What the API says lives in the application; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Callable, Iterator, MutableMapping
from types import TracebackType
from typing import Any, cast

import uvicorn

from .. import jsonsafe
from ..errors import ConfigError

__all__ = ["BodyLimit", "HttpServer", "JsonGuard", "ResponseCounter", "is_loopback", "is_wildcard", "token_matches"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def is_wildcard(host: str) -> bool:
    """True for a listening address that means every address of this machine (``0.0.0.0``, ``::``, empty)."""
    return host in ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, before the app reads them."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        await _error(send, 413, f"request body over the {self.max_bytes}-byte limit")


class _TooLarge(Exception):
    pass


class ResponseCounter:
    """ASGI middleware: count responses by status class (``2xx``, ``4xx``, ``5xx``, ...) in :attr:`counts`.

    Put it outermost, so responses the other middleware give (413, 422) count too."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                key = f"{int(message['status']) // 100}xx"
                self.counts[key] = self.counts.get(key, 0) + 1
            await send(message)

        await self.app(scope, receive, counted)


async def _error(send: Any, status: int, detail: object) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class JsonGuard:
    """ASGI middleware: refuse a JSON request body that is too deep, holds NaN or Infinity, or is not valid UTF-8
    (lone surrogates included) before the app parses it (see :mod:`streamer.jsonsafe`), with 422 and a body shaped
    like FastAPI's own validation errors (``{"detail": [{"loc": ["body"], "msg": ..., "type": ...}]}``).

    Bodies with a JSON content type, or none (which FastAPI reads as JSON), are read whole (put
    :class:`BodyLimit` outside this), checked, and handed on unchanged; a body that is not JSON at all is left
    to the app to refuse."""

    def __init__(self, app: Any, max_depth: int = jsonsafe.MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype and not (ctype == b"application/json" or ctype.endswith(b"+json")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                jsonsafe.loads(body, max_depth=self.max_depth)
            except jsonsafe.LimitError as exc:
                await _error(send, 422, [{"type": "json_limit", "loc": ["body"], "msg": str(exc), "input": None}])
                return
            except ValueError:
                pass  # not JSON: the app says so in its own words
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return cast(Message, await receive())

        await self.app(scope, replay, send)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the service owns SIGINT/SIGTERM) and with a ready event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


class HttpServer:
    """Serve an ASGI app with uvicorn in the running event loop; an async context manager.

    The socket is bound on entry, so a port in use or a bad address is a :class:`ConfigError` right away
    (uvicorn itself would exit the process). Leaving stops the server within ``shutdown_s``.
    """

    def __init__(self, app: Any, host: str, port: int, *, shutdown_s: float = 3.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.shutdown_s = shutdown_s
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self._exiting = False
        self._on_stopped: list[Callable[[str], None]] = []

    def on_stopped(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(why)`` if the server stops by itself, before it was asked to."""
        self._on_stopped.append(callback)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._exiting:
            return
        if task.cancelled():
            why = "it was cancelled"
        elif (exc := task.exception()) is not None:
            why = f"{type(exc).__name__}: {exc}"
            log.error("http: the server failed: %s", why, exc_info=exc)
        else:
            why = "it stopped by itself"
        log.error("http: the server on %s:%d is down (%s)", self.host, self.port, why)
        for callback in self._on_stopped:
            callback(why)

    @property
    def bound_port(self) -> int:
        """The port listened on (useful with port 0)."""
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    async def __aenter__(self) -> HttpServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"http: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; set http.port, or "
                "http.enabled: false"
            ) from exc
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http")
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait([self._task, ready], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._task.done():
            self._task.result()
            raise ConfigError(f"http: the server on {self.host}:{self.port} stopped as it started")
        self._task.add_done_callback(self._ended)
        log.info("HTTP API and web page on http://%s:%d/", self.host, self.bound_port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exiting = True
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.shutdown_s)
            except TimeoutError:
                log.error("http: the server did not stop within %.0f s; cancelling it", self.shutdown_s)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._sock is not None:
            self._sock.close()
