"""Moment retrieval metrics: R1@t and mIoU of the top-1 window, and detection mAP over IoU thresholds.

Definitions follow the official QVHighlights scorer exactly (see ``/work/shared/data/qvhighlights``):

- R1: the *first* predicted window is the top-1 (no re-sorting). It is compared with the GT window of
  highest :func:`cross_iou` (first in GT order on ties) using :func:`paired_iou`.
- AP per query and threshold: the first ``max_windows`` predictions, stably sorted by score; each one,
  in turn, claims the unclaimed GT window of highest IoU if that IoU >= t (equal IoUs: the later GT
  window first, as the official loop visits them), else it is a false positive; AP is the area under
  the VOC-2011 interpolated precision/recall curve with ``#GT windows`` positives.

Everything is batched over queries and thresholds with numpy; sums are taken in the same order and
grouping as the official code (:mod:`grounding.eval.official_order`) so the rounded numbers agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grounding.eval.official_order import compact_left, rowwise_reduce
from grounding.eval.windows import cross_iou, paired_iou


def top1_ious(predicted: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray]) -> np.ndarray:
    """IoU of each query's first predicted window with its best-matching GT window: float64 ``(Q,)``.

    predicted: per query float ``(P_i, >=2)`` ``[start, end, (score)]`` seconds, ``P_i >= 1``;
    ground_truth: per query float ``(G_i, 2)`` seconds, ``G_i >= 1``.
    """
    tops = np.array([np.asarray(p, dtype=np.float64)[0, :2] for p in predicted]).reshape(-1, 2)
    best = np.empty((len(tops), 2), dtype=np.float64)
    for i, (top, gt) in enumerate(zip(tops, ground_truth, strict=True)):
        ious = cross_iou(top[None], gt)[0]
        best[i] = gt[int(np.argmax(ious))]
    return paired_iou(tops, best)


def recall_at_one(ious: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Share of queries whose top-1 IoU >= t, for each threshold: float64 ``(T,)`` in [0, 1]."""
    return np.array([np.mean(ious >= t) for t in thresholds], dtype=np.float64)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """VOC-2011 AP of each row of precision/recall curves float ``(R, P)``: float64 ``(R,)``.

    The curve is framed by (recall 0, precision 0) and (recall 1, precision 0), precision is made
    non-increasing from the right, and each recall step is weighted by its increase.
    """
    rows = precision.shape[0]
    mprec = np.concatenate([np.zeros((rows, 1)), precision, np.zeros((rows, 1))], axis=1)
    mrec = np.concatenate([np.zeros((rows, 1)), recall, np.ones((rows, 1))], axis=1)
    mprec = np.maximum.accumulate(mprec[:, ::-1], axis=1)[:, ::-1]
    step = mrec[:, 1:] != mrec[:, :-1]
    terms = (mrec[:, 1:] - mrec[:, :-1]) * mprec[:, 1:]
    return rowwise_reduce(*compact_left(terms, step), reduce="sum")


def average_precision(
    predicted: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    thresholds: Sequence[float],
    max_windows: int | None = 10,
) -> np.ndarray:
    """Detection AP per query and IoU threshold: float64 ``(Q, T)`` in [0, 1].

    predicted: per query float ``(P_i, 3)`` ``[start, end, score]`` seconds (``P_i`` may be 0 -> AP 0);
    ground_truth: per query float ``(G_i, 2)`` seconds.
    """
    n_queries, n_thresholds = len(predicted), len(thresholds)
    preds = []
    for p in predicted:
        p = np.asarray(p, dtype=np.float64).reshape(-1, 3)
        p = p[:max_windows] if max_windows is not None else p
        preds.append(p[np.argsort(-p[:, 2], kind="stable")])
    n_pred = max((len(p) for p in preds), default=0)
    n_gt = max((len(g) for g in ground_truth), default=0)
    if n_pred == 0 or n_queries == 0:
        return np.zeros((n_queries, n_thresholds))
    iou = np.full((n_queries, n_pred, max(n_gt, 1)), -np.inf)
    valid = np.zeros((n_queries, n_pred), dtype=bool)
    for q, (p, g) in enumerate(zip(preds, ground_truth, strict=True)):
        if len(p) and len(g):
            iou[q, : len(p), : len(g)] = cross_iou(p[:, :2], np.asarray(g, dtype=np.float64))
        valid[q, : len(p)] = True
    iou = np.nan_to_num(iou, nan=-np.inf)
    thr = np.asarray(thresholds, dtype=np.float64)[None, :, None]
    claimed = np.zeros((n_queries, n_thresholds, iou.shape[2]), dtype=bool)
    tp = np.zeros((n_queries, n_thresholds, n_pred))
    fp = np.zeros((n_queries, n_thresholds, n_pred))
    gt_index = np.arange(iou.shape[2])
    for k in range(n_pred):
        candidate = (iou[:, k, None, :] >= thr) & ~claimed
        score = np.where(candidate, iou[:, k, None, :], -np.inf)
        # highest IoU, and on ties the later GT window (np.argmax takes the first, so flip)
        pick = iou.shape[2] - 1 - np.argmax(score[..., ::-1], axis=-1)
        hit = candidate.any(axis=-1)
        claimed |= hit[..., None] & (gt_index == pick[..., None])
        tp[:, :, k] = hit & valid[:, k, None]
        fp[:, :, k] = ~hit & valid[:, k, None]
    tp_cum, fp_cum = np.cumsum(tp, axis=2), np.cumsum(fp, axis=2)
    positives = np.array([len(g) for g in ground_truth], dtype=np.float64)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp_cum / positives
        precision = np.divide(tp_cum, tp_cum + fp_cum, out=np.zeros_like(tp_cum), where=(tp_cum + fp_cum) > 0)
    ap = interpolated_ap(precision.reshape(-1, n_pred), recall.reshape(-1, n_pred)).reshape(n_queries, n_thresholds)
    ap[~valid.any(axis=1)] = 0.0
    return ap
