"""DETR-style set criterion: Hungarian-matched span losses plus the saliency losses.

One method per loss, chosen by name: ``loss_<name>(outputs, batch, indices) -> Tensor``. The weights
live in one dict; a loss with weight 0 is not computed. Losses named in ``per_layer_losses`` are also
applied to every auxiliary decoder layer (``outputs["aux_outputs"][i]``) and reported with the suffix
``_i`` (``loss_span_0``, ``loss_span_1``...); the others apply to the final outputs only.

Model outputs read here (a model may add more for its own losses):

* ``pred_logits`` float ``(B, Q, 2)``: class logits, index 0 = moment, 1 = no moment;
* ``pred_spans`` float ``(B, Q, 2)``: normalised (center, width);
* ``aux_outputs``: list of dicts with the two keys above, one per earlier decoder layer;
* ``saliency_scores`` float ``(B, L)``: saliency logits;
* ``saliency_scores_neg`` float ``(B, L)``: saliency logits with the partner's query (negative pairs).

The batch is a :class:`grounding.data.dataset.Batch` (``targets``, ``video_mask``, ``saliency``,
``saliency_pos``, ``saliency_neg``, ``vids``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grounding.losses.saliency import (
    margin_ranking_loss,
    negative_pair_loss,
    negative_pair_valid,
    rank_contrastive_loss,
)
from grounding.matcher import FOREGROUND, HungarianMatcher
from grounding.span_ops import paired_generalized_temporal_iou, span_cw_to_se

Indices = list[tuple[Tensor, Tensor]]

#: QD-DETR's rank levels: its labels are three annotators' 0-4 scores summed (levels 1..11); ours are the
#: mean score, so the same levels are k / 3.
QVHIGHLIGHTS_RANK_THRESHOLDS: tuple[float, ...] = tuple(k / 3 for k in range(1, 12))


class SetCriterion(nn.Module):
    """Computes the weighted losses of a DETR-style MR/HD model.

    Args:
        matcher: assigns targets to predictions (run once per decoder layer).
        weights: loss name -> weight, e.g. ``{"span": 10, "giou": 1, "label": 4, "saliency_margin": 1,
            "saliency_rank_contrastive": 1, "saliency_neg_pair": 1}``.
        eos_coef: class weight of "no moment" in the label loss (there are many more of those).
        saliency_margin: margin of the margin-ranking loss.
        rank_thresholds: saliency levels of the rank-contrastive loss (unit of ``Batch.saliency``).
        rank_temperature: softmax temperature of the rank-contrastive loss.
    """

    per_layer_losses: ClassVar[tuple[str, ...]] = ("label", "span", "giou")

    def __init__(
        self,
        *,
        matcher: HungarianMatcher,
        weights: Mapping[str, float],
        eos_coef: float = 0.1,
        saliency_margin: float = 0.2,
        rank_thresholds: Sequence[float] = QVHIGHLIGHTS_RANK_THRESHOLDS,
        rank_temperature: float = 0.5,
        label_mean_over_queries: bool = False,
    ) -> None:
        super().__init__()
        unknown = [name for name in weights if not callable(getattr(self, f"loss_{name}", None))]
        if unknown:
            raise ValueError(f"unknown losses {unknown}; {type(self).__name__} has no loss_<name> method for them")
        self.matcher = matcher
        self.weights = {name: float(w) for name, w in weights.items() if w}
        self.saliency_margin = saliency_margin
        self.rank_thresholds = tuple(rank_thresholds)
        self.rank_temperature = rank_temperature
        self.label_mean_over_queries = label_mean_over_queries
        class_weight = torch.ones(2)
        class_weight[1 - FOREGROUND] = eos_coef
        self.register_buffer("class_weight", class_weight, persistent=False)

    # ----- set losses (computed for the final and every auxiliary layer) -----

    def loss_label(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """Weighted 2-way cross-entropy: matched queries -> moment, the others -> no moment.

        Normalised like DETR by the sum of the class weights (``F.cross_entropy``'s weighted mean), or
        with ``label_mean_over_queries`` by the number of queries ``B x Q`` as Moment-DETR / QD-DETR do.
        With ``m`` of ``Q`` queries matched and ``eos_coef`` 0.1 the first denominator is
        ``m + 0.1 (Q - m)``: about 2 instead of 10 for 10 queries, a ~5x heavier label loss.
        """
        logits = outputs["pred_logits"]  # (B, Q, 2)
        target = torch.full(logits.shape[:2], 1 - FOREGROUND, dtype=torch.int64, device=logits.device)
        target[self._matched(indices, logits.device)] = FOREGROUND
        weight = self.class_weight.to(logits.dtype)
        if self.label_mean_over_queries:
            return F.cross_entropy(logits.transpose(1, 2), target, weight=weight, reduction="none").mean()
        return F.cross_entropy(logits.transpose(1, 2), target, weight=weight)

    def loss_span(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """L1 between matched (center, width) spans, mean over spans and coordinates."""
        pred, target = self._matched_spans(outputs, batch, indices)
        if pred.numel() == 0:
            return outputs["pred_spans"].sum() * 0
        return F.l1_loss(pred, target)

    def loss_giou(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """``1 - GIoU`` between matched spans, mean over spans."""
        pred, target = self._matched_spans(outputs, batch, indices)
        if pred.numel() == 0:
            return outputs["pred_spans"].sum() * 0
        return (1 - paired_generalized_temporal_iou(span_cw_to_se(pred), span_cw_to_se(target))).mean()

    # ----- saliency losses (final outputs only) -----

    def loss_saliency_margin(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """Margin ranking between the batch's sampled (positive, negative) clip pairs."""
        return margin_ranking_loss(
            outputs["saliency_scores"], batch.saliency_pos, batch.saliency_neg, margin=self.saliency_margin
        )

    def loss_saliency_rank_contrastive(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """Rank contrastive over the window's clips and, for true negative pairs, the same clips scored
        against the partner's query (labelled 0)."""
        scores, mask, labels = outputs["saliency_scores"], batch.video_mask, batch.saliency
        if "saliency_scores_neg" in outputs:
            valid = negative_pair_valid(batch.vids, device=mask.device)
            scores = torch.cat([scores, outputs["saliency_scores_neg"]], dim=1)
            labels = torch.cat([labels, torch.zeros_like(labels)], dim=1)
            mask = torch.cat([mask, mask & valid[:, None]], dim=1)
        return rank_contrastive_loss(
            scores, labels, mask, thresholds=self.rank_thresholds, temperature=self.rank_temperature
        )

    def loss_saliency_neg_pair(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """Clips scored against another video's query are pushed to "irrelevant" (0 without negatives,
        e.g. a batch of one)."""
        if "saliency_scores_neg" not in outputs:
            return outputs["saliency_scores"].sum() * 0
        valid = negative_pair_valid(batch.vids, device=batch.video_mask.device)
        return negative_pair_loss(outputs["saliency_scores_neg"], batch.video_mask, valid)

    # ----- driver -----

    def forward(self, outputs: Mapping[str, Any], batch: Any) -> dict[str, Tensor]:
        """``(model outputs, Batch)`` -> ``{"loss_<name>[_<layer>]": weighted scalar}``; sum them to train."""
        losses: dict[str, Tensor] = {}
        layer_names = [name for name in self.weights if name in self.per_layer_losses]
        final_names = [name for name in self.weights if name not in self.per_layer_losses]
        indices = self.matcher(outputs, batch.targets) if layer_names else []
        for name in layer_names:
            losses[f"loss_{name}"] = self.weights[name] * getattr(self, f"loss_{name}")(outputs, batch, indices)
        for name in final_names:
            losses[f"loss_{name}"] = self.weights[name] * getattr(self, f"loss_{name}")(outputs, batch, indices)
        for layer, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_indices = self.matcher(aux, batch.targets) if layer_names else []
            for name in layer_names:
                loss = getattr(self, f"loss_{name}")(aux, batch, aux_indices)
                losses[f"loss_{name}_{layer}"] = self.weights[name] * loss
        return losses

    @staticmethod
    def _matched(indices: Indices, device: torch.device) -> tuple[Tensor, Tensor]:
        """(batch_idx, query_idx) int64 of every matched prediction."""
        batch_idx = torch.cat([torch.full_like(pred, i) for i, (pred, _) in enumerate(indices)])
        query_idx = torch.cat([pred for pred, _ in indices])
        return batch_idx.to(device), query_idx.to(device)

    def _matched_spans(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> tuple[Tensor, Tensor]:
        """Matched predicted and target spans, both float ``(n_matched, 2)`` (center, width)."""
        pred_spans = outputs["pred_spans"]
        pred = pred_spans[self._matched(indices, pred_spans.device)]
        target = torch.cat(
            [t["spans"].to(pred_spans)[tgt.to(pred_spans.device)] for t, (_, tgt) in zip(batch.targets, indices)]
        )
        return pred, target
