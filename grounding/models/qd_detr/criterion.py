"""QD-DETR's criterion: the shared :class:`~grounding.losses.SetCriterion` with QD-DETR's weights and
QD-DETR's normalisation of the foreground/background cross-entropy (mean over all queries)."""

from __future__ import annotations

from grounding.losses import SetCriterion
from grounding.matcher import build_matcher
from grounding.models.qd_detr.config import QDDETRConfig


def build_criterion(config: QDDETRConfig) -> SetCriterion:
    """Span L1 x10, GIoU x1, foreground CE x4 (eos 0.1, averaged over every query as in the official
    code) on every decoder layer, matched with the same costs; margin ranking, rank contrastive and
    negative-pair saliency losses x1 on the final output."""
    loss = config.loss
    weights = loss.weights()
    if not config.model.negative_pairs:
        weights["saliency_neg_pair"] = 0.0
    return SetCriterion(
        matcher=build_matcher(config.matcher),
        weights=weights,
        eos_coef=loss.eos_coef,
        saliency_margin=loss.margin,
        rank_thresholds=loss.rank_thresholds,
        rank_temperature=loss.rank_temperature,
        label_mean_over_queries=True,
    )
