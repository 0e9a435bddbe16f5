"""Model plumbing shared by the scorers and the answering models: finding weights offline, the device and
dtype, the OpenAI-compatible chat client, and randomly initialised checkpoints for tests and benchmarks."""

from __future__ import annotations

from .chat import ChatClient, image_part, text_part
from .devices import attention_implementation, compute_capability, pick_device, torch_dtype
from .faults import FaultKind, ModelFault, fault_of
from .weights import cuda_available, find_weights, hf_cache_dir, require_weights, weight_locations

__all__ = [
    "ChatClient",
    "FaultKind",
    "ModelFault",
    "attention_implementation",
    "compute_capability",
    "cuda_available",
    "fault_of",
    "find_weights",
    "hf_cache_dir",
    "image_part",
    "pick_device",
    "require_weights",
    "text_part",
    "torch_dtype",
    "weight_locations",
]
