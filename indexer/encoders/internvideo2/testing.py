"""A tiny InternVideo2 Stage2 written exactly like the official release, for tests and demos.

:func:`write_tiny_checkpoint` produces a directory that ``--encoder internvideo2 --encoder-path DIR``
loads through the real code path: a ``.pt`` state dict under the official key names (including the
training-only parts the loader must skip: fusion layers with cross-attention, MLM and ITM heads,
temperature, CLIP-distillation decoders), an ``internvideo2_config.json`` with the tiny sizes, and a
BERT WordPiece tokenizer built in code (nothing is downloaded).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from indexer.encoders.internvideo2.checkpoint import CONFIG_FILENAME
from indexer.encoders.internvideo2.config import InternVideo2Config, TextConfig, VisionConfig
from indexer.encoders.internvideo2.model import InternVideo2Stage2

TINY_CONFIG = InternVideo2Config(
    vision=VisionConfig(image_size=32, patch_size=8, num_frames=4, embed_dim=32, depth=2, num_heads=2,
                        mlp_hidden_dim=64, attn_pool_num_heads=2, clip_embed_dim=24, layerscale_init=0.1),
    text=TextConfig(vocab_size=128, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=64, fusion_layer=2, max_text_tokens=16),
    embed_dim=16,
)
TINY_WEIGHTS_NAME = "InternVideo2-stage2_tiny-32p-f4.pt"
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = ["a", "the", "man", "woman", "dog", "cat", "red", "blue", "car", "runs", "on", "in", "beach", "street"]


def build_tiny_bert_tokenizer(vocab_size: int = 128):  # -> transformers.BertTokenizer
    """An uncased BERT WordPiece tokenizer over letters, digits, punctuation and a few words."""
    from transformers import BertTokenizer

    symbols = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = _SPECIAL + _WORDS + symbols + ["##" + c for c in string.ascii_lowercase]
    vocab = {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}
    if len(vocab) > vocab_size:
        raise ValueError(f"tiny vocabulary needs {len(vocab)} ids, the config allows {vocab_size}")
    return BertTokenizer(vocab=vocab, do_lower_case=True)


def build_tiny_model(seed: int = 0, config: InternVideo2Config = TINY_CONFIG) -> InternVideo2Stage2:
    """The Stage2 architecture at ``config`` size, randomly initialised from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return InternVideo2Stage2(config).eval()


def training_only_tensors(config: InternVideo2Config, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random tensors for the official keys retrieval skips, at ``config`` size."""
    v, t = config.vision, config.text
    tokens = v.temporal_size * v.grid_size ** 2 + 1
    shapes: dict[str, tuple[int, ...]] = {
        "vision_encoder.clip_pos_embed": (1, tokens, v.embed_dim),
        "vision_encoder.clip_img_pos_embed": (1, v.grid_size ** 2 + 1, v.embed_dim),
        "vision_encoder.final_clip_decoder.head.weight": (v.clip_embed_dim, v.clip_embed_dim),
        "vision_encoder.final_clip_decoder.head.bias": (v.clip_embed_dim,),
        "vision_encoder.final_clip_decoder.norm.weight": (v.clip_embed_dim,),
        "vision_encoder.final_clip_decoder.norm.bias": (v.clip_embed_dim,),
        "text_encoder.cls.predictions.bias": (t.vocab_size,),
        "text_encoder.cls.predictions.transform.dense.weight": (t.hidden_size, t.hidden_size),
        "text_encoder.cls.predictions.transform.dense.bias": (t.hidden_size,),
        "text_encoder.cls.predictions.transform.LayerNorm.weight": (t.hidden_size,),
        "text_encoder.cls.predictions.transform.LayerNorm.bias": (t.hidden_size,),
        "text_encoder.cls.predictions.decoder.weight": (t.vocab_size, t.hidden_size),
        "text_encoder.cls.predictions.decoder.bias": (t.vocab_size,),
        "itm_head.weight": (2, t.hidden_size),
        "itm_head.bias": (2,),
        "temp": (),
    }
    for i in range(2):  # two of the official six distillation decoders suffice to exercise the skip
        shapes[f"vision_encoder.clip_decoder.{i}.head.weight"] = (v.embed_dim * 2, v.embed_dim)
        shapes[f"vision_encoder.clip_decoder.{i}.head.bias"] = (v.embed_dim * 2,)
        shapes[f"vision_encoder.clip_decoder.{i}.norm.weight"] = (v.embed_dim * 2,)
        shapes[f"vision_encoder.clip_decoder.{i}.norm.bias"] = (v.embed_dim * 2,)
    h, ffn = t.hidden_size, t.intermediate_size
    for layer in range(t.fusion_layer, t.num_hidden_layers):
        prefix = f"text_encoder.bert.encoder.layer.{layer}."
        for part, (out_dim, in_dim) in {"attention.self.query": (h, h), "attention.self.key": (h, h),
                                        "attention.self.value": (h, h), "attention.output.dense": (h, h),
                                        "crossattention.self.query": (h, h),
                                        "crossattention.self.key": (h, config.vision.clip_embed_dim),
                                        "crossattention.self.value": (h, config.vision.clip_embed_dim),
                                        "crossattention.output.dense": (h, h),
                                        "intermediate.dense": (ffn, h), "output.dense": (h, ffn)}.items():
            shapes[prefix + part + ".weight"] = (out_dim, in_dim)
            shapes[prefix + part + ".bias"] = (out_dim,)
        for norm in ("attention.output.LayerNorm", "crossattention.output.LayerNorm", "output.LayerNorm"):
            shapes[prefix + norm + ".weight"] = (h,)
            shapes[prefix + norm + ".bias"] = (h,)
    tensors = {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}
    tensors["text_encoder.bert.embeddings.position_ids"] = torch.arange(t.max_position_embeddings)[None]
    return tensors


def write_tiny_checkpoint(directory: Path, *, seed: int = 0, config: InternVideo2Config = TINY_CONFIG,
                          dtype: torch.dtype = torch.bfloat16, wrapper: str | None = "module") -> Path:
    """Write a loadable tiny Stage2 checkpoint directory and return it.

    ``dtype`` bf16 and the DeepSpeed ``{"module": state}`` wrapper mirror the released file; the
    retrieval weights are those of :func:`build_tiny_model` (``seed``).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed + 1)
    tensors = {**build_tiny_model(seed, config).state_dict(), **training_only_tensors(config, generator)}
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    torch.save({wrapper: state} if wrapper else state, directory / TINY_WEIGHTS_NAME)
    (directory / CONFIG_FILENAME).write_text(json.dumps(config.to_dict(), indent=2))
    build_tiny_bert_tokenizer(config.text.vocab_size).save_pretrained(directory)
    return directory
