"""The OpenAI-compatible VLM backend: the request it sends and how it reads answers.

No OpenAI-compatible VLM server can run here, so the server is a fake (``FakeChatServer``) that records
requests and replies with a canned GenS-style answer; everything on feedwatch's side is real.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from agents.config import OpenAIVLMSettings
from agents.models import FaultKind, ModelFault
from agents.scoring import Query, WindowScores
from agents.scoring.gens import gens_prompt
from agents.scoring.openai_vlm import OpenAIVLMScorer
from streamer import Frame, Window


class FakeChatServer:
    """A stand-in for vLLM/Ollama: records each request, answers with ``reply`` (or ``status``)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.times: list[float] = []
        self.connections: set[tuple[str, int]] = set()
        self.reply: bytes = b""
        self.status = 200
        self.script: list[tuple[int, bytes, dict[str, str]]] = []  # answers to give first, in order
        self.hold: threading.Barrier | None = None
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append((dict(self.headers), body))
                    fake.times.append(time.monotonic())
                    fake.connections.add(self.client_address)
                    status, reply, headers = fake.script.pop(0) if fake.script else (fake.status, fake.reply, {})
                if fake.hold is not None:
                    fake.hold.wait()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(reply)

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
    assert set(body) == {"model", "messages", "temperature", "max_tokens", "mm_processor_kwargs", "media_io_kwargs"}
    assert body["model"] == "gens" and body["temperature"] == 0 and body["max_tokens"] == 128
    # vLLM times a JPEG-sequence video by its media IO fps (the video's metadata); -1 keeps every frame.
    assert body["media_io_kwargs"] == {"video": {"num_frames": -1, "fps": 1.0}}
    assert body["mm_processor_kwargs"] == {"do_sample_frames": False}
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
    scorer.close()


def test_server_errors_are_clear_and_typed(server: FakeChatServer) -> None:
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url))
    cases = [
        (500, b"<html>Internal Server Error</html>", "answered 500", FaultKind.UNAVAILABLE),
        (503, b'{"error": "busy"}', "answered 503", FaultKind.OVERLOADED),
        (429, b'{"error": "slow down"}', "answered 429", FaultKind.OVERLOADED),
        (400, b'{"error": "no videos"}', "answered 400", FaultKind.REJECTED),
        (200, b'{"object": "nothing"}', "without choices", FaultKind.MALFORMED),
        (200, b"not json", "did not answer JSON", FaultKind.MALFORMED),
        (200, b"\x00\xff\xfe", "did not answer JSON", FaultKind.MALFORMED),
    ]
    for status, reply, said, kind in cases:
        server.status, server.reply = status, reply
        with pytest.raises(ModelFault, match=said) as info:
            scorer.score(_window(2), [Query("p", "a person")])
        assert info.value.kind is kind, (status, reply)
    dead = OpenAIVLMScorer(OpenAIVLMSettings(base_url="http://user:hunter2@127.0.0.1:9/v1", timeout_s=2))
    with pytest.raises(ModelFault, match="unreachable") as info:
        dead.score(_window(2), [Query("p", "a person")])
    assert info.value.kind is FaultKind.UNAVAILABLE and "hunter2" not in str(info.value)
    scorer.close()
    dead.close()


def test_a_busy_server_is_retried_after_the_time_it_asks_for(server: FakeChatServer) -> None:
    """Two 503s with Retry-After, then an answer: one call, three requests, spaced as the server asked."""
    server.answer('{"0": 5}')
    server.script = [(503, b"busy", {"Retry-After": "0.2"}), (503, b"busy", {"Retry-After": "0.2"})]
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url, timeout_s=30))
    assert scorer.score(_window(2), [Query("p", "a person")]).scores["p"].tolist() == [5, 1]
    assert len(server.requests) == 3
    gaps = np.diff(server.times)
    assert all(gap >= 0.2 for gap in gaps), gaps  # never sooner than asked (no upper bound: machines are slow)
    scorer.close()


def test_requests_of_a_round_are_in_flight_at_once(server: FakeChatServer) -> None:
    """Eight windows x three queries with max_in_flight 8: the server sees eight requests open together, on
    reused keep-alive connections (no more than eight)."""
    server.answer('{"0": 5}')
    server.hold = threading.Barrier(8, timeout=30)  # each request waits until eight are in the server at once
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url, max_in_flight=8, timeout_s=60))
    jobs = [(_window(2), [Query(f"q{k}", f"thing {k}") for k in range(3)]) for _ in range(8)]
    results = scorer.score_jobs(jobs)
    assert all(isinstance(r, WindowScores) for r in results)
    assert len(server.requests) == 24 and server.hold.broken is False
    assert len(server.connections) <= 8
    scorer.close()


def test_garbage_answers_score_nothing(server: FakeChatServer) -> None:
    server.answer("I am not sure what you mean.")
    scorer = OpenAIVLMScorer(OpenAIVLMSettings(base_url=server.base_url))
    assert scorer.score(_window(3), [Query("p", "x")]).scores["p"].tolist() == [1, 1, 1]
    scorer.close()


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
    qa.client.close()
