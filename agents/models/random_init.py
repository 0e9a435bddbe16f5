"""Randomly initialised checkpoints, saved the way real ones are, for tests and benchmarks.

No weights can be downloaded on an offline machine, yet the loading and inference code must run for
real. These builders write a folder with ``config.json``, safetensors weights, a tokenizer and an image
processor, which the backends then load through ``from_pretrained`` exactly as they load real weights.
Random weights produce meaningless answers: use them to exercise code paths and measure compute,
never to judge relevance.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["QWEN_SPECIAL_TOKENS", "build_random_aria", "build_random_clip", "build_random_qwen2_5_vl"]

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The chat layout Qwen2.5-VL checkpoints ship (system turn, then user content, then the assistant cue).
_QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    '{"12-15": 5, "3": 4, "0 - 1": 2}',
    "Please identify the video frames most relevant to the given question and provide their timestamps",
    "Question: a person opens the front door. a car parks in the driveway. a dog on the sofa.",
]


def _byte_bpe(vocab_size: int, specials: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS * 20, trainer)
    return tok


def build_random_qwen2_5_vl(folder: str | Path, *, size: str = "tiny", seed: int = 0) -> Path:
    """Write a random Qwen2.5-VL checkpoint (the GenS-3B layout). ``size``: ``tiny`` or ``3b``."""
    import torch

    tf: Any = importlib.import_module("transformers")
    pil: Any = importlib.import_module("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")

    out = Path(folder)
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_object=_byte_bpe(400, list(QWEN_SPECIAL_TOKENS)),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.chat_template = _QWEN_CHAT_TEMPLATE
    tok.save_pretrained(out)
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    special = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    if size == "tiny":
        text: dict[str, Any] = dict(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        )  # fmt: skip
        vision: dict[str, Any] = dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, fullatt_block_indexes=[1]
        )
    elif size == "3b":
        # Qwen2.5-VL-3B-Instruct's published dimensions (the GenS-3B base), with a byte-level toy tokenizer.
        text = dict(
            vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
            num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000,
            rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]}, tie_word_embeddings=True,
        )  # fmt: skip
        vision = dict(
            depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
            fullatt_block_indexes=[7, 15, 23, 31], window_size=112,
        )  # fmt: skip
    else:
        raise ValueError(f"unknown size {size!r}; known: tiny, 3b")
    vision.update(patch_size=14, spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2)
    config = tf.Qwen2_5_VLConfig(
        text_config={**text, **special},
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        **special,
    )
    torch.manual_seed(seed)
    tf.Qwen2_5_VLForConditionalGeneration(config).save_pretrained(out)
    pil.Qwen2VLImageProcessorPil().save_pretrained(out)
    return out


def build_random_clip(folder: str | Path, *, size: str = "tiny", seed: int = 0) -> Path:
    """Write a random CLIP checkpoint. ``size``: ``tiny`` or ``base`` (ViT-B/32's dimensions, 512-d)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tf: Any = importlib.import_module("transformers")
    pil: Any = importlib.import_module("transformers.models.clip.image_processing_pil_clip")

    out = Path(folder)
    wl = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    wl.pre_tokenizer = pre_tokenizers.Whitespace()
    wl.train_from_iterator(_CORPUS * 5, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[BOS]", "[EOS]"]))
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_object=wl, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )
    tok.save_pretrained(out)
    special: dict[str, Any] = {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
    if size == "tiny":
        text: dict[str, Any] = dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=32
        )
        vision: dict[str, Any] = dict(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
        )
        projection, side = 16, 32
    elif size == "base":
        text = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
                    max_position_embeddings=77)  # fmt: skip
        vision = dict(image_size=224, patch_size=32, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                      num_attention_heads=12)  # fmt: skip
        projection, side = 512, 224
    else:
        raise ValueError(f"unknown size {size!r}; known: tiny, base")
    config = tf.CLIPConfig(
        text_config={**text, "vocab_size": 49408 if size == "base" else len(tok), **special},
        vision_config=vision,
        projection_dim=projection,
    )
    torch.manual_seed(seed)
    tf.CLIPModel(config).save_pretrained(out)
    pil.CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side}).save_pretrained(
        out
    )
    return out


def build_random_aria(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random Aria checkpoint (the layout of the Aria-based GenS) with its processor."""
    import torch

    tf: Any = importlib.import_module("transformers")
    aria: Any = importlib.import_module("transformers.models.aria.image_processing_pil_aria")
    out = Path(folder)
    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<|img|>", "<pad>"]
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_object=_byte_bpe(400, specials),
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        extra_special_tokens={"image_token": "<|img|>"},
    )
    image_processor = aria.AriaImageProcessorPil(max_image_size=490, min_image_size=336)
    processor = tf.AriaProcessor(image_processor=image_processor, tokenizer=tok, size_conversion={490: 128, 980: 256})
    processor.save_pretrained(out)
    image_id = tok.convert_tokens_to_ids("<|img|>")
    config = tf.AriaConfig(
        vision_config={
            "model_type": "idefics3_vision", "image_size": 490, "patch_size": 14, "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        },
        text_config={
            "vocab_size": len(tok), "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "moe_num_experts": 2, "moe_topk": 1,
            "moe_num_shared_experts": 1, "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id,
        },
        projector_patch_to_query_dict={1225: 128, 4900: 256},
        image_token_index=image_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    tf.AriaForConditionalGeneration(config).save_pretrained(out)
    return out
