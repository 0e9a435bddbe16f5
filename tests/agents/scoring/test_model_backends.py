"""The GenS and embedding backends through their real transformers code paths, on tiny random checkpoints.

The tests build the checkpoints and save them to disk; the backends load them with ``from_pretrained``
exactly as they load real weights. Random weights say nothing about relevance, so these tests check
the plumbing: the input layout, token accounting, the calibration, and what reaches the caller.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the model stack is not installed (pip install 'feedwatch[models]')")

from agents.config import EmbeddingSettings, GensSettings, ScorerConfig
from agents.models.random_init import build_random_clip, build_random_qwen2_5_vl
from agents.scoring import Query, create_scorer, resolve_backend
from agents.scoring.embedding import Baseline, EmbeddingScorer
from agents.scoring.gens import GensScorer
from streamer import Frame, ModelError, Window


@pytest.fixture(scope="module")
def qwen_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_qwen2_5_vl(tmp_path_factory.mktemp("gens"))


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip"))


def _window(n: int = 8, new_from: int = 0, size: tuple[int, int] = (126, 224)) -> Window:
    rng = np.random.default_rng(0)
    frames = tuple(
        Frame("cam", i, float(i), 1000.0 + i, rng.integers(0, 255, (*size, 3), dtype=np.uint8)) for i in range(n)
    )
    return Window("cam", frames, new_from=new_from)


def test_gens_loads_and_scores_through_generate(qwen_folder: Path) -> None:
    scorer = GensScorer(GensSettings(model=str(qwen_folder), max_new_tokens=16))
    window = _window(8)  # 224x126 frames: 16:9, as cameras send them
    prompt = scorer.inputs(window, "a person")
    ids = prompt.inputs["input_ids"][0]
    grid = prompt.inputs["video_grid_thw"][0].tolist()
    assert grid == [4, 6, 10]  # 8 frames at 140x84 (16:9 kept within 112x112 pixels): 4 temporal patches of 6x10
    assert int((ids == scorer.model.config.video_token_id).sum()) == 4 * 6 * 10 // 4
    text = scorer.generate(window, "a person")
    assert isinstance(text, str)
    result = scorer.score(window, [Query("p", "a person"), Query("c", "a car")])
    assert result.backend == "gens" and result.semantic
    for values in result.scores.values():
        assert values.shape == (8,)
        assert np.all((values >= 1) & (values <= 5))
    scorer.close()


def test_named_backend_without_weights_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError, match=r"no weights for 'yaolily/GenS-qwen2d5-vl-3b'; looked in"):
        resolve_backend(ScorerConfig(backend="gens"))
    with pytest.raises(ModelError, match="empty-cache"):
        resolve_backend(ScorerConfig(backend="embedding"))


def _cache(root: Path, model_id: str, folder: Path) -> None:
    snap = root / ("models--" + model_id.replace("/", "--")) / "snapshots" / "0123abcd"
    snap.parent.mkdir(parents=True)
    snap.symlink_to(folder, target_is_directory=True)
    (root / ("models--" + model_id.replace("/", "--")) / "refs").mkdir()
    (root / ("models--" + model_id.replace("/", "--")) / "refs" / "main").write_text("0123abcd")


def test_auto_prefers_embedding_from_the_cache_and_skips_gens_without_a_gpu(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qwen_folder: Path,
    clip_folder: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    config = ScorerConfig()
    assert resolve_backend(config)[0] == "activity"
    _cache(cache, config.embedding.model, clip_folder)
    assert resolve_backend(config)[0] == "embedding"
    _cache(cache, config.gens.model, qwen_folder)
    import torch

    with caplog.at_level(logging.INFO):
        backend, _ = resolve_backend(config)
    if torch.cuda.is_available():
        assert backend == "gens"
    else:
        assert backend == "embedding"
        assert "no CUDA GPU" in caplog.text
    scorer = create_scorer(config, "embedding")
    assert isinstance(scorer, EmbeddingScorer)
    scorer.close()


def test_embedding_scores_are_calibrated_and_carry_embeddings(clip_folder: Path) -> None:
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(clip_folder)))
    assert scorer.dim == 16
    texts = scorer.embed_texts(["a person", "a car"])
    assert texts.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    window = _window(12, new_from=2)
    result = scorer.score(window, [Query("p", "a person")])
    assert result.embeddings is not None and result.embeddings.shape == (12, 16)
    assert np.all(result.embeddings[:2] == 0)  # context frames are not embedded twice
    np.testing.assert_allclose(np.linalg.norm(result.embeddings[2:], axis=1), 1.0, atol=1e-5)
    values = result.scores["p"]
    assert values.shape == (12,) and np.all((values >= 1) & (values <= 5))
    scorer.close()


def test_baseline_maps_outliers_high_and_the_usual_low() -> None:
    rng = np.random.default_rng(3)
    base = Baseline(size=100)
    usual = [base.score(0.2 + 0.005 * rng.standard_normal()) for _ in range(100)]
    assert usual[: base.warmup] == [1.0] * base.warmup  # no verdict before the baseline has history
    assert max(usual[base.warmup :]) < 3.0
    assert base.score(0.26) == 5.0  # a frame far above this camera's norm
    # A brighter scene raises every similarity: the baseline follows, the score does not drift up.
    shifted = [base.score(0.3 + 0.005 * rng.standard_normal()) for _ in range(200)]
    assert np.mean(shifted[-50:]) < 2.0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["gens", "embedding"])
async def test_service_runs_a_real_clip_through_each_model_backend(
    backend: str, qwen_folder: Path, clip_folder: Path, tmp_path: Path, media: Path
) -> None:
    from agents import Alert, AlertEvent, Service, validate_config
    from tests.helpers import PERSON_CLIP

    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP)}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {
                "backend": backend,
                "window": 8,
                "stride": 4,
                "gens": {"model": str(qwen_folder), "max_new_tokens": 8},
                "embedding": {"model": str(clip_folder)},
            },
            "memory": {"path": str(tmp_path / "memory")},
        }
    )
    alerts: list[Alert] = []

    async def collect(event: AlertEvent) -> None:
        alerts.append(event.alert)

    report = await Service(config, retry=False, on_alert=collect).run()
    assert report.backend == backend
    camera = report.cameras[0]
    assert camera.status == "ended"
    assert camera.scored == camera.sampled >= 139  # every sampled frame was scored, none skipped
    assert all(a.backend == backend and a.semantic for a in alerts)
    from agents import MomentMemory

    with MomentMemory(tmp_path / "memory") as memory:
        context = memory.search(kind="context", limit=100)
        assert context, "scene changes leave context keyframes"
        assert all(m.thumbnail and Path(m.thumbnail).is_file() for m in context)
        if backend == "embedding":
            # The scorer's embeddings went into the memory: text search finds moments.
            scorer = EmbeddingScorer(EmbeddingSettings(model=str(clip_folder)))
            found = memory.search_similar(scorer.embed_texts(["a person"])[0], k=3)
            assert found and all(-1.0 <= s.similarity <= 1.0 for s in found)
            assert memory.vectors is not None and len(memory.vectors) >= len(context)
        else:
            assert not memory.semantic_search


def test_cascade_sends_only_windows_over_the_gate_to_gens(qwen_folder: Path, clip_folder: Path) -> None:
    from agents.scoring.cascade import CascadeScorer

    def make(gate: float) -> CascadeScorer:
        return CascadeScorer(
            ScorerConfig(
                backend="cascade",
                cascade_gate=gate,
                gens=GensSettings(model=str(qwen_folder), max_new_tokens=8),
                embedding=EmbeddingSettings(model=str(clip_folder)),
            )
        )

    closed = make(5.0)  # nothing a random model says reaches 5 against its own baseline in 8 frames
    result = closed.score(_window(8), [Query("p", "a person")])
    assert closed.passed == 0 and closed.windows == 1
    assert result.backend == "cascade" and float(result.scores["p"].max()) < 5.0
    assert result.embeddings is not None
    open_gate = make(1.0)  # everything passes
    result = open_gate.score(_window(8), [Query("p", "a person")])
    assert open_gate.passed == 1
    assert result.scores["p"].shape == (8,)


def test_gens_batches_queries_into_one_generate(qwen_folder: Path) -> None:
    scorer = GensScorer(GensSettings(model=str(qwen_folder), max_new_tokens=8))
    calls = 0
    generate = scorer.model.generate

    def counting_generate(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return generate(*args, **kwargs)

    scorer.model.generate = counting_generate
    answers = scorer.generate_batch(_window(6), ["a person", "a red car parked in the driveway", "a dog"])
    assert calls == 1 and len(answers) == 3 and all(isinstance(a, str) for a in answers)
    result = scorer.score(_window(6), [Query("a", "a person"), Query("b", "a dog")])
    assert calls == 2 and set(result.scores) == {"a", "b"}


def test_embedding_batches_cameras_into_one_pass(clip_folder: Path) -> None:
    scorer = EmbeddingScorer(EmbeddingSettings(model=str(clip_folder)))
    passes = 0
    embed = scorer.embed_images

    def counting(images: list[np.ndarray]) -> np.ndarray:
        nonlocal passes
        passes += 1
        return embed(images)

    scorer.embed_images = counting  # type: ignore[method-assign]
    windows = [Window(cam, _window(4).frames) for cam in ("a", "b", "c")]
    results = scorer.score_batch([(w, [Query("p", "a person")]) for w in windows])
    assert passes == 1 and [r.window.camera for r in results] == ["a", "b", "c"]
    assert all(r.embeddings is not None and r.embeddings.shape == (4, 16) for r in results)


@pytest.mark.slow
def test_search_cli_by_text_image_and_filters(clip_folder: Path, tmp_path: Path, media: Path) -> None:
    import json

    from tests.helpers import PERSON_CLIP, run_cli

    config = tmp_path / "c.yaml"
    config.write_text(f"scorer:\n  backend: embedding\n  embedding:\n    model: {clip_folder}\n")
    memory = tmp_path / "memory"
    watched = run_cli(
        "watch", str(PERSON_CLIP), "-q", "a person", "--config", str(config), "--memory", str(memory), "--json"
    )
    assert watched.returncode == 0, watched.stderr
    by_filter = run_cli("search", "--memory", str(memory), "--json", "--limit", "50")
    assert by_filter.returncode == 0, by_filter.stderr
    moments = json.loads(by_filter.stdout)
    assert moments and {m["kind"] for m in moments} <= {"alert", "context"}
    by_text = run_cli("search", "a person", "--memory", str(memory), "--config", str(config), "--json")
    assert by_text.returncode == 0, by_text.stderr
    found = json.loads(by_text.stdout)
    assert found and all("similarity" in r for r in found)
    picture = next(m["thumbnail"] for m in moments if m["thumbnail"])
    by_image = run_cli("search", "--image", picture, "--memory", str(memory), "--config", str(config), "--json")
    assert by_image.returncode == 0, by_image.stderr
    best = json.loads(by_image.stdout)[0]
    assert best["thumbnail"] == picture and best["similarity"] == pytest.approx(1.0, abs=1e-3)
    missing = run_cli("search", "--image", str(tmp_path / "none.jpg"), "--memory", str(memory), "--config", str(config))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


@pytest.mark.slow
async def test_videoqa_answers_over_a_real_memory(qwen_folder: Path, tmp_path: Path, media: Path) -> None:
    from agents import Asker, Service, validate_config
    from agents.config import QAConfig
    from agents.memory import MomentMemory
    from agents.qa import create_videoqa
    from tests.helpers import PERSON_CLIP

    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP)}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
        }
    )
    await Service(config, retry=False).run()
    answerer = create_videoqa(QAConfig(backend="transformers", model=str(qwen_folder), max_new_tokens=8))
    assert answerer is not None
    with MomentMemory(tmp_path / "memory", read_only=True) as memory:
        answer = await Asker(memory, answerer=answerer, budget=3).ask("when was a person at the table?")
    assert answer.backend == "transformers" and isinstance(answer.text, str)
    assert 1 <= len(answer.citations) <= 3  # the frame budget
    assert all("a person" in c.queries.values() for c in answer.citations)
    starts = [c.start for c in answer.citations]
    assert starts == sorted(starts)  # shown to the model in time order
    assert answer.timings_ms["answer"] > 0 and set(answer.timings_ms) == {"parse", "retrieve", "select", "answer"}
