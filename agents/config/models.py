"""The configuration's shape: strict pydantic models, every field described, cross-field rules as validators."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from streamer.regions import Polygon as RegionPolygon
from streamer.transport.topics import TopicError, check_topic
from streamer.urls import check_source_url

__all__ = [
    "BACKEND_NAMES",
    "ActivitySettings",
    "AlertSettings",
    "BufferSettings",
    "CameraConfig",
    "EmbeddingSettings",
    "FeedwatchConfig",
    "GateSettings",
    "GensSettings",
    "HttpConfig",
    "MemorySettings",
    "MqttConfig",
    "OfflineHook",
    "OpenAIVLMSettings",
    "Polygon",
    "QAConfig",
    "QueryConfig",
    "ScorerConfig",
    "ScorerName",
    "check_query_zones",
    "default_memory_dir",
    "zone_problem",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Identifier = Annotated[str, Field(pattern=_ID, description="Letters, digits, '-' and '_', at most 64 characters.")]
Score = Annotated[float, Field(ge=1.0, le=5.0)]
# The scoring backends, named once: the registry maps each to its class, the CLI offers them as choices.
ScorerName = Literal["activity", "embedding", "gens", "cascade", "openai"]
BACKEND_NAMES: tuple[str, ...] = get_args(ScorerName)


class _Strict(BaseModel):
    # Numbers must be finite: an infinite size or a NaN threshold passes every bound check and breaks later.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


def default_memory_dir() -> Path:
    """``$XDG_DATA_HOME/feedwatch/memory`` (``~/.local/share/feedwatch/memory`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "feedwatch" / "memory"


class OfflineHook(_Strict):
    """A recovery command for a camera that stays away: run once it has been away ``after_s``, at most once per
    ``cooldown_s``, with the camera in its environment (FEEDWATCH_CAMERA, FEEDWATCH_CAMERA_SOURCE with credentials
    masked, FEEDWATCH_AWAY_S, FEEDWATCH_OUTAGE_CAUSE); its output goes to the log."""

    after_s: float = Field(default=120.0, gt=0, le=86400, description="Seconds away before the command runs.")
    command: list[str] = Field(
        min_length=1,
        description="The command and its arguments, run directly (not by a shell): ['/usr/local/bin/poe-cycle', '3'].",
    )
    cooldown_s: float = Field(default=600.0, ge=0, le=7 * 86400, description="Seconds before it may run again.")
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds the command may run before it is killed."
    )


Fraction01 = Annotated[float, Field(ge=0.0, le=1.0, strict=True)]
Polygon = Annotated[
    list[tuple[Fraction01, Fraction01]],
    Field(
        min_length=3,
        max_length=64,
        description="[[x, y], ...] with x and y fractions (0-1) of the frame's width and height, so they survive a "
        "resolution change; [0, 0] is the top left.",
    ),
]
ActiveWindow = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        description="'HH:MM-HH:MM' (24-hour); one that ends before it starts runs past midnight, and one that ends "
        "where it starts is the whole day.",
    ),
]


class CameraConfig(_Strict):
    """One camera: where its stream is and how to sample it."""

    id: Identifier = Field(description="Camera id used in topics, alerts and memory ('all' is reserved).")
    url: str = Field(
        min_length=1,
        max_length=4096,
        description="Stream URL (rtsp://, http(s)://, anything FFmpeg opens) or a local file path. "
        "Credentials may be embedded; they are never logged.",
    )
    fps: float = Field(default=1.0, gt=0, le=30, description="Frames sampled per second of stream time.")
    keyframes_only: bool = Field(
        default=False,
        description="Decode key frames only: much cheaper, sampling is then at most the GOP rate.",
    )
    rtsp_transport: Literal["tcp", "udp"] | None = Field(
        default=None, description="RTSP transport; FFmpeg's default (UDP, then TCP) when unset."
    )
    realtime: bool = Field(default=False, description="Pace a file at its own speed, as if it were a live camera.")
    loop: bool = Field(default=False, description="Replay a file from the start when it ends.")
    open_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds to wait for a stream to open the first time; reconnects start with 3 s and grow to this "
        "only if the camera is slow to answer.",
    )
    stall_s: float = Field(
        default=2.0,
        ge=0.5,
        le=300,
        description="A live camera that delivers no frame for this long (or for four of its frame intervals, if "
        "longer) is stalled, and its session is dropped and reopened at once.",
    )
    read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="The longest a read ever waits for data, even for the slowest camera (four frame intervals are "
        "capped here); a live camera is given up on after its stall limit, usually much sooner.",
    )
    on_offline: OfflineHook | None = Field(
        default=None,
        description="A command to run when the camera has been away this long (reboot it, power-cycle its PoE port).",
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        description="Privacy masks: polygons blacked out on every decoded frame before anything sees it (scoring, "
        "buffer, snapshots, thumbnails, asked frames, the page, clips).",
    )
    zones: dict[Identifier, Polygon] = Field(
        default_factory=dict,
        description="Named zones (polygons) a query can be limited to with queries[].zones.",
    )

    @field_validator("url")
    @classmethod
    def _parsable(cls, url: str) -> str:
        return check_source_url(url)

    @field_validator("id")
    @classmethod
    def _not_all(cls, camera: str) -> str:
        if camera == "all":
            raise ValueError("'all' is reserved (the MQTT topics for every camera); name the camera otherwise")
        return camera

    def mask_polygons(self) -> tuple[RegionPolygon, ...]:
        """The privacy masks, as the pixel code takes them."""
        return tuple(tuple(polygon) for polygon in self.masks)

    def zone_polygon(self, zone: str) -> RegionPolygon:
        return tuple(self.zones[zone])


class QueryConfig(_Strict):
    """A standing question watched on every frame."""

    id: Identifier = Field(description="Query id used in topics and alerts.")
    text: str = Field(min_length=1, max_length=500, description="The question in plain language.")
    cameras: list[Identifier] = Field(
        default_factory=list, description="Camera ids this query applies to; empty means all cameras."
    )
    threshold: Score = Field(default=3.0, description="Relevance (1-5, GenS's scale) at which an alert opens.")
    zones: list[Identifier] = Field(
        default_factory=list,
        description="Zones (of cameras[].zones) the query looks at: each is scored on its own crop, the rest of the "
        "crop blacked out; empty means the whole frame.",
    )
    armed: StrictBool = Field(default=True, description="Whether the query is watched; disarmed, it costs no scoring.")
    disarmed: list[Identifier] = Field(
        default_factory=list, description="Cameras on which the query is disarmed while it stays armed on the others."
    )
    active: list[ActiveWindow] = Field(
        default_factory=list,
        description="Times of day the query is watched, like '22:00-06:00' (in the config's timezone); empty "
        "means always.",
    )


class ActivitySettings(_Strict):
    """The model-free activity scorer: departure from the camera's learned background."""

    pixel_threshold: float = Field(
        default=0.2, gt=0, le=10, description="Log-brightness change at which a pixel counts as changed."
    )
    min_fraction: float = Field(default=0.01, gt=0, lt=1, description="Changed fraction scored 1 (nothing).")
    max_fraction: float = Field(default=0.05, gt=0, le=1, description="Changed fraction scored 5 (certain).")
    learning_rate: float = Field(
        default=0.1, gt=0, le=1, description="Per-frame background update rate for unchanged pixels."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ActivitySettings:
        if self.min_fraction >= self.max_fraction:
            raise ValueError("min_fraction must be below max_fraction")
        return self


# GenS-3B was trained on low-resolution frames: 112x112 pixels (aspect kept, sides multiples of 28).
GENS_FRAME_PIXELS = 112 * 112


class GensSettings(_Strict):
    """The GenS frame-sampler backend (yaolily/GenS-qwen2d5-vl-3b)."""

    model: str = Field(
        default="yaolily/GenS-qwen2d5-vl-3b",
        description="Hugging Face model id (looked up in the local cache) or a local folder.",
    )
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cuda', 'cuda:1' or 'cpu'.")
    max_new_tokens: int = Field(default=128, ge=8, le=1024, description="Cap on generated tokens (published: 128).")
    max_frame_pixels: int = Field(
        default=GENS_FRAME_PIXELS,
        ge=28 * 28,
        le=1280 * 28 * 28,
        description="Pixel budget of each frame GenS sees (published: 112x112); aspect kept, sides multiples of 28.",
    )
    attention: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        default="auto", description="Attention kernel: 'auto' is flash-attention 2 on CUDA when installed, else SDPA."
    )


class EmbeddingSettings(_Strict):
    """The CLIP/SigLIP embedding backend."""

    model: str = Field(
        default="openai/clip-vit-base-patch32",
        description="Hugging Face model id (looked up in the local cache) or a local folder.",
    )
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cuda' or 'cpu'.")
    runtime: Literal["torch", "onnx"] = Field(
        default="torch",
        description="What runs the image tower on the CPU: 'torch', or 'onnx' (ONNX Runtime, exported once from "
        "the same checkpoint, fp32; 1.3x to 2.2x faster than torch on the 2-core machines measured; needs "
        "'feedwatch[onnx]'). On a GPU it is torch.",
    )


class OpenAIVLMSettings(_Strict):
    """GenS-3B served by an OpenAI-compatible chat-completions server that takes video (vLLM)."""

    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="The server's API root (vLLM).")
    model: str = Field(default="yaolily/GenS-qwen2d5-vl-3b", description="Model name the server knows.")
    api_key: str | None = Field(default=None, description="Bearer token; use a ${ENV} placeholder.")
    max_new_tokens: int = Field(default=128, ge=8, le=2048, description="Cap on generated tokens (published: 128).")
    max_frame_pixels: int = Field(
        default=GENS_FRAME_PIXELS,
        ge=28 * 28,
        le=1280 * 28 * 28,
        description="Pixel budget of each frame sent (published: 112x112); aspect kept, sides multiples of 28.",
    )
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Deadline of one request, retries of a refused or busy server included.",
    )
    max_in_flight: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Requests sent at once, across cameras and queries, on as many keep-alive connections; a vLLM "
        "server batches them. 1 sends one request after another.",
    )


class GateSettings(_Strict):
    """The change gate: model backends score a frame only when the scene changed since the last frame they saw."""

    enabled: bool = Field(
        default=True,
        description="Hold frames that show nothing new and carry the last scores forward instead of running the "
        "model (embedding, GenS, cascade, openai; the activity scorer is this measure already).",
    )
    min_change: float = Field(
        default=0.004,
        gt=0,
        lt=1,
        description="Fraction of pixels (at about 112 px on the long side) that must have changed since the last "
        "frame the model saw for a frame to reach it.",
    )
    pixel_threshold: float = Field(
        default=0.2, gt=0, le=10, description="Log-brightness change at which a pixel counts as changed."
    )
    refresh_s: float = Field(
        default=10.0, gt=0, le=3600, description="A scene held this long (stream seconds) is scored again anyway."
    )
    decay_per_s: float = Field(
        default=0.98,
        gt=0,
        le=1,
        description="Carried scores fade towards 1 by this factor per second held, so an alert still ends when a "
        "change too slow for the gate leaves the scene.",
    )
    burst_fps: float = Field(
        default=0.0,
        ge=0,
        le=30,
        description="Frame-by-frame backends (embedding): sample at this rate while the gate sees motion, then "
        "return to the camera's fps. 0 is off. Windowed backends (GenS) always keep the camera's rate.",
    )
    burst_s: float = Field(default=5.0, gt=0, le=600, description="Seconds a burst lasts after the last motion.")


class ScorerConfig(_Strict):
    """Which backend scores windows against the standing queries, and how windows are cut."""

    backend: Literal["auto", ScorerName] = Field(
        default="auto",
        description="'auto' picks GenS (weights present and a GPU), else embedding (weights present), "
        "else activity. 'cascade' screens with the embedding model and sends windows that stand out to GenS; "
        "'openai' sends windows to GenS-3B behind an OpenAI-compatible server (vLLM). "
        "Naming a backend whose weights are missing is an error.",
    )
    cascade_gate: float = Field(
        default=2.5, ge=1.0, le=5.0, description="Cascade: embedding score (1-5) a window needs to reach GenS."
    )
    window: int = Field(default=16, ge=1, le=256, description="Frames per scored window.")
    stride: int = Field(default=8, ge=1, le=256, description="New frames between two windows.")
    activity: ActivitySettings = Field(default_factory=ActivitySettings, description="Activity scorer settings.")
    gens: GensSettings = Field(default_factory=GensSettings, description="GenS backend settings.")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description="Embedding settings.")
    openai: OpenAIVLMSettings = Field(default_factory=OpenAIVLMSettings, description="Remote VLM settings.")
    gate: GateSettings = Field(default_factory=GateSettings, description="The change gate in front of the models.")
    fallback: Literal["none", "activity"] = Field(
        default="none",
        description="What scores while the model is unavailable (a server down, a GPU out of memory): 'none' leaves "
        "those windows unscored (counted, and open alerts stay open); 'activity' lets the model-free activity "
        "scorer watch meanwhile, and every alert it raises says semantic: false.",
    )
    outage_end_s: float = Field(
        default=120.0,
        gt=0,
        le=86400,
        description="Seconds the model may be unavailable before the alerts open on it end, with reason "
        "'scorer_unavailable' (shorter outages leave them open).",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> ScorerConfig:
        if self.stride > self.window:
            raise ValueError(f"stride ({self.stride}) must not exceed window ({self.window})")
        return self


class AlertSettings(_Strict):
    """How per-frame scores become alerts."""

    hysteresis: float = Field(
        default=1.0,
        ge=0,
        le=4,
        description="An open alert stays open while the score is >= threshold - hysteresis.",
    )
    end_after_s: float = Field(
        default=2.0, ge=0, le=3600, description="Seconds below the stay-open level before an alert ends."
    )
    cooldown_s: float = Field(
        default=1.0, ge=0, le=86400, description="Seconds after an alert ends before the next may open."
    )
    update_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="At most one 'update' event per this interval."
    )

    feedback_similarity: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="With an embedding backend, a new alert whose peak frame is at least this similar (cosine) to "
        "one users marked wrong, and more similar to it than to any marked right, is held back.",
    )


class BufferSettings(_Strict):
    """The rolling frame buffer of each camera."""

    seconds: float = Field(default=300.0, gt=0, le=86400, description="Stream time kept per camera (at most a day).")
    max_mb: float = Field(default=256.0, gt=0, le=65536, description="Memory cap per camera, MiB (at most 64 GiB).")


def postgres_url(url: str | None) -> str | None:
    """A PostgreSQL URL as given, None for none; :class:`ValueError` for anything else."""
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:port/database)")
    return url or None


class MemorySettings(_Strict):
    """Where moments are remembered and for how long."""

    path: Path = Field(default_factory=default_memory_dir, description="Memory folder (SQLite, thumbnails).")
    url: str | None = Field(
        default=None,
        description=(
            "A PostgreSQL database with pgvector to remember in instead of the folder's SQLite and FAISS "
            "(postgresql://user:password@host/db; a fleet of nodes shares one). Snapshots and clips are still "
            "written under path."
        ),
    )
    retention_days: float = Field(
        default=30.0, gt=0, le=36500, description="Moments older than this are evicted (at most a century)."
    )
    max_mb: float = Field(
        default=2048.0,
        gt=0,
        le=2**24,
        description="Total size cap of the memory, MiB (at most 16 TiB); oldest go first.",
    )

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        return postgres_url(url)


class ClipSettings(_Strict):
    """Event clips: each camera's compressed stream kept in memory, remuxed into an MP4 around every alert."""

    enabled: bool = Field(default=True, description="Keep packets and write a clip for every alert.")
    pre_s: float = Field(default=5.0, ge=0, le=300, description="Seconds of video before an alert's start.")
    post_s: float = Field(default=5.0, ge=0, le=300, description="Seconds of video after an alert's end.")
    max_s: float = Field(
        default=120.0, gt=0, le=3600, description="Longest clip, seconds; a longer alert's clip is cut here."
    )
    keep_s: float = Field(
        default=180.0,
        gt=0,
        le=3600,
        description="Seconds of packets kept per camera: pre_s plus the longest alert you expect to clip whole.",
    )
    keep_mb: float = Field(
        default=96.0, gt=0, le=65536, description="Memory cap of the kept packets per camera, MiB (oldest go first)."
    )

    @model_validator(mode="after")
    def _fits(self) -> ClipSettings:
        if self.keep_s < self.pre_s + self.post_s:
            raise ValueError(f"keep_s ({self.keep_s:g}) must be at least pre_s + post_s ({self.pre_s + self.post_s:g})")
        return self


class MqttConfig(_Strict):
    """The MQTT broker alerts and state are published to."""

    enabled: bool = Field(default=False, description="Publish over MQTT.")
    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    prefix: str = Field(
        default="feedwatch", max_length=200, pattern=r"^[^#+\s]+$", description="Topic prefix (no wildcards)."
    )
    client_id: str | None = Field(default=None, description="MQTT client id; random when unset.")
    username: str | None = Field(default=None, description="User name; use ${ENV} placeholders for secrets.")
    password: str | None = Field(default=None, description="Password; use ${ENV} placeholders for secrets.")
    qos: Literal[0, 1, 2] = Field(default=1, description="QoS of event messages.")
    keepalive_s: int = Field(
        default=30, ge=5, le=3600, description="MQTT keepalive; the broker sends the last will after 1.5x."
    )
    tls_ca: Path | None = Field(default=None, description="CA bundle; enables TLS.")
    tls_cert: Path | None = Field(default=None, description="Client certificate for mutual TLS.")
    tls_key: Path | None = Field(default=None, description="Client key for mutual TLS.")
    discovery_prefix: str | None = Field(
        default="homeassistant",
        description="Home Assistant MQTT discovery prefix; null or empty turns discovery off.",
    )
    outbox: bool = Field(
        default=True, description="Keep undelivered events in a durable outbox (in the memory folder)."
    )
    commands: bool = Field(
        default=True,
        description="Serve the command topics (<prefix>/queries/set, <prefix>/queries/<id>/delete, <prefix>/ask); "
        "false turns them off entirely. Restrict who may publish to them with the broker's ACL (see the README).",
    )
    reply_prefix: str | None = Field(
        default=None,
        max_length=200,
        description="Replies to commands go only to topics under this prefix (default '<prefix>/reply'); a command "
        "naming any other reply topic is refused on <prefix>/commands/result.",
    )

    @field_validator("username", "password", "client_id", "reply_prefix", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("prefix", "reply_prefix", "discovery_prefix")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value:
            try:
                check_topic(value)
            except TopicError as exc:
                raise ValueError(f"not a topic feedwatch can publish under: {exc}") from None
        return value

    @property
    def replies_under(self) -> str:
        """The topic prefix replies to commands are confined to."""
        return (self.reply_prefix or f"{self.prefix}/reply").rstrip("/")


class HttpConfig(_Strict):
    """The HTTP API and web page the running service serves."""

    enabled: bool = Field(default=True, description="Serve the HTTP API and the web page (feedwatch run).")
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on. Anything but a loopback address needs a bearer token (see token_env).",
    )
    port: int = Field(default=8765, ge=0, le=65535, description="Port to listen on; 0 picks a free one (logged).")
    token_env: str = Field(
        default="FEEDWATCH_API_TOKEN",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the bearer token. When it is set, every API call needs it "
        "(header 'Authorization: Bearer ...', or the cookie the page's sign-in sets).",
    )
    max_body_kb: int = Field(
        default=256,
        ge=1,
        le=4096,
        description="Largest request body accepted, KiB; the default holds the largest valid one (a camera's 32 "
        "masks and 32 zones of 64 points, about 210 KiB).",
    )


class QAConfig(_Strict):
    """The model that answers questions over remembered footage."""

    backend: Literal["none", "transformers", "openai"] = Field(
        default="none",
        description="'none' answers extractively with the matching moments and their times; 'transformers' runs "
        "a Qwen2.5-VL class model locally; 'openai' asks an OpenAI-compatible vision endpoint.",
    )
    model: str = Field(
        default="Qwen/Qwen2.5-VL-3B-Instruct",
        description="transformers: hub id (looked up in the local cache) or folder; openai: the served model's name.",
    )
    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="openai: the server's API root.")
    api_key: str | None = Field(default=None, description="openai: bearer token; use a ${ENV} placeholder.")
    device: str = Field(default="auto", description="transformers: 'auto', 'cuda' or 'cpu'.")
    max_new_tokens: int = Field(default=256, ge=8, le=4096, description="Cap on the answer's tokens.")
    frame_budget: int = Field(default=8, ge=1, le=64, description="Frames the answering model sees at most.")
    image_side: int = Field(default=448, ge=64, le=2048, description="Frames are sent at most this many pixels wide.")
    clip_fps: float = Field(
        default=4.0,
        gt=0,
        le=30,
        description="Asked about one alert, the answering model sees frames sampled from its clip at this rate "
        "(within frame_budget), so brief actions between the 1 fps stills are not missed.",
    )


class FleetSettings(_Strict):
    """This node's place in a fleet of feedwatch nodes sharing one PostgreSQL (see the README, "Running a fleet")."""

    node_id: Identifier = Field(
        default_factory=lambda: _node_name(), description="This node's name in the fleet (default: the host name)."
    )
    url: str | None = Field(
        default=None,
        description="The fleet's PostgreSQL (postgresql://...): cameras, queries and leases; default memory.url.",
    )
    max_cameras: int = Field(default=64, ge=1, le=10_000, description="Cameras this node holds at most.")
    lease_s: float = Field(
        default=10.0, ge=1, le=600, description="A camera's lease lasts this long unless renewed (failover time)."
    )
    renew_s: float = Field(default=2.0, gt=0, le=120, description="How often the node renews its leases.")
    advertise: str | None = Field(
        default=None,
        description="The address other nodes reach this node's HTTP API at (http://host:port); default: http.host "
        "and the bound port, with the host name when http.host is every address.",
    )
    token_env: str = Field(
        default="FEEDWATCH_FLEET_TOKEN",
        description="Environment variable holding the token the fleet's nodes present to each other's HTTP API "
        "(for recent frames of the cameras they hold); each node's API accepts it beside its own http token. "
        "Unset: the node presents its http token.",
    )
    fetch_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a question waits for another node's recent frames: a dead node costs only its own.",
    )

    @field_validator("advertise")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"advertise must be an http:// or https:// URL, not {url!r}")
        return url.rstrip("/") if url is not None else None

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        return postgres_url(url)

    @model_validator(mode="after")
    def _renews_in_time(self) -> FleetSettings:
        if self.renew_s * 2 > self.lease_s:
            raise ValueError(f"renew_s ({self.renew_s:g}) must be at most half of lease_s ({self.lease_s:g})")
        return self


def _node_name() -> str:
    """The host name as an identifier (letters, digits, '-' and '_')."""
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64] or "node"


class FeedwatchConfig(_Strict):
    """The whole service."""

    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras to watch.")
    queries: list[QueryConfig] = Field(default_factory=list, description="Standing questions.")
    scorer: ScorerConfig = Field(default_factory=ScorerConfig, description="Relevance scoring.")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="Alert policy.")
    buffer: BufferSettings = Field(default_factory=BufferSettings, description="Rolling frame buffer.")
    memory: MemorySettings = Field(default_factory=MemorySettings, description="Moment memory.")
    clips: ClipSettings = Field(default_factory=ClipSettings, description="Event clips (MP4 around each alert).")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT publishing.")
    qa: QAConfig = Field(default_factory=QAConfig, description="Question answering.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP API and web page.")
    fleet: FleetSettings = Field(default_factory=FleetSettings, description="This node's place in a fleet.")
    timezone: str | None = Field(
        default=None,
        description="IANA time zone of queries' active windows ('Europe/Berlin'); the machine's when unset.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}: use an IANA name like 'Europe/Berlin'") from None
        return name

    @field_validator("cameras", "queries")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id!r}")
            seen.add(item.id)
        return items

    @model_validator(mode="after")
    def _known_cameras(self) -> FeedwatchConfig:
        known = {c.id for c in self.cameras}
        for q in self.queries:
            unknown = [c for c in (*q.cameras, *q.disarmed) if c not in known]
            if unknown:
                raise ValueError(f"query {q.id!r} names unknown camera(s) {unknown}; known: {sorted(known)}")
        check_query_zones(self.queries, self.cameras)
        return self


def zone_problem(
    query_id: str, zones: Sequence[str], applies_to: Callable[[str], bool], camera_zones: Mapping[str, Collection[str]]
) -> str | None:
    """Why a query looking at ``zones`` cannot run on the cameras it applies to (one lacks a zone); None if it can."""
    for camera, names in camera_zones.items():
        missing = [z for z in zones if z not in names]
        if missing and applies_to(camera):
            return (
                f"query {query_id!r} looks at zone(s) {missing}, which camera {camera!r} does not have (its zones: "
                f"{sorted(names)}); define them under cameras[].zones, or list only the query's cameras"
            )
    return None


def _applies(cameras: list[str]) -> Callable[[str], bool]:
    return lambda camera: not cameras or camera in cameras


def check_query_zones(queries: list[QueryConfig], cameras: list[CameraConfig]) -> None:
    """Every zone a query names exists on each camera the query applies to (:class:`ValueError` if not)."""
    camera_zones = {cam.id: list(cam.zones) for cam in cameras}
    for q in queries:
        problem = zone_problem(q.id, q.zones, _applies(q.cameras), camera_zones)
        if problem:
            raise ValueError(problem)
