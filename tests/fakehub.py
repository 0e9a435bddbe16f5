"""FakeHub: a stand-in for the Hugging Face hub, which cannot be reached from here.

It serves model folders a test has built, through the HTTP endpoints ``huggingface_hub`` calls for a snapshot:
the repo info, the recursive file tree, and ``HEAD``/``GET`` of each file under ``resolve/`` (with range requests,
so resumed downloads are real). It can cut a file short once, as a dropped connection would.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["FakeHub"]

_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class _Repo:
    folder: Path
    sha: str
    files: dict[str, bytes] = field(default_factory=dict)


class FakeHub:
    """Serve ``repos`` (hub id -> folder) on a free port; ``url`` is the value for ``HF_ENDPOINT``."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos: dict[str, _Repo] = {}
        for repo_id, folder in repos.items():
            files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
            sha = hashlib.sha1(repo_id.encode() + b"".join(files.values())).hexdigest()
            self.repos[repo_id] = _Repo(folder, sha, files)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.cut_once: dict[str, int] = {}  # file name -> bytes sent before the connection drops, the first time
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub._handle(self, body=True)

            def do_HEAD(self) -> None:
                hub._handle(self, body=False)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _json(self, handler: BaseHTTPRequestHandler, data: Any, body: bool) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        if body:
            handler.wfile.write(raw)

    def _handle(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        self.requests.append((handler.command, path, handler.headers.get("Range")))
        if m := _TREE.match(path):
            repo = self.repos.get(m["repo"])
            if repo is None:
                return self._missing(handler, "repo")
            entries = [{"type": "file", "oid": _blob_id(data), "size": len(data), "path": name}
                       for name, data in repo.files.items()]  # fmt: skip
            return self._json(handler, entries, body)
        if m := _INFO.match(path):
            repo = self.repos.get(m["repo"])
            if repo is None:
                return self._missing(handler, "repo")
            siblings = [{"rfilename": name} for name in repo.files]
            return self._json(handler, {"id": m["repo"], "sha": repo.sha, "private": False, "siblings": siblings}, body)
        if m := _RESOLVE.match(path):
            repo = self.repos.get(m["repo"])
            if repo is None:
                return self._missing(handler, "repo")
            data = repo.files.get(m["path"])
            if data is None:
                return self._missing(handler, "entry")
            return self._file(handler, repo, m["path"], data, body)
        self._missing(handler, "repo")

    def _file(self, handler: BaseHTTPRequestHandler, repo: _Repo, name: str, data: bytes, body: bool) -> None:
        start = 0
        wanted = handler.headers.get("Range")
        if wanted and (m := re.match(r"bytes=(\d+)-", wanted)):
            start = int(m[1])
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", repo.sha)
        handler.send_header("ETag", f'"{_blob_id(data)}"')
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if not body:
            return
        if name in self.cut_once and not start:
            handler.wfile.write(data[: self.cut_once.pop(name)])  # then the connection drops
            handler.close_connection = True
            return
        handler.wfile.write(data[start:])

    def _missing(self, handler: BaseHTTPRequestHandler, what: str) -> None:
        raw = json.dumps({"error": f"{what} not found"}).encode()
        handler.send_response(404)
        handler.send_header("X-Error-Code", "RepoNotFound" if what == "repo" else "EntryNotFound")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(raw)
