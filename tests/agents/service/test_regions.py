"""Privacy masks and zones on the real person clip: masked pixels are black wherever a frame shows, and a
zone-limited query alerts only for what happens inside its zone."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from agents import AlertEvent, AlertKind, Service, validate_config
from agents.bench.common import free_port
from agents.memory.store import MomentMemory
from agents.scoring.activity import ActivityScorer
from streamer.frames import Window
from tests.helpers import PERSON_CLIP, PERSON_TRUTH, scaled, served, wait_until

# The window at the top left of the person clip: nobody walks there.
WINDOW_CORNER = [[0.0, 0.0], [0.25, 0.0], [0.25, 0.4], [0.0, 0.4]]
# Picked by looking at contact sheets of the clip: the table in the middle, where each person stands during a
# visit, and the strip of wall at the right edge, which people cross only as they leave.
TABLE = [[0.42, 0.0], [0.72, 0.0], [0.72, 1.0], [0.42, 1.0]]
WALL = [[0.88, 0.0], [1.0, 0.0], [1.0, 0.45], [0.88, 0.45]]


class WindowSpy(ActivityScorer):
    """The real activity scorer; keeps the frames it was given, so the test sees exactly what was scored."""

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[Window] = []

    def score_batch(self, jobs: Any) -> Any:
        self.windows.extend(window for window, _ in jobs)
        return super().score_batch(jobs)


def _pixels(jpeg: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def _assert_masked(image: NDArray[np.uint8], what: str) -> None:
    """Black inside the mask (a JPEG's ringing aside, 2 px in from its edge), not black beside it."""
    h, w = image.shape[:2]
    inside = image[: int(0.4 * h) - 2, : int(0.25 * w) - 2]
    beside = image[: int(0.4 * h), int(0.3 * w) :]
    assert inside.max() <= 24, f"{what}: the masked corner is not black (max {inside.max()})"
    assert beside.mean() > 60, f"{what}: the rest of the frame is dark too, so the check proves nothing"


def _assert_every_frame_masked(clip: Path) -> int:
    """Every decoded frame of ``clip`` masked; how many there were."""
    import av

    frames = 0
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            _assert_masked(np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8), f"{clip.name} #{frames}")
            frames += 1
    assert frames > 1, f"{clip.name}: {frames} frame(s)"
    return frames


@pytest.mark.slow
async def test_a_live_cameras_clips_are_masked_on_every_frame(rtsp: Any, tmp_path: Path) -> None:
    """A live (RTSP) camera's clips are remuxed from its packets and then masked: an alert's clip and a clip of
    any range (the API's), every frame of each."""
    camera = {"id": "lobby", "url": rtsp.url, "fps": 2, "masks": [WINDOW_CORNER]}
    config = validate_config({
        "cameras": [camera], "queries": [{"id": "person", "text": "a person"}], "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")}, "clips": {"pre_s": 1.0, "post_s": 1.0},
        "http": {"enabled": False},
    })  # fmt: skip
    ends: list[AlertEvent] = []

    async def on_alert(event: AlertEvent) -> None:
        if event.alert.kind is AlertKind.END and event.payload.get("clip"):
            ends.append(event)

    service, _ = served(config, retry=True, on_alert=on_alert)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(lambda: ends, 90, "an alert with its clip")
        _assert_every_frame_masked(Path(str(ends[0].payload["clip"])))
        newest = service.cameras["lobby"].latest()
        assert newest is not None
        ranged = tmp_path / "range.mp4"
        await service.camera_clip("lobby", newest.wall - 4.0, newest.wall, ranged)
        _assert_every_frame_masked(ranged)
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))


@pytest.mark.slow
async def test_privacy_mask_is_black_in_every_image(tmp_path: Path) -> None:
    camera = {"id": "lobby", "url": str(PERSON_CLIP), "masks": [WINDOW_CORNER]}
    base = {
        "queries": [{"id": "person", "text": "a person"}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")},
        "http": {"enabled": False},
    }
    spy = WindowSpy()
    ended: list[AlertEvent] = []

    async def keep(event: AlertEvent) -> None:
        if event.alert.kind is AlertKind.END:
            ended.append(event)

    await Service(validate_config({**base, "cameras": [camera]}), retry=False, on_alert=keep, scorer=spy).run()

    scored = [f for w in spy.windows for f in w.frames]
    assert len(scored) > 100
    for frame in scored[:: max(1, len(scored) // 10)]:
        _assert_masked(frame.image, f"scored frame {frame.seq}")
        assert frame.snapshot is not None
        _assert_masked(_pixels(frame.snapshot), f"snapshot of frame {frame.seq}")
    assert ended, "the person clip raised no alert"
    for event in ended:
        assert event.alert.snapshot is not None
        _assert_masked(_pixels(event.alert.snapshot), f"snapshot of alert {event.alert.id}")
    with MomentMemory(tmp_path / "memory", read_only=True) as memory:
        moments = [m for m in memory.iter_all() if m.kind == "alert"]
        thumbs = [Path(m.thumbnail) for m in moments if m.thumbnail]
        assert thumbs, "no moment kept a thumbnail"
        for thumb in thumbs:
            _assert_masked(_pixels(thumb.read_bytes()), f"thumbnail {thumb.name}")
        clips = [Path(m.clip) for m in moments if m.clip]
    assert clips, "no alert kept a clip"
    for clip in clips:  # cut from the file: every frame of every clip
        _assert_every_frame_masked(clip)

    # The page's camera image, from a camera live now.
    live = {**camera, "realtime": True, "loop": True}
    service, http = served(validate_config({**base, "cameras": [live], "http": {"port": free_port()}}), retry=True)
    task = asyncio.create_task(service.run())
    try:
        assert http is not None
        await wait_until(lambda: http.bound_port is not None and service.latest_frame("lobby") is not None,
                         what="a live frame")  # fmt: skip
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}", timeout=scaled(30)) as client:
            page_image = await client.get("/api/cameras/lobby/snapshot.jpg")
        assert page_image.status_code == 200
        _assert_masked(_pixels(page_image.content), "the page's camera image")
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))


