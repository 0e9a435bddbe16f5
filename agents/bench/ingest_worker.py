"""Child process of `feedwatch bench ingest`: decode one file in one mode with the project's reader."""

from __future__ import annotations

import json
import sys
import threading
import time

from streamer.source import FrameDecoder, SourceOptions


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    options = {
        # Every frame decoded (no skipping), sampled at 1 fps: the reader's whole decode path.
        "full": SourceOptions(sample_fps=1.0, skip_nonref=False),
        # The reader's defaults for 1 fps watching: non-reference frames are not decoded.
        "sampled": SourceOptions(sample_fps=1.0),
        "keyframes": SourceOptions(sample_fps=0, keyframes_only=True),
        # Every frame decoded and delivered as RGB at analysis size (no snapshots).
        "every_frame": SourceOptions(sample_fps=0, snapshot_size=0),
    }[mode]
    decoder = FrameDecoder("bench", path, options)
    t0 = time.perf_counter()
    delivered = 0
    last_pts = 0.0
    frame_bytes = 0
    for frame in decoder.frames(threading.Event()):
        delivered += 1
        last_pts = frame.pts
        frame_bytes += frame.nbytes
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "decoded": decoder.decoded,
                "delivered": delivered,
                "seconds": seconds,
                "last_pts": last_pts,
                "frame_bytes": frame_bytes // max(1, delivered),
            }
        )
    )


if __name__ == "__main__":
    main()
