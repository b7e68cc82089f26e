"""Auxiliary 1-D ATSS head of the hybrid detector (SG-DETR §3.5).

A small convolutional tower over the clip features F_g predicts, for every anchor (clip x level), a
foreground logit, a box delta and a centerness logit. Anchors are assigned with ATSS
(:mod:`atss_assigner`); the losses are focal classification, L1 + GIoU regression of the decoded spans,
and BCE centerness, all over positive anchors as in ATSS. Deltas decode as
centre = c_a + d_c · w_a, width = w_a · exp(d_w), in normalised (centre, width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from grounding.models.sg_detr.atss_assigner import atss_assign, clip_anchors
from grounding.span_ops import paired_generalized_temporal_iou, span_cw_to_se, span_se_to_cw

_MAX_LOG_SCALE = math.log(1000.0 / 16)


@dataclass
class ATSSTargets:
    """Assignment of a batch; A = padded clips x levels.

    anchors float (B, A, 2) normalised (start, end); valid bool (B, A); assigned long (B, A) index into
    the sample's ground-truth spans or -1; gt_spans list of float (M_b, 2) (start, end).
    """

    anchors: torch.Tensor
    valid: torch.Tensor
    assigned: torch.Tensor
    gt_spans: list[torch.Tensor]


def batch_anchors(
    video_mask: torch.Tensor, anchor_widths: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchors for a padded batch: video_mask bool (B, L) -> (anchors (B, L*levels, 2), valid (B, L*levels))."""
    lengths = video_mask.sum(dim=1).clamp(min=1).tolist()
    padded = video_mask.shape[1]
    anchors = torch.stack([clip_anchors(int(n), padded, anchor_widths) for n in lengths]).to(video_mask.device)
    valid = video_mask.repeat_interleave(len(anchor_widths), dim=1)
    return anchors, valid


def decode_spans(anchors: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """anchors (..., 2) (start, end) + deltas (..., 2) -> spans (..., 2) normalised (centre, width)."""
    anchor_cxw = span_se_to_cw(anchors)
    center = anchor_cxw[..., 0] + deltas[..., 0] * anchor_cxw[..., 1]
    width = anchor_cxw[..., 1] * deltas[..., 1].clamp(max=_MAX_LOG_SCALE).exp()
    return torch.stack([center, width], dim=-1)


def centerness_target(anchors: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """min(l, r) / max(l, r) of the anchor centre's distances to the span ends; both (n, 2) (start, end)."""
    center = anchors.mean(dim=-1)
    left = (center - spans[:, 0]).clamp(min=0)
    right = (spans[:, 1] - center).clamp(min=0)
    return torch.minimum(left, right) / torch.maximum(left, right).clamp(min=1e-6)


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Element-wise focal loss (Lin et al.) of logits vs {0, 1} targets, same shape, not reduced."""
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * ce * (1 - p_t) ** gamma


class ConvTower(nn.Module):
    """``layers`` x (Conv1d k=3, LayerNorm over channels, ReLU) that keeps padded clips at zero, so a
    window's output does not depend on how much padding its batch adds. (B, D, L), mask (B, 1, L) -> (B, D, L)."""

    def __init__(self, *, dim: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, 3, padding=1) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x).transpose(1, 2)).transpose(1, 2)) * mask
        return x


