from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agents.config import FeedwatchConfig, default_memory_dir, load_config, read_config_file, validate_config
from streamer import ConfigError
from tests.helpers import ROOT


def test_default_config_is_valid() -> None:
    config = load_config(ROOT / "configs" / "default.yaml")
    assert [c.id for c in config.cameras] == ["lobby"]
    assert {q.id for q in config.queries} == {"person", "table-item"}
    assert config.scorer.backend == "auto"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, or inside list[...], dict[..., ...], X | None, Annotated[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_every_field_is_described() -> None:
    def walk(model: type[BaseModel], path: str) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{path}{name}")
            for inner in _models_in(field.annotation):
                missing += walk(inner, f"{path}{name}.")
        return missing

    assert walk(FeedwatchConfig, "") == []
    # The walk reaches models inside lists and optionals: the cameras' and queries' fields, a camera's hook.
    assert _models_in(FeedwatchConfig.model_fields["cameras"].annotation)
    from agents.config import CameraConfig

    assert _models_in(CameraConfig.model_fields["on_offline"].annotation)


def test_errors_have_key_paths_and_unknown_keys_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "cameras:\n  - id: cam\n    url: x\n    fpz: 2\nscorer:\n  backend: magic\nqueries:\n  - id: q\n    text: hi\n"
        "    threshold: 7\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    msg = str(info.value)
    assert "cameras.0.fpz: Extra inputs are not permitted" in msg
    assert "scorer.backend:" in msg and "'activity'" in msg and "'gens'" in msg  # lists the known backends
    assert "queries.0.threshold:" in msg
    assert "3 error(s)" in msg


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="unknown camera"):
        validate_config({"cameras": [{"id": "a", "url": "x"}], "queries": [{"id": "q", "text": "t", "cameras": ["b"]}]})
    with pytest.raises(ConfigError, match="duplicate id"):
        validate_config({"cameras": [{"id": "a", "url": "x"}, {"id": "a", "url": "y"}]})
    with pytest.raises(ConfigError, match="stride"):
        validate_config({"scorer": {"window": 4, "stride": 8}})


def test_environment_placeholders(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  password: ${MQTT_PW}\n  username: ${MQTT_USER:-feedwatch}\n  host: ${MQTT_HOST:-}\n")
    data = read_config_file(cfg, env={"MQTT_PW": "s3cret"})
    assert data["mqtt"] == {"password": "s3cret", "username": "feedwatch", "host": ""}
    with pytest.raises(ConfigError, match=r"mqtt\.password: environment variable MQTT_PW is not set"):
        read_config_file(cfg, env={})


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("cameras: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config_file(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_config_file(listy)


def test_memory_defaults_to_xdg_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_memory_dir() == tmp_path / "feedwatch" / "memory"
    assert validate_config({}).memory.path == tmp_path / "feedwatch" / "memory"
