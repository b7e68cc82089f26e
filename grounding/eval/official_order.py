"""Row-wise sums and means that round exactly like the official scorer's per-query numpy calls.

The official scorer reduces one small 1-D array per query (``np.sum`` of AP terms, ``np.mean`` of
interpolated precisions). numpy sums with pairwise blocks of 8, so the last bit of a sum depends on
the array length. To reproduce it while working on all queries at once, the selected entries of
each row are moved to the front and rows with the same count are reduced together as one contiguous
``(rows, count)`` block, which numpy reduces row by row with the same routine as a 1-D array.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


def compact_left(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move the masked entries of each row of ``values`` float ``(R, K)`` to its front, in order.

    Returns float64 ``(R, K)`` (zeros after the moved entries) and int ``(R,)`` counts.
    """
    order = np.argsort(~mask, axis=1, kind="stable")
    return np.take_along_axis(np.where(mask, values, 0.0), order, axis=1), mask.sum(axis=1)


def rowwise_reduce(values: np.ndarray, counts: np.ndarray, reduce: Literal["sum", "mean"]) -> np.ndarray:
    """Sum or mean of the first ``counts[r]`` entries of each row of ``values`` ``(R, K)``: float64 ``(R,)``.

    Rows with count 0 give 0.
    """
    out = np.zeros(len(values), dtype=np.float64)
    for count in np.unique(counts):
        if count == 0:
            continue
        rows = np.flatnonzero(counts == count)
        block = np.ascontiguousarray(values[rows, :count])
        out[rows] = block.mean(axis=1) if reduce == "mean" else block.sum(axis=1)
    return out
