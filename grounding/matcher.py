"""Hungarian matching between predicted spans and ground-truth moments (DETR's bipartite assignment).

Each target moment is assigned to exactly one prediction by minimising a weighted sum of costs with
:func:`scipy.optimize.linear_sum_assignment`. Predictions left unmatched are trained towards the
"no moment" class, which is what lets a fixed set of queries describe a variable number of moments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from grounding.span_ops import generalized_temporal_iou, span_cw_to_se

#: An extra matching cost: ``(outputs, target_spans)`` -> ``(B, Q, T)`` float cost, where ``target_spans``
#: is ``(T, 2)`` normalised (center, width), all targets of the batch concatenated in batch order.
CostFn = Callable[[Mapping[str, Tensor], Tensor], Tensor]

FOREGROUND = 0  # class index of "a moment"; index 1 is "no moment"


@dataclass
class MatcherConfig:
    """Weights of the matching costs (QD-DETR: class 4, span L1 10, GIoU 1: the same as its losses)."""

    cost_class: float = 4.0
    cost_span: float = 10.0
    cost_giou: float = 1.0


class HungarianMatcher(nn.Module):
    """Assigns every target span to one prediction.

    Costs (all weights are plain floats, 0 disables a term):

    * ``class``: ``-p(foreground)`` from ``outputs["pred_logits"]`` ``(B, Q, 2)``;
    * ``span``: L1 distance between normalised (center, width) spans;
    * ``giou``: ``-GIoU`` of the spans as (start, end);
    * ``extra_costs``: named ``(weight, CostFn)`` terms a model adds (e.g. SG-DETR's IoU-prediction cost).
    """

    def __init__(
        self,
        *,
        cost_class: float = 4.0,
        cost_span: float = 10.0,
        cost_giou: float = 1.0,
        extra_costs: Mapping[str, tuple[float, CostFn]] | None = None,
    ) -> None:
        super().__init__()
        self.cost_class = cost_class
        self.cost_span = cost_span
        self.cost_giou = cost_giou
        self.extra_costs = dict(extra_costs or {})
        if not any((cost_class, cost_span, cost_giou, *(w for w, _ in self.extra_costs.values()))):
            raise ValueError("HungarianMatcher needs at least one non-zero cost")

    def cost_matrix(self, outputs: Mapping[str, Tensor], target_spans: Tensor) -> Tensor:
        """Weighted cost of every (prediction, target) pair of the batch.

        Args:
            outputs: ``pred_spans`` float ``(B, Q, 2)`` normalised (center, width); ``pred_logits`` float
                ``(B, Q, 2)`` when ``cost_class`` is non-zero.
            target_spans: float ``(T, 2)`` normalised (center, width), all targets concatenated.

        Returns:
            float ``(B, Q, T)``; only the block of each sample's own targets is used for its assignment.
        """
        pred_spans = outputs["pred_spans"]
        batch, queries, _ = pred_spans.shape
        flat = pred_spans.reshape(batch * queries, 2)
        cost = torch.cdist(flat, target_spans, p=1) * self.cost_span
        if self.cost_giou:
            giou = generalized_temporal_iou(span_cw_to_se(flat), span_cw_to_se(target_spans))
            cost = cost - self.cost_giou * giou
        if self.cost_class:
            prob_fg = outputs["pred_logits"].reshape(batch * queries, -1).softmax(-1)[:, FOREGROUND]
            cost = cost - self.cost_class * prob_fg[:, None]
        cost = cost.reshape(batch, queries, -1)
        for weight, fn in self.extra_costs.values():
            if weight:
                cost = cost + weight * fn(outputs, target_spans)
        return cost

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]]) -> list[tuple[Tensor, Tensor]]:
        """Match predictions to targets sample by sample.

        Args:
            outputs: see :meth:`cost_matrix`.
            targets: one dict per sample with ``"spans"`` float ``(M_i, 2)`` normalised (center, width);
                ``M_i`` may be 0.

        Returns:
            One ``(pred_idx, target_idx)`` pair of int64 tensors of length ``min(Q, M_i)`` per sample:
            prediction ``pred_idx[j]`` is matched to target ``target_idx[j]``.
        """
        pred_spans = outputs["pred_spans"]
        sizes = [len(t["spans"]) for t in targets]
        empty = torch.empty(0, dtype=torch.int64)
        if sum(sizes) == 0:
            return [(empty, empty) for _ in sizes]
        target_spans = torch.cat([t["spans"] for t in targets]).to(pred_spans)
        cost = self.cost_matrix(outputs, target_spans).float().cpu().numpy()
        indices = []
        offset = 0
        for i, size in enumerate(sizes):
            block = cost[i, :, offset : offset + size]
            offset += size
            if size == 0:
                indices.append((empty, empty))
                continue
            rows, cols = linear_sum_assignment(np.nan_to_num(block, nan=1e6))
            indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return indices


def build_matcher(config: MatcherConfig, extra_costs: Mapping[str, tuple[float, CostFn]] | None = None) -> HungarianMatcher:
    """The matcher described by ``config``, plus any model-specific ``extra_costs``."""
    return HungarianMatcher(
        cost_class=config.cost_class, cost_span=config.cost_span, cost_giou=config.cost_giou, extra_costs=extra_costs
    )
