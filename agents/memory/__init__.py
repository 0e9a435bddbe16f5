"""What mattered, remembered: moments and keyframes in SQLite, their embeddings in FAISS-backed shards,
retention by age and size, and the frames answers cited.

Names load on first use: the vector store brings FAISS with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamer.lazy import lazy_exports

if TYPE_CHECKING:
    from .asked import AskedFrames as AskedFrames
    from .files import atomic_write as atomic_write
    from .records import Keyframe as Keyframe
    from .records import Moment as Moment
    from .records import SimilarMoment as SimilarMoment
    from .retention import DiskUsage as DiskUsage
    from .retention import disk_usage as disk_usage
    from .retention import prune as prune
    from .store import SCHEMA_VERSION as SCHEMA_VERSION
    from .store import MomentMemory as MomentMemory
    from .vectors import Hit as Hit
    from .vectors import VectorStore as VectorStore

else:  # type checkers see the imports above; at run time each name loads on first use
    __all__, __getattr__ = lazy_exports(
        __name__,
        {
            "asked": ("AskedFrames",),
            "files": ("atomic_write",),
            "records": ("Keyframe", "Moment", "SimilarMoment"),
            "retention": ("DiskUsage", "disk_usage", "prune"),
            "store": ("SCHEMA_VERSION", "MomentMemory"),
            "vectors": ("Hit", "VectorStore"),
        },
    )
