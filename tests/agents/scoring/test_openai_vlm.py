"""The OpenAI-compatible VLM backend: the request it sends and how it reads answers.

No OpenAI-compatible VLM server can run here, so the server is a fake (``FakeChatServer``) that records
requests and replies with a canned GenS-style answer; everything on feedwatch's side is real.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from agents.config import OpenAIVLMSettings
from agents.scoring import Query
from agents.scoring.gens import gens_prompt
from agents.scoring.openai_vlm import OpenAIVLMScorer
from streamer import Frame, ModelError, Window


class FakeChatServer:
    """A stand-in for vLLM/Ollama: records each request, answers with ``reply`` (or ``status``)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.reply: bytes = b""
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((dict(self.headers), body))
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(fake.reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, content: str) -> None:
        self.reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    fake = FakeChatServer()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def _window(n: int = 6) -> Window:
    rng = np.random.default_rng(0)
    return Window(
        "cam",
        tuple(
            Frame("cam", i, float(i), 1000.0 + i, rng.integers(0, 255, (252, 448, 3), dtype=np.uint8)) for i in range(n)
        ),
    )


def test_the_request_is_gens_3b_layout_and_answers_map_back_by_frame(server: FakeChatServer) -> None:
    """One video of JPEG frames at 1 fps (vLLM's form), frames within the 3B's pixel budget, the 3B instruction and
    the question; seconds in the answer are frames of the window."""
    server.answer('Sure. {"1-2": 5, "4": 3, "9": 5}')
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url, model="gens", api_key="s3cret"))
    result = scorer.score(_window(), [Query("p", "a person")])
    assert result.scores["p"].tolist() == [1, 5, 5, 1, 3, 1]  # "9" lies outside the window: dropped
    headers, body = server.requests[0]
    assert headers["Authorization"] == "Bearer s3cret"
    assert set(body) == {"model", "messages", "temperature", "max_tokens", "mm_processor_kwargs"}
    assert body["model"] == "gens" and body["temperature"] == 0 and body["max_tokens"] == 128
    assert body["mm_processor_kwargs"] == {"fps": 1.0, "do_sample_frames": False}
    [message] = body["messages"]
    assert message["role"] == "user"
    video, text = message["content"]
    assert video["type"] == "video_url" and text == {"type": "text", "text": gens_prompt("a person")}
    prefix, _, frames = video["video_url"]["url"].partition(",")
    assert prefix == "data:video/jpeg;base64"
    jpegs = frames.split(",")
    assert len(jpegs) == 6
    for jpeg in jpegs:
        with Image.open(io.BytesIO(base64.b64decode(jpeg))) as img:
            assert img.format == "JPEG" and img.size == (140, 84)  # 16:9 kept, sides multiples of 28, <= 112x112


def test_server_errors_are_clear(server: FakeChatServer) -> None:
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url))
    server.status, server.reply = 500, b'{"error": "out of memory"}'
    with pytest.raises(ModelError, match="answered 500"):
        scorer.score(_window(2), [Query("p", "a person")])
    server.status, server.reply = 200, b'{"object": "nothing"}'
    with pytest.raises(ModelError, match="without choices"):
        scorer.score(_window(2), [Query("p", "a person")])
    server.reply = b"not json"
    with pytest.raises(ModelError, match="did not answer JSON"):
        scorer.score(_window(2), [Query("p", "a person")])
    dead = OpenAIVLMScorer(OpenAIVLMSettings(base_url="http://user:hunter2@127.0.0.1:9/v1", timeout_s=2))
    with pytest.raises(ModelError, match="unreachable") as info:
        dead.score(_window(2), [Query("p", "a person")])
    assert "hunter2" not in str(info.value)


def test_garbage_answers_score_nothing(server: FakeChatServer) -> None:
    server.answer("I am not sure what you mean.")
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url))
    assert scorer.score(_window(3), [Query("p", "x")]).scores["p"].tolist() == [1, 1, 1]


def test_openai_videoqa_interleaves_timestamps(server: FakeChatServer) -> None:
    from agents.config import QAConfig
    from agents.qa.answering import OpenAIVideoQA, QAFrame

    server.answer("In frame 2 someone stands at the table.")
    qa = OpenAIVideoQA(QAConfig(backend="openai", base_url=server.base_url, model="qwen-vl", image_side=128))
    rng = np.random.default_rng(1)
    frames = [QAFrame("lobby", 1_700_000_000.0 + 60 * i, rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), "memory")
              for i in range(3)]  # fmt: skip
    assert qa.answer("what is on the table?", frames) == "In frame 2 someone stands at the table."
    content = server.requests[0][1]["messages"][0]["content"]
    labels = [c["text"] for c in content if c["type"] == "text"][:3]
    assert [label.split(",")[0] for label in labels] == ["Frame 1", "Frame 2", "Frame 3"]
    assert all("camera lobby" in label for label in labels)
    assert sum(c["type"] == "image_url" for c in content) == 3
    assert content[-1]["text"].endswith("Question: what is on the table?")
