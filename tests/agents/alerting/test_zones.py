"""Zone crops: cut from the snapshot (more pixels than the analysis image), scaled to the scorer's size, black
outside the zone, cached per camera, frame, zone and polygon, and forgotten per camera."""

from __future__ import annotations

import numpy as np

from agents.alerting.zones import ZoneCrops
from streamer import Frame, Window, encode_jpeg

LEFT = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
RIGHT = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))


def _frame(seq: int, camera: str = "cam", snapshot: bool = True) -> Frame:
    small = np.full((36, 64, 3), 90, np.uint8)  # the analysis image: plain grey
    big = np.zeros((360, 640, 3), np.uint8)
    big[:, :320] = 250  # the snapshot: bright on the left, black on the right
    jpeg = encode_jpeg(big) if snapshot else None
    return Frame(camera, seq, float(seq), 1000.0 + seq, small, snapshot=jpeg)


def test_a_crop_comes_from_the_snapshot_at_the_scorers_size() -> None:
    crops = ZoneCrops(64)
    left, right = crops.frame(_frame(0), "door", LEFT), crops.frame(_frame(0), "bin", RIGHT)
    assert max(left.image.shape[:2]) == 64 and left.camera == "cam#door" and left.snapshot is None
    assert left.image.mean() > 200 and right.image.mean() < 30  # the snapshot's halves, not the grey image
    plain = crops.frame(_frame(1, snapshot=False), "door", LEFT)
    assert abs(float(plain.image.mean()) - 90) < 3  # without a snapshot: the analysis image
    assert (left.seq, left.pts, left.wall) == (0, 0.0, 1000.0)


def test_crops_are_cached_per_camera_frame_zone_and_polygon_and_forgotten_per_camera() -> None:
    crops = ZoneCrops(32)
    first = crops.frame(_frame(0), "door", LEFT)
    assert crops.frame(_frame(0), "door", LEFT) is first
    assert crops.frame(_frame(0), "door", RIGHT) is not first  # the zone was redrawn
    assert crops.frame(_frame(0), "bin", LEFT) is not first
    other = crops.frame(_frame(0, camera="yard"), "door", LEFT)
    crops.forget("cam")
    assert crops.frame(_frame(0), "door", LEFT) is not first  # forgotten
    assert crops.frame(_frame(0, camera="yard"), "door", LEFT) is other  # another camera's stay


def test_the_cache_keeps_the_newest_crops() -> None:
    crops = ZoneCrops(8)
    oldest = crops.frame(_frame(0, snapshot=False), "door", LEFT)
    second = crops.frame(_frame(1, snapshot=False), "door", LEFT)
    for seq in range(2, 512):
        crops.frame(_frame(seq, snapshot=False), "door", LEFT)
    assert crops.frame(_frame(0, snapshot=False), "door", LEFT) is oldest  # 512 crops: all still there
    crops.frame(_frame(512, snapshot=False), "door", LEFT)  # one more: the least recently used (seq 1) goes
    assert crops.frame(_frame(1, snapshot=False), "door", LEFT) is not second
    assert crops.frame(_frame(0, snapshot=False), "door", LEFT) is oldest


def test_a_grey_snapshot_still_gives_a_colour_crop() -> None:
    grey = encode_jpeg(np.full((360, 640, 3), 128, np.uint8)[:, :, 0])  # a single-channel JPEG
    frame = Frame("cam", 0, 0.0, 1000.0, np.zeros((36, 64, 3), np.uint8), snapshot=grey)
    crop = ZoneCrops(32).frame(frame, "door", LEFT)
    assert crop.image.ndim == 3 and crop.image.shape[2] == 3 and abs(float(crop.image.mean()) - 128) < 3


def test_a_window_is_cropped_frame_by_frame_under_the_zones_name() -> None:
    crops = ZoneCrops(16)
    window = Window("cam", (_frame(0), _frame(1), _frame(2)), new_from=1)
    cropped = crops.window(window, "door", LEFT)
    assert cropped.camera == "cam#door" and cropped.new_from == 1
    assert [f.seq for f in cropped.frames] == [0, 1, 2] and all(f.camera == "cam#door" for f in cropped.frames)
    assert all(max(f.image.shape[:2]) == 16 for f in cropped.frames)
