"""Saliency (highlight) losses shared by QD-DETR and SG-DETR.

Saliency scores are unnormalised logits per clip, ``(B, L)`` float, with a ``(B, L)`` bool mask (True =
real clip). Three losses train them, as in QD-DETR:

* margin ranking: sampled high-saliency clips must out-score sampled low-saliency clips by a margin;
* rank contrastive: for every saliency level, clips at or above it must win a softmax over the window
  (and over the clips of the window paired with another sample's query);
* negative pair: with another sample's query, every clip should look irrelevant.

Negative video-query pairs are formed by shifting queries inside the batch: sample ``i`` is paired with
the query of sample ``(i + 1) % B`` (:func:`shift_to_negative_pairs`); a pair whose two samples share a
video is not a true negative and is masked out (:func:`negative_pair_valid`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

_MASKED_LOGIT = -1e3  # finite, so an all-masked row still gives a finite log-softmax


def shift_to_negative_pairs(x: Tensor) -> Tensor:
    """``(B, ...)`` -> ``(B, ...)`` with row ``i`` taken from row ``(i + 1) % B``: the partner convention of
    negative pairs, used by models on text features and masks."""
    return torch.roll(x, shifts=-1, dims=0)


def negative_pair_valid(vids: Sequence[str], device: torch.device | str = "cpu") -> Tensor:
    """bool ``(B,)``: True where sample ``i`` and its negative partner ``(i + 1) % B`` show different videos."""
    partners = list(vids[1:]) + list(vids[:1])
    return torch.tensor([a != b for a, b in zip(vids, partners)], dtype=torch.bool, device=device)


def margin_ranking_loss(
    scores: Tensor, pos_idx: Tensor, neg_idx: Tensor, *, margin: float, pair_mask: Tensor | None = None
) -> Tensor:
    """Hinge loss ``max(0, margin + s_neg - s_pos)`` over sampled clip pairs.

    Args:
        scores: float ``(B, L)`` saliency logits.
        pos_idx, neg_idx: int64 ``(B, K)`` clip indices of the ``K`` sampled (positive, negative) pairs.
        margin: required score gap.
        pair_mask: optional bool ``(B, K)``; False pairs (padding) are ignored.

    Returns:
        Scalar. Twice the mean over pairs, the scale QD-DETR trains with.
    """
    pos = scores.gather(1, pos_idx)
    neg = scores.gather(1, neg_idx)
    hinge = (margin + neg - pos).clamp(min=0)
    if pair_mask is None:
        return 2 * hinge.mean() if hinge.numel() else scores.sum() * 0
    weights = pair_mask.to(hinge.dtype)
    return 2 * (hinge * weights).sum() / weights.sum().clamp(min=1)


def rank_contrastive_loss(
    scores: Tensor, labels: Tensor, mask: Tensor, *, thresholds: Sequence[float], temperature: float
) -> Tensor:
    """Supervised-contrastive ranking of clips by saliency level (QD-DETR's rank-contrastive loss).

    For each threshold ``r``, clips with ``label >= r`` are positives and must take the softmax mass of
    their row against every other clip of the row. Rows without a positive at that level contribute 0.

    Args:
        scores: float ``(B, L')`` saliency logits (the positive window, optionally concatenated with the
            same window scored against a negative query, whose labels are then 0).
        labels: float ``(B, L')`` saliency levels in the unit of ``thresholds``.
        mask: bool ``(B, L')``, True = clip takes part.
        thresholds: saliency levels, ascending.
        temperature: softmax temperature.

    Returns:
        Scalar: mean over thresholds of the batch-mean negative log-likelihood of the positives.
    """
    if not thresholds:
        raise ValueError("rank_contrastive_loss needs at least one threshold")
    logits = torch.where(mask, scores, torch.full_like(scores, _MASKED_LOGIT)) / temperature
    log_prob = F.log_softmax(logits, dim=1)
    total = scores.sum() * 0
    for threshold in thresholds:
        positives = (labels >= threshold) & mask
        count = positives.sum(dim=1)
        if not bool(count.any()):
            continue
        mean_log_prob = (log_prob * positives).sum(dim=1) / count.clamp(min=1)
        total = total - (mean_log_prob * (count > 0)).mean()
    return total / len(thresholds)


def negative_pair_loss(neg_scores: Tensor, mask: Tensor, valid: Tensor) -> Tensor:
    """Binary cross-entropy towards "irrelevant" for every clip scored against a negative query.

    Args:
        neg_scores: float ``(B, L)`` saliency logits of each window with its partner's query.
        mask: bool ``(B, L)``, True = real clip.
        valid: bool ``(B,)`` from :func:`negative_pair_valid`.

    Returns:
        Scalar: per-window sum over clips of ``-log(1 - sigmoid(s))``, averaged over valid pairs.
    """
    per_window = (F.softplus(neg_scores) * mask).sum(dim=1)
    weights = valid.to(per_window.dtype)
    return (per_window * weights).sum() / weights.sum().clamp(min=1)
