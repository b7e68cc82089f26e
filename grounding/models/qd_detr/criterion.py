"""QD-DETR's criterion: the shared :class:`~grounding.losses.SetCriterion` with QD-DETR's weights and
QD-DETR's normalisation of the foreground/background cross-entropy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from grounding.losses import SetCriterion
from grounding.losses.set_criterion import Indices
from grounding.matcher import FOREGROUND, build_matcher
from grounding.models.qd_detr.config import QDDETRConfig


class QDDETRCriterion(SetCriterion):
    """:class:`SetCriterion` whose label loss averages over every query, as QD-DETR (and Moment-DETR) do.

    ``F.cross_entropy(weight=...)`` with the default reduction divides by the *sum of the class weights*
    (DETR's choice). With ``Q`` queries, ``m`` of them matched and ``eos_coef`` 0.1 that denominator is
    ``m + 0.1 (Q - m)`` (about 2 for 10 queries and 1-2 moments) instead of ``Q``: the label loss comes
    out ~5x larger than the one QD-DETR's weights (label 4, span 10, GIoU 1) were tuned for, and its
    gradient crowds out the span regression early in training.
    """

    def loss_label(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """Class-weighted 2-way cross-entropy, mean over all ``B x Q`` queries: matched -> moment."""
        logits = outputs["pred_logits"]  # (B, Q, 2)
        target = torch.full(logits.shape[:2], 1 - FOREGROUND, dtype=torch.int64, device=logits.device)
        target[self._matched(indices, logits.device)] = FOREGROUND
        weight = self.class_weight.to(logits.dtype)
        return F.cross_entropy(logits.transpose(1, 2), target, weight=weight, reduction="none").mean()


def build_criterion(config: QDDETRConfig) -> QDDETRCriterion:
    """Span L1 x10, GIoU x1, foreground CE x4 (eos 0.1) on every decoder layer, matched with the same
    costs; margin ranking, rank contrastive and negative-pair saliency losses x1 on the final output."""
    loss = config.loss
    weights = loss.weights()
    if not config.model.negative_pairs:
        weights["saliency_neg_pair"] = 0.0
    return QDDETRCriterion(
        matcher=build_matcher(config.matcher),
        weights=weights,
        eos_coef=loss.eos_coef,
        saliency_margin=loss.margin,
        rank_thresholds=loss.rank_thresholds,
        rank_temperature=loss.rank_temperature,
    )
