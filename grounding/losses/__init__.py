"""Losses shared by the grounding models: the DETR set criterion and the saliency losses."""

from grounding.losses.saliency import (
    margin_ranking_loss,
    negative_pair_loss,
    negative_pair_valid,
    rank_contrastive_loss,
    shift_to_negative_pairs,
)
from grounding.losses.set_criterion import QVHIGHLIGHTS_RANK_THRESHOLDS, SetCriterion

__all__ = [
    "QVHIGHLIGHTS_RANK_THRESHOLDS",
    "SetCriterion",
    "margin_ranking_loss",
    "negative_pair_loss",
    "negative_pair_valid",
    "rank_contrastive_loss",
    "shift_to_negative_pairs",
]
