"""Weighted boxes fusion (Solovyev et al. 2021) of 1-D spans from the DETR and ATSS heads.

Uses the maintained ``ensemble-boxes`` implementation: a span (start, end) becomes the box
(start, 0, end, 1), so the 2-D IoU of two such boxes is exactly the 1-D temporal IoU. Clusters of spans
overlapping by more than ``iou_threshold`` are merged into their score-weighted average span; the fused
score is the mean score of the cluster, scaled down when fewer sources than models voted for it.
"""

from __future__ import annotations

import numpy as np
from ensemble_boxes import weighted_boxes_fusion


def fuse_spans(
    spans: list[np.ndarray],
    scores: list[np.ndarray],
    weights: list[float] | None = None,
    *,
    iou_threshold: float = 0.55,
    skip_score: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse span lists from several detectors of one window.

    spans: per detector a float (K_i, 2) array of normalised (start, end) in [0, 1]; scores: per detector
    (K_i,) in [0, 1]; weights: one per detector (default equal).
    Returns (spans (K, 2) float32 (start, end), scores (K,) float32), sorted by score descending.
    """
    if len(spans) != len(scores):
        raise ValueError("fuse_spans needs one score array per span array")
    boxes, box_scores, labels = [], [], []
    for span, score in zip(spans, scores):
        span = np.clip(np.asarray(span, dtype=np.float64).reshape(-1, 2), 0.0, 1.0)
        span[:, 1] = np.maximum(span[:, 1], span[:, 0])
        boxes.append(np.stack([span[:, 0], np.zeros(len(span)), span[:, 1], np.ones(len(span))], axis=1))
        box_scores.append(np.asarray(score, dtype=np.float64).reshape(-1))
        labels.append(np.zeros(len(span)))
    if sum(len(b) for b in boxes) == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32)
    fused, fused_scores, _ = weighted_boxes_fusion(
        boxes, box_scores, labels, weights=weights, iou_thr=iou_threshold, skip_box_thr=skip_score
    )
    order = np.argsort(-fused_scores, kind="stable")
    return fused[order][:, [0, 2]].astype(np.float32), fused_scores[order].astype(np.float32)
