"""The ``tiny`` encoder: a randomly initialised CLIP of a few thousand parameters, built in code.

It runs the exact code path of :class:`~indexer.encoders.clip.CLIPEncoder` (transformers
``CLIPModel``, a real byte-level ``CLIPTokenizer``, CLIP preprocessing) at a size that encodes
hundreds of clips per second on one CPU core, so tests and benchmarks exercise the real pipeline
without downloading weights. Weights come from a fixed seed: every process builds the same model and
the same input always gives the same embedding. Embeddings are not semantically meaningful, but
they do depend on the frame content (different colours give different vectors).
"""

from __future__ import annotations

import torch

from indexer.encoders.clip import CLIPEncoder
from indexer.encoders.preprocess import clip_transform

TINY_DIM = 32
TINY_FRAME_SIZE = 32
TINY_FRAMES_PER_CLIP = 2
TINY_MAX_TEXT_TOKENS = 32
TINY_SEED = 0


def build_tiny_clip_tokenizer():  # -> transformers.CLIPTokenizer
    """A real CLIP BPE tokenizer whose vocabulary is the 256 byte symbols (no merges), built in code.

    Every word is spelt out byte by byte, ``</w>`` marking the last byte of a word; ids 0-511 are the
    byte symbols, 512 is ``<|startoftext|>`` and 513 ``<|endoftext|>`` (also the padding token), so
    the end token has the highest id as in OpenAI's vocabulary.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    vocab.update({symbol + "</w>": len(alphabet) + i for i, symbol in enumerate(alphabet)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=TINY_MAX_TEXT_TOKENS)


def build_tiny_clip_config(vocab_size: int = 514, eos_token_id: int = 513):  # -> transformers.CLIPConfig
    """A 2-layer, 32-wide CLIP config: 32 px images in 8 px patches, 32-token texts, 32-d joint space."""
    from transformers import CLIPConfig

    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=TINY_MAX_TEXT_TOKENS, projection_dim=TINY_DIM,
                bos_token_id=eos_token_id - 1, eos_token_id=eos_token_id, pad_token_id=eos_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=TINY_FRAME_SIZE, patch_size=8, projection_dim=TINY_DIM)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=TINY_DIM)


def build_tiny_clip_model(seed: int = TINY_SEED):  # -> transformers.CLIPModel
    """The tiny ``CLIPModel`` with weights drawn from ``seed`` (the global RNG state is left untouched)."""
    from transformers import CLIPModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(build_tiny_clip_config())
    return model.eval()


class TinyEncoder(CLIPEncoder):
    """``tiny``: dim 32, 2 frames per clip, 32 px frames; deterministic, CPU-fast, no downloads.

    ``path`` is accepted for the registry's uniform call signature and ignored: the weights are the seed.
    """

    def __init__(self, path: str | None = None, *, device: str = "auto", seed: int = TINY_SEED,
                 batch_size: int = 256) -> None:
        del path
        self._bind(build_tiny_clip_model(seed), build_tiny_clip_tokenizer(), clip_transform(TINY_FRAME_SIZE),
                   name="tiny", model_id=f"tiny-clip-seed{seed}", device=device,
                   frames_per_clip=TINY_FRAMES_PER_CLIP, batch_size=batch_size)
