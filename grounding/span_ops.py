"""Temporal span arithmetic shared by every DETR-style grounding model.

Spans are 1-D boxes on a window's time axis. Two encodings are used:

* ``cw``: ``(center, width)``, the regression target of the decoders, normalised to ``[0, 1]`` of the
  window length;
* ``se``: ``(start, end)`` in the same unit (normalised, clip indices or seconds: the functions are
  unit-agnostic as long as both arguments share it).

All functions take float tensors whose last dimension is 2 and broadcast over leading batch dimensions,
so ``(B, Q, 2)`` predictions can be compared with ``(B, M, 2)`` targets in one call.
"""

from __future__ import annotations

import torch
from torch import Tensor


def span_cw_to_se(spans: Tensor) -> Tensor:
    """``(..., 2)`` (center, width) -> ``(..., 2)`` (start, end), same unit."""
    center, width = spans.unbind(-1)
    return torch.stack((center - 0.5 * width, center + 0.5 * width), dim=-1)


def span_se_to_cw(spans: Tensor) -> Tensor:
    """``(..., 2)`` (start, end) -> ``(..., 2)`` (center, width), same unit."""
    start, end = spans.unbind(-1)
    return torch.stack((0.5 * (start + end), end - start), dim=-1)


def temporal_iou(spans_a: Tensor, spans_b: Tensor) -> tuple[Tensor, Tensor]:
    """Pairwise IoU of two sets of (start, end) spans.

    Args:
        spans_a: ``(..., N, 2)`` float (start, end) with end >= start.
        spans_b: ``(..., M, 2)`` float (start, end), same unit and broadcastable leading dims.

    Returns:
        ``(iou, union)``, both ``(..., N, M)`` float. A pair with zero union (two empty spans at one
        point) has IoU 0.
    """
    area_a = (spans_a[..., 1] - spans_a[..., 0]).unsqueeze(-1)  # (..., N, 1)
    area_b = (spans_b[..., 1] - spans_b[..., 0]).unsqueeze(-2)  # (..., 1, M)
    left = torch.maximum(spans_a[..., :, None, 0], spans_b[..., None, :, 0])
    right = torch.minimum(spans_a[..., :, None, 1], spans_b[..., None, :, 1])
    inter = (right - left).clamp(min=0)
    union = area_a + area_b - inter
    iou = torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))
    return iou, union


def generalized_temporal_iou(spans_a: Tensor, spans_b: Tensor) -> Tensor:
    """Pairwise generalised IoU (Rezatofighi et al., 2019) of (start, end) spans.

    ``GIoU = IoU - (|hull| - |union|) / |hull|`` where the hull is the smallest span covering both;
    it lies in ``[-1, 1]`` and, unlike IoU, still gives a gradient to disjoint spans.

    Args:
        spans_a: ``(..., N, 2)`` float (start, end), end >= start.
        spans_b: ``(..., M, 2)`` float (start, end).

    Returns:
        ``(..., N, M)`` float.
    """
    iou, union = temporal_iou(spans_a, spans_b)
    left = torch.minimum(spans_a[..., :, None, 0], spans_b[..., None, :, 0])
    right = torch.maximum(spans_a[..., :, None, 1], spans_b[..., None, :, 1])
    hull = (right - left).clamp(min=0)
    penalty = torch.where(hull > 0, (hull - union) / hull.clamp(min=torch.finfo(hull.dtype).tiny), torch.zeros_like(hull))
    return iou - penalty


def paired_generalized_temporal_iou(spans_a: Tensor, spans_b: Tensor) -> Tensor:
    """Element-wise GIoU of matched pairs: ``(..., 2)`` and ``(..., 2)`` (start, end) -> ``(...)``.

    The diagonal of :func:`generalized_temporal_iou` without building the ``N x N`` matrix.
    """
    return generalized_temporal_iou(spans_a.unsqueeze(-2), spans_b.unsqueeze(-2))[..., 0, 0]


def inverse_sigmoid(x: Tensor, eps: float = 1e-3) -> Tensor:
    """Logit of ``x`` clamped to ``[eps, 1 - eps]``: maps normalised anchors back to the space in which
    decoders add their refinements (DAB-DETR), without infinities at 0 and 1."""
    x = x.clamp(min=0.0, max=1.0)
    return torch.log(x.clamp(min=eps) / (1.0 - x).clamp(min=eps))
