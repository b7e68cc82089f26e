"""Highlight detection metrics: HD mAP and HIT@1 at a minimum annotator score, as the official scorer.

Labels: per query a ``(num_clips, A)`` matrix of annotator scores (0 outside ``relevant_clip_ids``),
binarised at ``score >= min_score`` (2 Fair, 3 Good, 4 VeryGood).

- HIT@1: the clip with the highest predicted score (first on ties, taken over the whole predicted list)
  is a hit when any annotator labels it positive; an index beyond the clip count is a miss.
- HD mAP: predictions are cut to the clip count or padded with 0. For each query and annotator, AP
  is 0 when no clip is positive and 1 when all are; otherwise thresholds sweep the *distinct*
  predicted scores (tied clips form one step), precision is interpolated as the maximum precision at
  any higher recall, and AP is the unweighted mean of that precision over the distinct recall levels
  reached. (This is not sklearn's ``average_precision_score`` when positives tie.) The result is the
  mean over all (query, annotator) pairs.

Batched: all queries are sorted once and swept together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grounding.eval.official_order import compact_left, rowwise_reduce


def fit_scores(scores: Sequence[np.ndarray], lengths: Sequence[int]) -> list[np.ndarray]:
    """Cut each score vector to its clip count or pad it with 0 (the official rule): float64 ``(L_i,)``."""
    out = []
    for s, length in zip(scores, lengths, strict=True):
        s = np.asarray(s, dtype=np.float64)[:length]
        out.append(np.pad(s, (0, length - len(s))))
    return out


def hit_at_one(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> float:
    """Mean over queries of "the top-scored clip is positive for some annotator", in [0, 1].

    scores: per query float ``(P_i,)`` as predicted (any length); labels: per query bool ``(L_i, A)``.
    """
    hits = np.zeros((len(scores), labels[0].shape[1] if labels else 1))
    for i, (s, y) in enumerate(zip(scores, labels, strict=True)):
        top = int(np.argmax(s))
        if top < len(y):
            hits[i] = y[top]
    return float(np.mean(np.max(hits, axis=1)))


def average_precision(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> np.ndarray:
    """HD AP per query and annotator: float64 ``(Q, A)`` in [0, 1].

    scores: per query float ``(L_i,)`` already fitted to the clip count (:func:`fit_scores`);
    labels: per query binary ``(L_i, A)``.
    """
    n_queries = len(scores)
    n_annotators = labels[0].shape[1]
    width = max(len(s) for s in scores)
    # padded clips score -inf (a threshold of their own after every real clip) and are negative
    padded = np.full((n_queries, width), -np.inf)
    positive = np.zeros((n_queries, width, n_annotators), dtype=bool)
    lengths = np.array([len(s) for s in scores])
    for q, (s, y) in enumerate(zip(scores, labels, strict=True)):
        padded[q, : len(s)] = s
        positive[q, : len(s)] = y > 0
    order = np.argsort(-padded, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(padded, order, axis=1)
    sorted_pos = np.take_along_axis(positive, order[:, :, None], axis=1)  # (Q, W, A)
    # the end of each run of equal scores is one threshold of the sweep
    run_end = np.ones((n_queries, width), dtype=bool)
    run_end[:, :-1] = sorted_scores[:, 1:] != sorted_scores[:, :-1]
    tps = np.cumsum(sorted_pos, axis=1, dtype=np.float64)  # (Q, W, A)
    seen = np.arange(1, width + 1, dtype=np.float64)[None, :, None]
    precision = np.where(run_end[:, :, None], tps / seen, 0.0)
    # interpolated precision: best precision at this threshold or any lower one (higher recall)
    interpolated = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    # tps at the previous threshold: the value just before this run started
    position = np.arange(width)[None, :]
    run_start = np.maximum.accumulate(np.where(np.concatenate(
        [np.ones((n_queries, 1), dtype=bool), run_end[:, :-1]], axis=1), position, 0), axis=1)
    before = np.take_along_axis(tps, np.maximum(run_start - 1, 0)[:, :, None], axis=1)
    before = np.where((run_start > 0)[:, :, None], before, 0.0)
    new_level = run_end[:, :, None] & (tps > before)
    # the official code averages from the lowest threshold upward: reverse the sweep order
    values = np.moveaxis(interpolated[:, ::-1], 2, 1).reshape(-1, width)
    mask = np.moveaxis(new_level[:, ::-1], 2, 1).reshape(-1, width)
    ap = rowwise_reduce(*compact_left(values, mask), reduce="mean").reshape(n_queries, n_annotators)
    n_positive = positive.sum(axis=1)  # (Q, A)
    ap[n_positive == 0] = 0.0
    ap[n_positive == lengths[:, None]] = 1.0
    return ap
