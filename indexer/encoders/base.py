"""The encoder contract: what vsearch needs from a video-text model.

A plug-in implements it in its own module without importing vsearch (duck typing); arrays cross
the boundary as numpy so the encoder may use any framework inside.

Required attributes
    name: str             stable identity stored in the library (e.g. ``"clip:openai/clip-vit-base-patch32"``)
    dim: int              size of the shared clip/text embedding space
    frames_per_clip: int  frames sampled uniformly inside each clip
    frame_size: int|None  square side frames are resized to before ``encode_clips``; None = native

Required methods
    encode_clips(frames)  uint8 RGB ``(n_clips, frames_per_clip, H, W, 3)`` -> float32 ``(n_clips, dim)``,
                          each row L2-normalised
    encode_text(texts)    ``list[str]`` -> ``list[TextFeatures]``, one per text

Optional attributes (read with ``getattr`` and a default)
    model_id: str         weights identity (HF id or path); defaults to ``name``
    max_text_tokens: int  token limit; longer queries are truncated with a warning
    text_dim: int         width of ``TextFeatures.tokens``; defaults to ``dim``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextFeatures(Protocol):
    """Features of one text.

    tokens: float32 ``(n_tokens, d_text)`` per-token features (grounding models attend to them).
    pooled: float32 ``(dim,)`` L2-normalised sentence embedding in the clip space (coarse retrieval).
    """

    tokens: np.ndarray
    pooled: np.ndarray


@dataclass(frozen=True)
class EncodedText:
    """The concrete :class:`TextFeatures` the built-in encoders return."""

    tokens: np.ndarray
    pooled: np.ndarray


@runtime_checkable
class Encoder(Protocol):
    """A video-text encoder (see the module docstring for the full contract)."""

    name: str
    dim: int
    frames_per_clip: int
    frame_size: int | None

    def encode_clips(self, frames: np.ndarray) -> np.ndarray: ...

    def encode_text(self, texts: list[str]) -> list[TextFeatures]: ...


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """Return ``x / ||x||`` along ``axis`` as float32 (rows of zeros stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, eps)
