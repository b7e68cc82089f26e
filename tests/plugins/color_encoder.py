"""A deterministic colour encoder plug-in: makes generated solid-colour videos queryable by words.

Loaded by import path ``tests.plugins.color_encoder:ColorEncoder`` (it imports nothing from vsearch,
like a third-party plug-in). Embedding space: one axis per palette colour plus an ``other`` axis.

- ``encode_clips``: each clip's mean colour (below the frame-index bar code that
  :mod:`indexer.videogen` draws in the top rows) -> a Gaussian affinity to every palette colour
  (sigma 40 in 0-255 RGB units, so codec drift of a few levels is irrelevant) -> L2-normalised.
  A pure red clip is therefore ~the red axis.
- ``encode_text``: one token per word (``\\w+``, any script); colour words map to their axis, every
  other word to ``other``; pooled = normalised sum of the tokens' axes, so "a red car" ~ red axis.
  Text longer than ``max_text_tokens`` words is truncated with a ``UserWarning`` (as CLIP does).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
}
COLOR_NAMES = tuple(PALETTE)
OTHER_AXIS = len(COLOR_NAMES)
SIGMA = 40.0


@dataclass(frozen=True)
class ColorText:
    """TextFeatures: tokens float32 (n_words, dim), pooled float32 (dim,)."""

    tokens: np.ndarray
    pooled: np.ndarray


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class ColorEncoder:
    """Colour-palette encoder (see the module docstring); ``dim`` = palette size + 1."""

    name = "test-color"
    model_id = "test-color-v1"
    dim = len(COLOR_NAMES) + 1
    text_dim = dim
    frames_per_clip = 2
    frame_size: int | None = 32
    max_text_tokens = 16

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._palette = np.asarray([PALETTE[c] for c in COLOR_NAMES], dtype=np.float32)

    def color_vector(self, rgb: np.ndarray) -> np.ndarray:
        """float ``(n, 3)`` mean RGB -> float32 ``(n, dim)`` L2-normalised embeddings."""
        dist2 = ((np.asarray(rgb, dtype=np.float32)[:, None, :] - self._palette[None]) ** 2).sum(-1)
        affinity = np.exp(-dist2 / (2 * SIGMA**2))
        other = np.full((affinity.shape[0], 1), 0.05, dtype=np.float32)
        return _normalise(np.concatenate([affinity, other], axis=1))

    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(n_clips, frames_per_clip, H, W, 3)`` -> float32 ``(n_clips, dim)``."""
        frames = np.asarray(frames)
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"expected (n, t, H, W, 3) frames, got {frames.shape}")
        below_barcode = frames[:, :, frames.shape[2] // 4:, :, :].astype(np.float32)
        return self.color_vector(below_barcode.mean(axis=(1, 2, 3)))

    def axis(self, word: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        vec[COLOR_NAMES.index(word) if word in PALETTE else OTHER_AXIS] = 1.0
        return vec

    def encode_text(self, texts: list[str]) -> list[ColorText]:
        out = []
        for text in texts:
            words = re.findall(r"\w+", text.lower())
            if len(words) > self.max_text_tokens:
                warnings.warn(
                    f"query longer than {self.max_text_tokens} tokens ({len(words)}); truncated for {self.name}",
                    UserWarning, stacklevel=2,
                )
                words = words[: self.max_text_tokens]
            tokens = np.stack([self.axis(w) for w in words]) if words else self.axis("")[None]
            colours = tokens[:, :OTHER_AXIS].sum(0)
            pooled = np.concatenate([colours, [0.0]]) if colours.any() else self.axis("")
            out.append(ColorText(tokens=tokens.astype(np.float32), pooled=_normalise(pooled)))
        return out
