"""Temporal windows: IoU in the two forms the official QVHighlights scorer uses, and length buckets.

Windows are ``[start, end]`` in seconds. The official scorer computes IoU in two ways that are equal
in exact arithmetic but may differ in the last bit, which matters when an IoU sits exactly on a
threshold; each metric uses the same form as the official code so results agree bit for bit:

- :func:`cross_iou` (all pairs): ``inter / (len_a + len_b - inter)``; used by mAP and to pick the GT
  window that R1 compares against;
- :func:`paired_iou` (row by row): ``inter / (max(ends) - min(starts))`` (the convex hull), 0 when that
  is 0; used by R1 and mIoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cross_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every window of ``a`` float ``(N, 2)`` with every window of ``b`` ``(M, 2)``: float64 ``(N, M)``.

    Two empty windows at the same point have IoU ``nan``; callers treat ``nan`` as no overlap.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    right = np.minimum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]``, both float ``(N, 2)``: float64 ``(N,)`` (hull form, 0 for empty hulls)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    inter = np.maximum(0, np.minimum(a[:, 1], b[:, 1]) - np.maximum(a[:, 0], b[:, 0]))
    hull = np.maximum(a[:, 1], b[:, 1]) - np.minimum(a[:, 0], b[:, 0])
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)


@dataclass(frozen=True)
class LengthBucket:
    """GT windows with ``low < end - start <= high`` seconds; ``everything`` keeps all windows."""

    name: str
    low: float
    high: float
    everything: bool = False

    def keep(self, windows: np.ndarray) -> np.ndarray:
        """The windows ``(M, 2)`` of this bucket: ``(M', 2)``."""
        if self.everything:
            return windows
        length = windows[:, 1] - windows[:, 0]
        return windows[(length > self.low) & (length <= self.high)]


#: QVHighlights buckets, in the order the official scorer evaluates them
BUCKETS = (
    LengthBucket("short", 0, 10),
    LengthBucket("middle", 10, 30),
    LengthBucket("long", 30, 150),
    LengthBucket("full", 0, 150, everything=True),
)

#: IoU thresholds: mAP 0.50:0.05:0.95, R1 the same (official) or 0.30:0.05:0.95 (extended, CG-DETR)
MAP_THRESHOLDS = tuple(float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10))
R1_THRESHOLDS = MAP_THRESHOLDS
R1_THRESHOLDS_EXTENDED = tuple(float(f"{t:.2f}") for t in np.linspace(0.3, 0.95, 14))
