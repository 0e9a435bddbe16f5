"""The image tower of a CLIP/SigLIP checkpoint run by ONNX Runtime: the embedding backend's ``runtime: onnx``.

Scoring cost is the image tower; texts are embedded once per query and stay on torch. The tower is exported
from the very transformers model the torch path runs (``get_image_features``, fp32, no quantisation), so it
takes the same ``pixel_values`` from the checkpoint's own image processor and gives the same features (to
about 1e-6 here; the tests hold it to 1e-4). The export is cached under ``$XDG_CACHE_HOME/feedwatch/onnx``,
keyed by the checkpoint's files and the torch and ONNX Runtime versions, and written atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.errors import ModelError

__all__ = ["OnnxImageTower", "onnx_cache_dir"]

log = logging.getLogger(__name__)

_OPSET = 17


def onnx_cache_dir() -> Path:
    """Where exported towers are kept: ``$XDG_CACHE_HOME/feedwatch/onnx`` (``~/.cache`` without it)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "feedwatch" / "onnx"


def _key(folder: Path, side: int, versions: str) -> str:
    """A name for the export of ``folder``: its files (names, sizes, times), the input side and the versions."""
    h = hashlib.sha256(f"{folder.resolve()}|{side}|{versions}|{_OPSET}".encode())
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


class OnnxImageTower:
    """``get_image_features`` of a loaded model, exported once to ONNX and run by ONNX Runtime on the CPU."""

    def __init__(self, model: Any, folder: Path, side: int, *, cache: Path | None = None) -> None:
        try:
            ort: Any = importlib.import_module("onnxruntime")
            torch: Any = importlib.import_module("torch")
        except ImportError as exc:
            raise ModelError(
                "embedding runtime 'onnx' needs ONNX Runtime: pip install 'feedwatch[onnx]', or set runtime: torch"
            ) from exc
        versions = f"torch {torch.__version__}, onnxruntime {ort.__version__}"
        path = (cache or onnx_cache_dir()) / _key(folder, side, versions) / "image.onnx"
        if not path.is_file():
            self._export(model, torch, side, path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = os.cpu_count() or 1
        # Idle pool threads sleep instead of spinning: the tower shares the cores with the cameras' decoders, and
        # spinning took their time (bench e2e, 16 cameras, three runs each: 0.090-0.095 CPU per camera against
        # 0.099-0.102 spinning, for the same frames scored).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own classes, not subclasses of builtins
            raise ModelError(f"embedding: ONNX Runtime cannot load {path}: {exc}; delete it to export again") from exc
        self.path = path
        self._input = self.session.get_inputs()[0].name

    @staticmethod
    def _export(model: Any, torch: Any, side: int, path: Path) -> None:
        class ImageTower(torch.nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, pixel_values: Any) -> Any:
                out = self.model.get_image_features(pixel_values=pixel_values)
                return out if torch.is_tensor(out) else out.pooler_output

        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("embedding: exporting the image tower to ONNX in %s (once per checkpoint)", path.parent)
        sample = torch.zeros((2, 3, side, side), dtype=torch.float32)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.part")
        os.close(fd)
        try:
            with warnings.catch_warnings():  # the tracer's notes on shape-dependent Python branches, checked by tests
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    ImageTower().eval(), (sample,), tmp, input_names=["pixel_values"], output_names=["features"],
                    dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}}, opset_version=_OPSET,
                    dynamo=False,
                )  # fmt: skip
            os.replace(tmp, path)
        except Exception as exc:  # the exporter raises many kinds; none may leave a half-written file behind
            Path(tmp).unlink(missing_ok=True)
            raise ModelError(f"embedding: cannot export the image tower to ONNX: {exc}; set runtime: torch") from exc

    def features(self, pixel_values: NDArray[np.float32]) -> NDArray[np.float32]:
        """Image features (not normalised), one row per image, as ``get_image_features`` gives them."""
        out: NDArray[np.float32] = self.session.run(None, {self._input: pixel_values.astype(np.float32)})[0]
        return out
