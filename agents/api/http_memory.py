"""HTTP routes for what was remembered: moments, questions, and the frames answers cite.

- ``GET /api/moments`` (search by text, camera, query, time), ``GET /api/moments/{id}``, its ``thumbnail.jpg``.
- ``POST /api/ask``: an answer with its citations; ``GET /api/asked/{name}`` the buffered frames it cited.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from streamer.errors import FeedwatchError
from streamer.redact import redact_text

from ..qa.asker import MAX_QUESTION
from ..qa.retrieval import question_words, shared_words
from ..service.port import ServicePort
from .http_live import MAX_OFFSET, NOT_FOUND, ErrorOut, invalid, jpeg_file, moment_view, stored_jpeg

__all__ = ["NOT_ONLY_SPACE", "memory_routes"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.jpg$")


# Something besides whitespace, as Python's str.strip (which the asker uses) sees whitespace, spelt out: regex
# engines disagree on what \s means (JSON Schema's leaves out U+0085 and U+001C-U+001F, Python's does not).
NOT_ONLY_SPACE = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class AskIn(BaseModel):
    model_config = ConfigDict(regex_engine="python-re")
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION, pattern=NOT_ONLY_SPACE, description="The question, in plain language."
    )
    limit: int = Field(default=5, ge=1, le=50, description="Moments or frames an extractive answer cites at most.")
    alert: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:-]{1,200}$",
        description="Ask about this alert alone: the answer sees frames of its clip at qa.clip_fps.",
    )


def memory_routes(port: ServicePort) -> APIRouter:
    api = APIRouter()
    root = port.config.memory.path

    @api.get("/moments")
    async def moments(
        q: Annotated[str | None, Query(max_length=500, description="Text to search for.")] = None,
        camera: Annotated[str | None, Query(max_length=200, description="A camera id.")] = None,
        query: Annotated[str | None, Query(max_length=200, description="A standing query id.")] = None,
        since: Annotated[float | None, Query(allow_inf_nan=False, description="Unix seconds.")] = None,
        until: Annotated[float | None, Query(allow_inf_nan=False, description="Unix seconds.")] = None,
        kind: Annotated[str | None, Query(pattern="^(alert|context)$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip (paging).")] = 0,
    ) -> dict[str, Any]:
        """Remembered moments, newest first; with ``q``, by similarity (embedding model) or shared words."""
        memory = port.memory
        filters: dict[str, Any] = {"camera": camera, "since": since, "until": until}
        text = q.strip() if q else ""
        vector = await port.embed_text(text) if text and memory.semantic_search else None  # under the limiter

        def run() -> tuple[str, list[dict[str, Any]], bool]:
            if vector is not None:
                hits = memory.search_similar(vector, k=offset + limit + 1, query_id=query, **filters)
                page = hits[offset : offset + limit + 1]
                items = [moment_view(h.moment, {"similarity": round(h.similarity, 4)}) for h in page[:limit]]
                return "embedding", items, len(page) > limit
            if text:
                words = question_words(text)
                found = [
                    m for m in memory.search(query_id=query, kind=kind, limit=2000, **filters) if shared_words(words, m)
                ]
                page_m = found[offset : offset + limit + 1]
                return "words", [moment_view(m) for m in page_m[:limit]], len(page_m) > limit
            listed = memory.search(query_id=query, kind=kind, limit=limit + 1, offset=offset, **filters)
            return "filters", [moment_view(m) for m in listed[:limit]], len(listed) > limit

        how, items, more = await asyncio.to_thread(run)
        return {"search": how, "items": items, "next_offset": offset + limit if more else None}

    @api.get("/moments/{moment_id}", responses=NOT_FOUND)
    async def moment(moment_id: str) -> dict[str, Any]:
        found = await asyncio.to_thread(port.memory.get, moment_id)
        if found is None:
            raise HTTPException(404, f"no moment {moment_id!r}")
        return moment_view(found)

    @api.get("/moments/{moment_id}/thumbnail.jpg", response_class=FileResponse, responses=NOT_FOUND)
    async def moment_thumbnail(moment_id: str) -> Response:
        found = await asyncio.to_thread(port.memory.get, moment_id)
        if found is None:
            raise HTTPException(404, f"no moment {moment_id!r}")
        return await stored_jpeg(found.thumbnail, root, port.memory)

    @api.post(
        "/ask",
        responses={503: {"model": ErrorOut, "description": "The answering model failed."}, **NOT_FOUND},
    )
    async def ask(body: Annotated[AskIn, Body()]) -> dict[str, Any]:
        """Answer a question over the memory and the rolling buffers; the answer cites what it used."""
        try:
            answer = await port.ask(body.question, limit=body.limit, alert=body.alert)
        except ValueError as exc:
            if body.alert is not None and str(exc).startswith("no alert"):
                raise HTTPException(404, str(exc)) from None
            raise invalid(("body", "question"), str(exc)) from None
        except FeedwatchError as exc:
            raise HTTPException(503, redact_text(str(exc))) from None
        out = answer.to_dict()
        for c in out["citations"]:  # type: ignore[attr-defined]
            path = c.pop("thumbnail")
            if c["source"] == "clip" and path and Path(path).parent.name == "asked":
                c["thumbnail_url"] = f"/api/asked/{Path(path).name}"
            elif c["moment_id"]:
                c["thumbnail_url"] = f"/api/moments/{c['moment_id']}/thumbnail.jpg" if path else None
            else:
                c["thumbnail_url"] = f"/api/asked/{Path(path).name}" if path else None
        return out

    @api.get("/asked/{name}", response_class=FileResponse, responses=NOT_FOUND)
    async def asked_frame(name: str) -> FileResponse:
        if not _NAME.match(name):
            raise HTTPException(404, "no such frame")
        return jpeg_file(str(root / "asked" / name), root)

    return api
