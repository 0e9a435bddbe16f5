"""Randomly initialised checkpoints, saved the way real ones are, for tests and benchmarks.

No weights can be downloaded on an offline machine, yet the loading and inference code must run for
real. These builders write a folder with ``config.json``, safetensors weights, a tokenizer and an image
processor, which the backends then load through ``from_pretrained`` exactly as they load real weights.
Random weights produce meaningless answers: use them to exercise code paths and measure compute,
never to judge relevance.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

__all__ = [
    "QWEN_CHAT_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "build_random_clip",
    "build_random_qwen2_5_vl",
    "build_random_siglip",
]

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The processor chat template Qwen2.5-VL checkpoints ship (chat_template.json), as published: an interface
# constant, so the test checkpoints carry it byte for byte.
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)
# The tokenizer's own template in those checkpoints is the text-only chat template: it renders no images or video,
# so only the processor's template above gives the model its inputs. The test checkpoints keep that split.
_TEXT_ONLY_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] if message['content'] is "
    "string else '' }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen2.5-VL-3B-Instruct's published preprocessor_config.json.
_QWEN_PREPROCESSOR = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}

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

    out = Path(folder)
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_object=_byte_bpe(400, list(QWEN_SPECIAL_TOKENS)),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.save_pretrained(out)
    # The files as the published checkpoints have them: the tokenizer's text-only template inside
    # tokenizer_config.json, the processor's template in chat_template.json.
    config_file = out / "tokenizer_config.json"
    _write_json(config_file, {**json.loads(config_file.read_text()), "chat_template": _TEXT_ONLY_TEMPLATE})
    (out / "chat_template.jinja").unlink(missing_ok=True)
    _write_json(out / "chat_template.json", {"chat_template": QWEN_CHAT_TEMPLATE})
    _write_json(out / "preprocessor_config.json", _QWEN_PREPROCESSOR)
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
    return out


def build_random_clip(folder: str | Path, *, size: str = "tiny", seed: int = 0, vocab_size: int | None = None) -> Path:
    """Write a random CLIP checkpoint. ``size``: ``tiny`` or ``base`` (ViT-B/32's dimensions, 512-d); ``vocab_size``
    enlarges the text embedding table (rows the tokenizer never uses), for a checkpoint of a given file size."""
    import torch

    tf: Any = importlib.import_module("transformers")

    out = Path(folder)
    tok = _word_tokenizer(tf)
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
        text_config={**text, "vocab_size": vocab_size or (49408 if size == "base" else len(tok)), **special},
        vision_config=vision,
        projection_dim=projection,
    )
    torch.manual_seed(seed)
    tf.CLIPModel(config).save_pretrained(out)
    # openai/clip-vit-base-patch32's published preprocessing, at the model's side.
    _write_json(out / "preprocessor_config.json", {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": side},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": side, "width": side}, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True,
    })  # fmt: skip
    return out


def build_random_siglip(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random SigLIP checkpoint (no projection: its embeddings are the towers' hidden size)."""
    import torch

    tf: Any = importlib.import_module("transformers")
    out = Path(folder)
    tok = _word_tokenizer(tf)  # no model_max_length: feedwatch must pad to SigLIP's 64 tokens by itself
    tok.save_pretrained(out)
    config = tf.SiglipConfig(
        text_config={"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": 0, "bos_token_id": 2,
                     "eos_token_id": 3},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2},
    )  # fmt: skip
    torch.manual_seed(seed)
    tf.SiglipModel(config).save_pretrained(out)
    # google/siglip-base-patch16-224's published preprocessing, at the tiny model's side.
    _write_json(out / "preprocessor_config.json", {
        "image_processor_type": "SiglipImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
        "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    })  # fmt: skip
    return out


def _word_tokenizer(tf: Any, model_max_length: int | None = None) -> Any:
    """A word-level tokenizer over the test corpus, with padding, unknown, begin and end tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    wl = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    wl.pre_tokenizer = pre_tokenizers.Whitespace()
    wl.train_from_iterator(_CORPUS * 5, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[BOS]", "[EOS]"]))
    extra = {"model_max_length": model_max_length} if model_max_length else {}
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=wl, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]", **extra
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2))
