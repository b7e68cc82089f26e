"""SG-DETR training objective (Appendix C of the paper) on top of the shared DETR :class:`SetCriterion`.

    L = λ_detr·L_detr + λ_atss·L_atss + λ_hl·L_hl + λ_aux·L_aux

* L_detr: label CE (×5), span L1 (×10), GIoU (×1) and IoU-head BCE (×1) on the Hungarian-matched final
  decoder layer, every auxiliary layer (``_0``, ``_1``), the selected encoder proposals (``_enc``), the
  denoising queries (``_dn_<layer>``, matched by construction) and the Co-DETR extra queries
  (``_extra_<layer>``, matched by the ATSS assignment). The matcher adds −σ(IoU) to its cost.
* L_atss: focal label, L1, GIoU and centerness of the ATSS head (:func:`atss_losses`).
* L_hl: margin ranking, rank contrastive, BCE of clips vs "relevant" and negative-pair BCE, each on
  S_global and on S_local (only S_local when the global saliency module is off).
* L_aux: moment / non-moment BCE of S_local and the CG-DETR moment-sentence alignment: the mean F_v of a
  window's moment clips must pick its own sentence token F_sent among the batch's (InfoNCE both ways).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from grounding.losses.set_criterion import Indices, SetCriterion
from grounding.matcher import HungarianMatcher
from grounding.models.sg_detr.atss_head import atss_losses
from grounding.models.sg_detr.config import SGDETRConfig
from grounding.span_ops import span_cw_to_se, temporal_iou


def iou_matching_cost(outputs: Mapping[str, Tensor], target_spans: Tensor) -> Tensor:
    """−σ(predicted IoU) of every query, the same for every target: (B, Q, T); 0 for outputs without an
    IoU prediction (the encoder proposals)."""
    if "pred_iou" not in outputs:
        b, q, _ = outputs["pred_spans"].shape
        return outputs["pred_spans"].new_zeros(b, q, target_spans.shape[0])
    iou = torch.sigmoid(outputs["pred_iou"])
    return -iou.unsqueeze(-1).expand(-1, -1, target_spans.shape[0])


def moment_clip_labels(targets: list[dict[str, Tensor]], video_mask: Tensor) -> Tensor:
    """float (B, L): 1 where the clip centre lies inside a ground-truth span of its window, else 0."""
    labels = torch.zeros(video_mask.shape, device=video_mask.device)
    lengths = video_mask.sum(1)
    for b, target in enumerate(targets):
        spans = span_cw_to_se(target["spans"].to(labels))
        if spans.numel() == 0:
            continue
        centers = (torch.arange(video_mask.shape[1], device=labels.device) + 0.5) / lengths[b]
        inside = (centers[:, None] >= spans[None, :, 0]) & (centers[:, None] <= spans[None, :, 1])
        labels[b] = inside.any(1).float() * video_mask[b]
    return labels


class SGDETRCriterion(SetCriterion):
    """``(outputs of SGDETR.forward, Batch) -> {"loss_<name>[_<group>][_<layer>]": weighted scalar}``."""

    per_layer_losses: ClassVar[tuple[str, ...]] = ("label", "span", "giou", "iou")

    def __init__(self, config: SGDETRConfig) -> None:
        model, w, costs = config.model, config.loss, config.matcher
        iou_on = model.iou_head.enabled
        matcher = HungarianMatcher(
            cost_class=costs.label, cost_span=costs.span, cost_giou=costs.giou,
            extra_costs={"iou": (costs.iou, iou_matching_cost)} if iou_on else None,
        )
        weights = {
            "label": w.label * w.lambda_detr,
            "span": w.span * w.lambda_detr,
            "giou": w.giou * w.lambda_detr,
            "iou": w.iou * w.lambda_detr if iou_on else 0.0,
            "saliency_margin": w.saliency_margin * w.lambda_hl,
            "saliency_rank_contrastive": w.saliency_rank_contrastive * w.lambda_hl,
            "saliency_bce": w.saliency_bce * w.lambda_hl,
            "saliency_neg_pair": w.saliency_neg_pair * w.lambda_hl if model.negative_pairs else 0.0,
            "moment_bce": w.moment_bce * w.lambda_aux,
            "alignment": w.alignment * w.lambda_aux,
        }
        super().__init__(
            matcher=matcher, weights=weights, eos_coef=w.eos_coef,
            saliency_margin=w.saliency_margin_value, rank_temperature=w.rank_temperature,
            rank_thresholds=w.rank_thresholds,
        )
        self.global_saliency = model.amplifier.enabled
        self.alignment_temperature = w.alignment_temperature
        self.atss_weights = (
            {name: getattr(w, name) * w.lambda_atss
             for name in ("atss_label", "atss_l1", "atss_giou", "atss_centerness")}
            if model.atss.enabled else {}
        )
        self.focal = (model.atss.focal_alpha, model.atss.focal_gamma)

    # ----- per-layer losses -----

    def loss_iou(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """BCE of the IoU head against the IoU of each query's (detached) span with its best ground truth."""
        pred_iou = outputs["pred_iou"]
        spans = span_cw_to_se(outputs["pred_spans"].detach())
        target = torch.zeros_like(pred_iou)
        for b, t in enumerate(batch.targets):
            if len(t["spans"]):
                iou, _ = temporal_iou(spans[b], span_cw_to_se(t["spans"].to(spans)))
                target[b] = iou.max(dim=1).values
        return F.binary_cross_entropy_with_logits(pred_iou, target)

    # ----- saliency losses: S_global and S_local -----

    def _both(self, outputs: Mapping[str, Any], compute: Any) -> Tensor:
        """``compute(outputs)`` on S_global, plus on S_local when the global saliency module is on."""
        total = compute(outputs)
        if self.global_saliency:
            local = {"saliency_scores": outputs["saliency_local"]}
            if "saliency_local_neg" in outputs:
                local["saliency_scores_neg"] = outputs["saliency_local_neg"]
            total = total + compute(local)
        return total

    def loss_saliency_margin(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        return self._both(outputs, lambda o: SetCriterion.loss_saliency_margin(self, o, batch, indices))

    def loss_saliency_rank_contrastive(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        return self._both(outputs, lambda o: SetCriterion.loss_saliency_rank_contrastive(self, o, batch, indices))

    def loss_saliency_neg_pair(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        if "saliency_scores_neg" not in outputs:  # batch of one: no partner
            return outputs["saliency_scores"].sum() * 0
        return self._both(outputs, lambda o: SetCriterion.loss_saliency_neg_pair(self, o, batch, indices))

    def loss_saliency_bce(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """BCE of every real clip's saliency logit against "relevant" (annotated saliency > 0)."""
        mask = batch.video_mask.float()
        labels = (batch.saliency > 0).float()

        def bce(o: Mapping[str, Any]) -> Tensor:
            loss = F.binary_cross_entropy_with_logits(o["saliency_scores"], labels, reduction="none")
            return (loss * mask).sum() / mask.sum().clamp(min=1)

        return self._both(outputs, bce)

    # ----- auxiliary losses -----

    def loss_moment_bce(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """BCE of S_local against moment (inside a ground-truth span) vs non-moment clips."""
        mask = batch.video_mask.float()
        labels = moment_clip_labels(batch.targets, batch.video_mask)
        loss = F.binary_cross_entropy_with_logits(outputs["saliency_local"], labels, reduction="none")
        return (loss * mask).sum() / mask.sum().clamp(min=1)

    def loss_alignment(self, outputs: Mapping[str, Any], batch: Any, indices: Indices) -> Tensor:
        """Moment-sentence InfoNCE over the batch; other samples of the same video are not negatives."""
        labels = moment_clip_labels(batch.targets, batch.video_mask)
        has_moment = labels.sum(1) > 0
        if int(has_moment.sum()) < 2:
            return outputs["sentence"].sum() * 0
        moment = (outputs["video_tokens"] * labels.unsqueeze(-1)).sum(1) / labels.sum(1, keepdim=True).clamp(min=1)
        moment = F.normalize(moment[has_moment], dim=-1)
        sentence = F.normalize(outputs["sentence"][has_moment], dim=-1)
        logits = moment @ sentence.T / self.alignment_temperature
        vids = [v for v, keep in zip(batch.vids, has_moment.tolist()) if keep] if batch.vids else []
        if vids:
            same = torch.tensor([[a == b for b in vids] for a in vids], device=logits.device)
            logits = logits.masked_fill(same & ~torch.eye(len(vids), dtype=torch.bool, device=logits.device), -1e4)
        target = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))

    # ----- driver -----

    def _group(
        self, losses: dict[str, Tensor], suffix: str, layer_outputs: Mapping[str, Any], batch: Any, indices: Indices
    ) -> None:
        """The per-layer DETR losses of one query group with known ``indices``, keys suffixed ``_<suffix>``."""
        for name in self.per_layer_losses:
            if name in self.weights and (name != "iou" or "pred_iou" in layer_outputs):
                loss = getattr(self, f"loss_{name}")(layer_outputs, batch, indices)
                losses[f"loss_{name}_{suffix}"] = self.weights[name] * loss

    def forward(self, outputs: Mapping[str, Any], batch: Any) -> dict[str, Tensor]:
        losses = super().forward(outputs, batch)
        if "enc_outputs" in outputs:
            enc = outputs["enc_outputs"]
            self._group(losses, "enc", enc, batch, self.matcher(enc, batch.targets))
        if "dn_outputs" in outputs:
            dn = outputs["dn_meta"]
            keep = dn.positive & dn.valid
            indices = [
                (keep[b].nonzero(as_tuple=True)[0].cpu(), dn.target_index[b][keep[b]].cpu()) for b in range(len(keep))
            ]
            for layer, layer_outputs in enumerate(outputs["dn_outputs"]):
                self._group(losses, f"dn_{layer}", layer_outputs, batch, indices)
        if "extra_outputs" in outputs:
            extra, assigned = outputs["extra_meta"], outputs["extra_meta"].target_index
            indices = [
                (valid.nonzero(as_tuple=True)[0].cpu(), assigned[b][valid].cpu()) for b, valid in enumerate(extra.valid)
            ]
            for layer, layer_outputs in enumerate(outputs["extra_outputs"]):
                self._group(losses, f"extra_{layer}", layer_outputs, batch, indices)
        if self.atss_weights and "atss_targets" in outputs:
            atss = atss_losses(outputs, outputs["atss_targets"], focal_alpha=self.focal[0], focal_gamma=self.focal[1])
            for name, value in atss.items():
                if self.atss_weights[name]:
                    losses[f"loss_{name}"] = self.atss_weights[name] * value
        return losses