async def test_zone_limited_query_alerts_only_inside_its_zone(tmp_path: Path) -> None:
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "zones": {"table": TABLE, "wall": WALL}}],
            "queries": [
                {"id": "at_table", "text": "a person at the table", "zones": ["table"]},
                {"id": "by_wall", "text": "a person by the right wall", "zones": ["wall"]},
            ],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "clips": {"enabled": False},
            "http": {"enabled": False},
        }
    )
    visits = [(e["start"], e["end"]) for e in json.loads(PERSON_TRUTH.read_text())["events"]]
    spy = WindowSpy()
    events: list[AlertEvent] = []

    async def keep(event: AlertEvent) -> None:
        events.append(event)

    await Service(config, retry=False, on_alert=keep, scorer=spy).run()
    ends = [e.alert for e in events if e.alert.kind is AlertKind.END]
    table = [a for a in ends if a.query_id == "at_table"]
    wall = [a for a in ends if a.query_id == "by_wall"]
    assert all(a.zone == "table" for a in table) and all(a.zone == "wall" for a in wall)
    # The table's query alerts for the visits, while the people stand there.
    covered = [v for v in visits if any(a.start_pts < v[1] and a.end_pts > v[0] for a in table)]
    assert len(covered) >= 5, f"table alerts {[(a.start_pts, a.end_pts) for a in table]} miss visits {visits}"
    # The wall's query alerts only as people cross the wall on their way out: in the last seconds of a visit,
    # never while someone stands at the table in the middle of one.
    assert len(wall) >= 4, f"people leave past the wall six times; its query alerted {len(wall)} times"
    for a in wall:
        leaving = [v for v in visits if v[1] - 3 <= a.start_pts and a.end_pts <= v[1] + 1]
        assert leaving, f"wall alert at {a.start_pts:.0f}-{a.end_pts:.0f} s is not someone leaving ({visits})"
    # Each zone was scored on its own crop.
    crops = {w.camera: w.frames[0].image.shape[:2] for w in spy.windows}
    assert set(crops) == {"lobby#table", "lobby#wall"}
    assert crops["lobby#table"][0] > crops["lobby#table"][1]  # the table zone is tall and narrow


@pytest.mark.parametrize("zones", [["garden"]])
def test_a_query_naming_a_zone_no_camera_has_is_refused(zones: list[str]) -> None:
    with pytest.raises(ValueError, match="zone"):
        validate_config(
            {
                "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "zones": {"table": TABLE}}],
                "queries": [{"id": "q", "text": "t", "zones": zones}],
            }
        )


async def test_masks_and_zones_set_over_the_api_apply_at_once_and_persist(tmp_path: Path) -> None:
    config = {
        "cameras": [
            {"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True, "zones": {"table": TABLE}}
        ],
        "queries": [{"id": "at_table", "text": "a person at the table", "zones": ["table"]}],
        "scorer": {"backend": "activity"},
        "memory": {"path": str(tmp_path / "memory")},
        "clips": {"enabled": False},
        "http": {"port": free_port()},
    }
    for restart in (False, True):
        service, http = served(validate_config(config), retry=True)
        task = asyncio.create_task(service.run())
        try:
            assert http is not None
            await wait_until(_serving(service, http), what="a live frame")
            base = f"http://127.0.0.1:{http.bound_port}"
            async with httpx.AsyncClient(base_url=base, timeout=scaled(30)) as client:
                if not restart:
                    bad = await client.patch("/api/cameras/lobby", json={"masks": [[[0, 0], [1.5, 0], [0, 1]]]})
                    assert bad.status_code == 422 and "less than or equal to 1" in bad.text
                    in_use = await client.patch("/api/cameras/lobby", json={"zones": {"wall": WALL}})
                    assert in_use.status_code == 422 and "table" in in_use.text  # the query still looks there
                    assert (await client.patch("/api/cameras/attic", json={"masks": []})).status_code == 404
                    ok = await client.patch("/api/cameras/lobby", json={"masks": [WINDOW_CORNER]})
                    assert ok.status_code == 200, ok.text
                    await wait_until(
                        _newer_than(service, service.latest_frame("lobby")), what="a restarted reader's frame"
                    )
                shown = (await client.get("/api/cameras")).json()[0]
                assert shown["masks"] == [WINDOW_CORNER] and set(shown["zones"]) == {"table"}
                image = await client.get("/api/cameras/lobby/snapshot.jpg")
                _assert_masked(_pixels(image.content), "the camera image after the API set a mask")
        finally:
            service.stop()
            await asyncio.wait_for(task, scaled(30))


def _serving(service: Service, http: Any) -> Callable[[], bool]:
    return lambda: http.bound_port is not None and service.latest_frame("lobby") is not None


def _newer_than(service: Service, before: object) -> Callable[[], bool]:
    def newer() -> bool:
        newest = service.latest_frame("lobby")
        return newest is not None and newest is not before

    return newer
