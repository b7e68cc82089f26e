"""1-D anchors and Adaptive Training Sample Selection (ATSS, Zhang et al. CVPR 2020) on clips.

Every clip centre carries one anchor per level; level ``l`` has a width of ``anchor_widths[l]`` clips.
For each ground-truth span ATSS takes, on every level, the ``top_k`` anchors whose centres are nearest to
the span centre, computes their IoU with the span, and keeps as positives those with
IoU >= mean + std of the candidates' IoUs (capped at the best candidate's IoU, so no span is left
without a positive by the statistics alone) whose centre lies inside the span. An anchor claimed by
several spans goes to the one it overlaps most. Spans are normalised to the window length; anchors too.
"""

from __future__ import annotations

import torch

from grounding.span_ops import temporal_iou


def clip_anchors(length: int, padded_length: int, anchor_widths: tuple[int, ...]) -> torch.Tensor:
    """Anchors of one window, laid out (clip, level) and flattened.

    ``length`` real clips out of ``padded_length``; returns float (padded_length * levels, 2) normalised
    (start, end). Anchors of padded clips lie beyond 1 and must be masked by the caller.
    """
    centers = (torch.arange(padded_length, dtype=torch.float32) + 0.5) / length
    half = torch.tensor(anchor_widths, dtype=torch.float32) / (2.0 * length)
    starts = centers[:, None] - half[None, :]
    ends = centers[:, None] + half[None, :]
    return torch.stack([starts, ends], dim=-1).reshape(-1, 2)


def atss_assign(
    anchors: torch.Tensor,
    anchor_valid: torch.Tensor,
    num_levels: int,
    gt_spans: torch.Tensor,
    top_k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign anchors of one window to ground-truth spans.

    anchors: float (A, 2) (start, end) laid out (clip, level) with A = clips * num_levels;
    anchor_valid: bool (A,) False for anchors of padded clips; gt_spans: float (M, 2) (start, end).
    Returns (assigned (A,) long: index of the span or -1 for a negative, iou (A,) float: IoU with the
    assigned span, 0 for negatives).
    """
    num_anchors = anchors.shape[0]
    assigned = torch.full((num_anchors,), -1, dtype=torch.long, device=anchors.device)
    best_iou = torch.zeros(num_anchors, device=anchors.device)
    if gt_spans.numel() == 0:
        return assigned, best_iou
    iou, _ = temporal_iou(anchors, gt_spans)  # (A, M)
    anchor_centers = anchors.mean(dim=-1)
    distance = (anchor_centers[:, None] - gt_spans.mean(dim=-1)[None, :]).abs()
    distance = distance.masked_fill(~anchor_valid[:, None], float("inf"))

    level_of = torch.arange(num_anchors, device=anchors.device) % num_levels
    candidates = []
    for level in range(num_levels):
        index = (level_of == level).nonzero(as_tuple=True)[0]
        k = min(top_k, int(anchor_valid[index].sum()))
        if k == 0:
            continue
        nearest = distance[index].topk(k, dim=0, largest=False).indices  # (k, M)
        candidates.append(index[nearest])
    candidate_index = torch.cat(candidates, dim=0)  # (C, M)
    candidate_iou = iou.gather(0, candidate_index)
    threshold = candidate_iou.mean(0) + (candidate_iou.std(0) if candidate_index.shape[0] > 1 else 0.0)
    # With few candidates mean + std can exceed every candidate; a span then keeps its best one.
    threshold = torch.minimum(threshold, candidate_iou.max(0).values)

    centers = anchor_centers[candidate_index]
    inside = (centers > gt_spans[None, :, 0]) & (centers < gt_spans[None, :, 1])
    positive = (candidate_iou >= threshold[None, :]) & inside  # (C, M)

    # Dense (A, M) overlap kept only where the pair is a positive; each anchor takes its best span.
    kept = torch.full_like(iou, -1.0)
    gt_index = torch.arange(gt_spans.shape[0], device=anchors.device).expand_as(candidate_index)
    kept[candidate_index[positive], gt_index[positive]] = candidate_iou[positive]
    best, best_gt = kept.max(dim=1)
    is_positive = best >= 0
    assigned[is_positive] = best_gt[is_positive]
    best_iou[is_positive] = best[is_positive]
    return assigned, best_iou
