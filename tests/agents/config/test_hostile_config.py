"""Config files that used to crash the loader or pass validation and crash later: each is now a ConfigError that
names the line, byte or key path. And a fuzzer: whatever bytes a config file holds, loading it gives a config or a
ConfigError, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.config import load_config, read_config_file, validate_config
from streamer import ConfigError

CAMERA = "cameras: [{id: cam, url: /tmp/clip.mp4}]\n"
BOMB = (
    "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
    + "".join(f"{n}: &{n} [{','.join(['*' + p] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True))
).encode()


def _load(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    load_config(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        # Not UTF-8 (Latin-1 "é"): used to be a UnicodeDecodeError traceback.
        (b"cameras:\n  - id: caf\xe9\n", "is not UTF-8: byte 0xe9 at line 2, column 12; save the file as UTF-8"),
        # A self-referencing alias: used to be a RecursionError.
        (CAMERA.encode() + b"queries: &q [*q]\n", "queries.0: a YAML alias refers to itself"),
        (b"mqtt: &m {x: *m}\n", "mqtt.x: a YAML alias refers to itself"),
        # 10,000 nested lists: used to be a RecursionError in the YAML parser.
        (b"cameras: " + b"[" * 10000 + b"]" * 10000 + b"\n", "nested too deeply"),
        (b"cameras: " + b"[" * 40 + b"]" * 40 + b"\n", "cameras.0.0.0"),  # deep but parsable: the key path
        # An alias bomb: six lines that expand to a million values.
        (BOMB, "more than 100000 values"),
        # Lone surrogates and NULs are not text.
        (CAMERA.encode() + b'queries: [{id: q, text: "a \\ud800 door"}]\n', "queries.0.text: holds a lone surrogate"),
        # ... a key among them too: the message shows it escaped (it used to hold the surrogate, and not print).
        (b'mqtt: {"\\ud800": 1}\n', "mqtt.\\ud800: holds a lone surrogate"),
        (CAMERA.encode() + b'mqtt: {password: "a\\0b"}\n', "mqtt.password: holds a NUL"),
        # Infinite and absurd sizes: used to pass validate and crash run.
        (CAMERA.encode() + b"memory: {max_mb: .inf}\n", "memory.max_mb: Input should be a finite number"),
        (CAMERA.encode() + b"buffer: {max_mb: .inf}\n", "buffer.max_mb: Input should be a finite number"),
        (CAMERA.encode() + b"buffer: {max_mb: 1e12}\n", "buffer.max_mb: Input should be less than or equal to 65536"),
        (CAMERA.encode() + b"buffer: {seconds: .nan}\n", "buffer.seconds: Input should be a finite number"),
        (CAMERA.encode() + b"queries: [{id: q, text: t, threshold: .nan}]\n", "queries.0.threshold: Input should"),
        (CAMERA.encode() + b"memory: {retention_days: 1e300}\n", "memory.retention_days: Input should be less"),
        # A malformed IPv6 URL: used to be a ValueError from urllib in watch and run.
        (b"cameras: [{id: cam, url: 'http://[::1/cam'}]\n", "cameras.0.url: Value error, not a valid URL"),
        (b'cameras: [{id: cam, url: "rtsp://h/x\\0"}]\n', "cameras.0.url: holds a NUL character"),
        (b'cameras: [{id: cam, url: "rtsp://h/x\\ny"}]\n', "cameras.0.url: Value error, the source holds a control"),
        # Topics feedwatch could not publish under.
        (b'mqtt: {prefix: "fw/\\0"}\n', "mqtt.prefix: holds a NUL"),
        (
            b"mqtt: {prefix: $SYS/fw}\n",
            "mqtt.prefix: Value error, not a topic feedwatch can publish under: topics start",
        ),
        (b'mqtt: {reply_prefix: "fw/#"}\n', "mqtt.reply_prefix: Value error, not a topic feedwatch can publish"),
    ],
)
def test_each_bad_file_is_a_config_error_with_its_place(tmp_path: Path, content: bytes, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, content)
    assert words in str(info.value)


def test_what_is_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "common: &cam {fps: 2, realtime: true}\n"  # aliases used the usual way are fine
        "cameras:\n  - {<<: *cam, id: a, url: 'rtsp://u:p@[::1]:8554/s'}\n  - {<<: *cam, id: b, url: /tmp/b.mp4}\n"
        "buffer: {max_mb: 65536}\nmemory: {max_mb: 16777216, retention_days: 36500}\nmqtt: {reply_prefix: fw/answers}\n"
    )
    data = read_config_file(path)
    del data["common"]
    config = validate_config(data)
    assert [c.fps for c in config.cameras] == [2, 2] and config.mqtt.replies_under == "fw/answers"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.lists(
        st.sampled_from(
            [
                "cameras:",
                "  - id: a",
                "    url: ",
                "[",
                "]",
                "{",
                "}",
                "&a",
                "*a",
                "!!binary",
                "!!python/object",
                ".inf",
                "-.inf",
                ".nan",
                "1e999",
                "\\ud800",
                '"\\ud800"',
                "\x00",
                "\t",
                "<<: *a",
                "? ",
                "- ",
                ":",
                "mqtt:",
                "  prefix: ",
                "buffer: {max_mb: ",
                "${HOME}",
                "${X:-y}",
                "http://[::1",
                "%YAML 1.1",
                "---",
                "\n",
            ]
        ),
        max_size=40,
    ).map(lambda parts: " ".join(parts).encode("utf-8", "surrogatepass"))
)
def test_fuzz_any_file_gives_a_config_or_a_config_error(tmp_path: Path, content: bytes) -> None:
    try:
        _load(tmp_path, content)
    except ConfigError as exc:
        str(exc).encode("utf-8")  # the message itself can be printed
