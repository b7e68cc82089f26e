"""Saliency losses and the set criterion: hand values, masking, negative-pair rules, aux suffixes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from grounding.losses import (
    SetCriterion,
    margin_ranking_loss,
    negative_pair_loss,
    negative_pair_valid,
    rank_contrastive_loss,
    shift_to_negative_pairs,
)
from grounding.matcher import HungarianMatcher

WEIGHTS = {"span": 10, "giou": 1, "label": 4, "saliency_margin": 1, "saliency_rank_contrastive": 1, "saliency_neg_pair": 1}


def test_margin_ranking_hand_value() -> None:
    scores = torch.tensor([[2.0, 0.0, 1.0]])
    pos, neg = torch.tensor([[0, 2]]), torch.tensor([[1, 0]])
    # pairs: (2 vs 0): max(0, .5 + 0 - 2) = 0; (1 vs 2): max(0, .5 + 2 - 1) = 1.5 -> 2 * mean = 1.5
    assert margin_ranking_loss(scores, pos, neg, margin=0.5).item() == pytest.approx(1.5)
    masked = margin_ranking_loss(scores, pos, neg, margin=0.5, pair_mask=torch.tensor([[True, False]]))
    assert masked.item() == pytest.approx(0.0)


def test_rank_contrastive_prefers_the_right_order_and_ignores_masked_clips() -> None:
    labels = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    good = rank_contrastive_loss(labels * 3, labels, mask, thresholds=(1, 2, 3), temperature=0.5)
    bad = rank_contrastive_loss(-labels * 3, labels, mask, thresholds=(1, 2, 3), temperature=0.5)
    assert good < bad
    # one threshold, positives {3}: -log softmax(s / t)[3]
    scores = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    expected = -F.log_softmax(scores / 0.5, dim=1)[0, 3]
    assert rank_contrastive_loss(scores, labels, mask, thresholds=(3,), temperature=0.5).item() == pytest.approx(expected.item(), rel=1e-5)
    padded = torch.cat([scores, torch.tensor([[50.0]])], dim=1)
    padded_mask = torch.cat([mask, torch.tensor([[False]])], dim=1)
    padded_labels = torch.cat([labels, torch.tensor([[9.0]])], dim=1)
    again = rank_contrastive_loss(padded, padded_labels, padded_mask, thresholds=(3,), temperature=0.5)
    assert again.item() == pytest.approx(expected.item(), rel=1e-5)


def test_rank_contrastive_without_positives_is_zero() -> None:
    out = rank_contrastive_loss(torch.randn(2, 5), torch.zeros(2, 5), torch.ones(2, 5, dtype=torch.bool), thresholds=(1,), temperature=0.5)
    assert out.item() == 0.0


def test_negative_pairs_skip_same_video() -> None:
    assert negative_pair_valid(["a", "a", "b"]).tolist() == [False, True, True]
    assert negative_pair_valid(["a"]).tolist() == [False]
    assert torch.equal(shift_to_negative_pairs(torch.arange(3)), torch.tensor([1, 2, 0]))
    neg = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    mask = torch.tensor([[True, False], [True, True]])
    loss = negative_pair_loss(neg, mask, torch.tensor([True, False]))
    assert loss.item() == pytest.approx(math.log(2.0))
    assert negative_pair_loss(neg, mask, torch.tensor([False, False])).item() == 0.0


def _batch_and_outputs(perfect: bool) -> tuple[SimpleNamespace, dict]:
    spans = [torch.tensor([[0.3, 0.2]]), torch.tensor([[0.6, 0.1], [0.2, 0.1]])]
    pred_spans = torch.rand(2, 4, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    logits = torch.zeros(2, 4, 2)
    if perfect:
        pred_spans[0, 1], pred_spans[1, 0], pred_spans[1, 3] = spans[0][0], spans[1][0], spans[1][1]
    pred_spans.requires_grad_(True)
    saliency = torch.tensor([[0.0, 4.0, 2.0], [1.0, 0.0, 0.0]])
    batch = SimpleNamespace(
        targets=[{"spans": s} for s in spans],
        video_mask=torch.tensor([[True, True, True], [True, True, False]]),
        saliency=saliency,
        saliency_pos=torch.tensor([[1], [0]]),
        saliency_neg=torch.tensor([[0], [1]]),
        vids=["v1", "v2"],
    )
    scores = torch.randn(2, 3, requires_grad=True)
    outputs = {
        "pred_spans": pred_spans,
        "pred_logits": logits,
        "saliency_scores": scores,
        "saliency_scores_neg": torch.randn(2, 3),
        "aux_outputs": [{"pred_spans": pred_spans, "pred_logits": logits}],
    }
    return batch, outputs


def test_set_criterion_keys_weights_and_perfect_spans() -> None:
    criterion = SetCriterion(matcher=HungarianMatcher(), weights=WEIGHTS)
    batch, outputs = _batch_and_outputs(perfect=True)
    losses = criterion(outputs, batch)
    assert set(losses) == {f"loss_{n}" for n in WEIGHTS} | {"loss_label_0", "loss_span_0", "loss_giou_0"}
    assert losses["loss_span"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["loss_giou"].item() == pytest.approx(0.0, abs=1e-6)
    sum(losses.values()).backward()
    assert outputs["saliency_scores"].grad is not None


def test_set_criterion_weights_scale_and_zero_weights_skip() -> None:
    batch, outputs = _batch_and_outputs(perfect=False)
    one = SetCriterion(matcher=HungarianMatcher(), weights={"span": 1.0, "label": 0.0})(outputs, batch)
    ten = SetCriterion(matcher=HungarianMatcher(), weights={"span": 10.0})(outputs, batch)
    assert set(one) == {"loss_span", "loss_span_0"}
    assert ten["loss_span"].item() == pytest.approx(10 * one["loss_span"].item())
    with pytest.raises(ValueError, match="unknown losses"):
        SetCriterion(matcher=HungarianMatcher(), weights={"spam": 1.0})


def test_label_loss_down_weights_no_moment() -> None:
    batch, outputs = _batch_and_outputs(perfect=True)
    outputs["pred_logits"] = torch.tensor([[0.0, 5.0]]).expand(2, 4, 2).clone()  # all say "no moment"
    low = SetCriterion(matcher=HungarianMatcher(), weights={"label": 1}, eos_coef=0.1)(outputs, batch)["loss_label"]
    high = SetCriterion(matcher=HungarianMatcher(), weights={"label": 1}, eos_coef=1.0)(outputs, batch)["loss_label"]
    # matched queries are wrong (expensive), unmatched right: a smaller eos weight raises the weighted mean
    assert low > high


@pytest.mark.parametrize("mean_over_queries", [False, True])
def test_label_loss_normalisation(mean_over_queries: bool) -> None:
    """DETR divides by the sum of the class weights; Moment-DETR / QD-DETR by the number of queries."""
    criterion = SetCriterion(matcher=HungarianMatcher(), weights={"label": 1.0},
                             label_mean_over_queries=mean_over_queries)
    outputs = {"pred_logits": torch.zeros(1, 4, 2)}  # CE = ln 2 for every query and class
    indices = [(torch.tensor([2]), torch.tensor([0]))]  # 1 matched (weight 1), 3 unmatched (eos 0.1)
    weighted = math.log(2) * (1.0 + 3 * 0.1)
    expected = weighted / 4 if mean_over_queries else weighted / (1.0 + 3 * 0.1)
    assert criterion.loss_label(outputs, None, indices).item() == pytest.approx(expected, rel=1e-6)