class ATSSHead(nn.Module):
    """forward(features (B, L, D), video_mask (B, L)) -> dict with
    ``atss_logits`` (B, L*levels), ``atss_deltas`` (B, L*levels, 2), ``atss_centerness`` (B, L*levels).
    """

    def __init__(self, *, dim: int, num_levels: int, tower_layers: int = 2, prior_prob: float = 0.01) -> None:
        super().__init__()
        self.num_levels = num_levels
        self.cls_tower = ConvTower(dim=dim, layers=tower_layers)
        self.reg_tower = ConvTower(dim=dim, layers=tower_layers)
        self.cls_out = nn.Conv1d(dim, num_levels, 3, padding=1)
        self.reg_out = nn.Conv1d(dim, 2 * num_levels, 3, padding=1)
        self.ctr_out = nn.Conv1d(dim, num_levels, 3, padding=1)
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior_prob) / prior_prob))
        nn.init.zeros_(self.reg_out.weight)
        nn.init.zeros_(self.reg_out.bias)

    def forward(self, features: torch.Tensor, video_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = video_mask.unsqueeze(1).to(features.dtype)  # (B, 1, L)
        x = features.transpose(1, 2) * mask  # (B, D, L)
        cls_feat, reg_feat = self.cls_tower(x, mask), self.reg_tower(x, mask)
        b, _, length = x.shape
        # (B, levels, L) -> (B, L, levels) -> (B, L*levels): the (clip, level) layout of the anchors
        logits = self.cls_out(cls_feat).transpose(1, 2).reshape(b, length * self.num_levels)
        deltas = self.reg_out(reg_feat).view(b, self.num_levels, 2, length).permute(0, 3, 1, 2)
        centerness = self.ctr_out(reg_feat).transpose(1, 2).reshape(b, length * self.num_levels)
        return {
            "atss_logits": logits,
            "atss_deltas": deltas.reshape(b, length * self.num_levels, 2),
            "atss_centerness": centerness,
        }


def assign_batch(
    video_mask: torch.Tensor, gt_spans_cxw: list[torch.Tensor], anchor_widths: tuple[int, ...], top_k: int
) -> ATSSTargets:
    """ATSS assignment for a batch; gt_spans_cxw holds one float (M_b, 2) normalised (centre, width) per sample."""
    anchors, valid = batch_anchors(video_mask, anchor_widths)
    gt_xx = [span_cw_to_se(s).clamp(0, 1) for s in gt_spans_cxw]
    assigned = torch.stack(
        [atss_assign(anchors[b], valid[b], len(anchor_widths), gt_xx[b], top_k)[0] for b in range(len(gt_xx))]
    )
    return ATSSTargets(anchors=anchors, valid=valid, assigned=assigned, gt_spans=gt_xx)


def atss_losses(
    outputs: dict[str, torch.Tensor], targets: ATSSTargets, *, focal_alpha: float, focal_gamma: float
) -> dict[str, torch.Tensor]:
    """Unweighted ATSS losses: ``atss_label`` (focal / positives), ``atss_l1``, ``atss_giou``
    (centerness-weighted), ``atss_centerness`` (BCE), averaged over the positive anchors of the batch."""
    logits, deltas, ctr_logits = outputs["atss_logits"], outputs["atss_deltas"], outputs["atss_centerness"]
    positive = targets.assigned >= 0
    num_pos = max(int(positive.sum()), 1)
    label = sigmoid_focal_loss(logits, positive.to(logits.dtype), focal_alpha, focal_gamma)
    losses = {"atss_label": (label * targets.valid).sum() / num_pos}
    if not positive.any():
        zero = deltas.sum() * 0.0 + ctr_logits.sum() * 0.0
        return losses | {"atss_l1": zero, "atss_giou": zero, "atss_centerness": zero}

    batch_index, anchor_index = positive.nonzero(as_tuple=True)
    matched_gt = torch.stack(
        [targets.gt_spans[b][targets.assigned[b, a]] for b, a in zip(batch_index.tolist(), anchor_index.tolist())]
    )  # (P, 2) (start, end)
    anchors = targets.anchors[batch_index, anchor_index]
    predicted = decode_spans(anchors, deltas[batch_index, anchor_index])
    ctr_target = centerness_target(anchors, matched_gt)
    giou = paired_generalized_temporal_iou(span_cw_to_se(predicted), matched_gt)
    losses["atss_l1"] = F.l1_loss(predicted, span_se_to_cw(matched_gt), reduction="none").sum(-1).mean()
    losses["atss_giou"] = ((1 - giou) * ctr_target).sum() / ctr_target.sum().clamp(min=1e-6)
    losses["atss_centerness"] = F.binary_cross_entropy_with_logits(
        ctr_logits[batch_index, anchor_index], ctr_target
    )
    return losses


def atss_predictions(
    outputs: dict[str, torch.Tensor], anchors: torch.Tensor, valid: torch.Tensor, top_k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k ATSS spans per window: -> (spans (B, k, 2) normalised (centre, width), scores (B, k) in [0, 1]).

    The score is sqrt(σ(cls) · σ(centerness)), the geometric mean ATSS ranks by; padded anchors score 0.
    """
    score = torch.sqrt(torch.sigmoid(outputs["atss_logits"]) * torch.sigmoid(outputs["atss_centerness"]))
    score = score.masked_fill(~valid, 0.0)
    k = min(top_k, score.shape[1])
    top_score, top_index = score.topk(k, dim=1)
    spans = decode_spans(anchors, outputs["atss_deltas"])
    return spans.gather(1, top_index.unsqueeze(-1).expand(-1, -1, 2)), top_score
