"""Plug-in encoders for the indexer tests, loaded by import path like a third party's would be.

``tests.plugins_indexer:BarcodeEncoder`` reads the frame-index bar code of every frame it gets
(see :mod:`indexer.videogen`) and records it, so a test can check exactly which frames reached the
encoder; its embedding encodes the first frame's index as an angle so stored vectors can be traced
back to the clip they came from. ``tests.plugins_indexer:SlowTinyEncoder`` is the built-in tiny
encoder slowed down per clip, so a subprocess test can interrupt an index run mid-way.
Neither imports vsearch at module level (a plug-in need not).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

ANGLE_STEP = 0.001  # radians per frame index in BarcodeEncoder embeddings


def frame_index_of(frame: np.ndarray) -> int:
    from indexer.videogen import frame_index_of as read

    return read(frame)


@dataclass(frozen=True)
class _Text:
    tokens: np.ndarray
    pooled: np.ndarray


class BarcodeEncoder:
    """dim 8, 4 frames per clip at native size; ``seen`` logs (frames_per_clip,) indices per clip."""

    name = "barcode"
    model_id = "barcode-v1"
    dim = 8
    frames_per_clip = 4
    frame_size: int | None = None

    def __init__(self) -> None:
        self.seen: list[list[int]] = []
        self.batch_sizes: list[int] = []
        self.batch_shapes: list[tuple[int, ...]] = []

    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        assert frames.dtype == np.uint8 and frames.ndim == 5 and frames.shape[-1] == 3, frames.shape
        self.batch_sizes.append(len(frames))
        self.batch_shapes.append(frames.shape[2:])
        out = np.zeros((len(frames), self.dim), np.float32)
        for i, clip in enumerate(frames):
            indices = [frame_index_of(f) for f in clip]
            self.seen.append(indices)
            out[i, 0] = np.cos(indices[0] * ANGLE_STEP)
            out[i, 1] = np.sin(indices[0] * ANGLE_STEP)
        return out

    def encode_text(self, texts: list[str]) -> list[_Text]:
        pooled = np.zeros(self.dim, np.float32)
        pooled[0] = 1.0
        return [_Text(tokens=pooled[None, :].copy(), pooled=pooled.copy()) for _ in texts]


def first_frame_of(embedding: np.ndarray) -> int:
    """Invert :class:`BarcodeEncoder`'s embedding: the clip's first sampled frame index."""
    return int(round(np.arctan2(embedding[1], embedding[0]) / ANGLE_STEP))


class SlowTinyEncoder:
    """The tiny encoder, sleeping ``$VSEARCH_TEST_SECONDS_PER_CLIP`` (default 0.05 s) per clip."""

    def __init__(self, device: str = "auto") -> None:
        from indexer.encoders.tiny import TinyEncoder

        self._inner = TinyEncoder(device=device)
        self.name = "slow-tiny"
        self.model_id = self._inner.model_id
        self.dim = self._inner.dim
        self.frames_per_clip = self._inner.frames_per_clip
        self.frame_size = self._inner.frame_size
        self.delay = float(os.environ.get("VSEARCH_TEST_SECONDS_PER_CLIP", "0.05"))

    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        time.sleep(self.delay * len(frames))
        return self._inner.encode_clips(frames)

    def encode_text(self, texts: list[str]) -> list[object]:
        return self._inner.encode_text(texts)
