"""Unit tests of the SG-DETR parts, one paper module at a time, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grounding.models.sg_detr.atss_assigner import atss_assign, clip_anchors
from grounding.models.sg_detr.atss_head import (
    ATSSHead,
    assign_batch,
    atss_losses,
    centerness_target,
    decode_spans,
)
from grounding.models.sg_detr.iou_head import IoUHead, detection_score
from grounding.models.sg_detr.local_saliency_head import LocalSaliencyHead
from grounding.models.sg_detr.saliency_amplifier import SaliencyAmplifier
from grounding.models.sg_detr.sgca import SaliencyGuidedCrossAttention, SGCALayer
from grounding.models.sg_detr.weighted_boxes_fusion import fuse_spans

D = 16


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ----- local saliency head -----


def test_local_saliency_is_scaled_cosine_to_sentence_token() -> None:
    head = LocalSaliencyHead(dim=D, heads=4, ffn_dim=32, dropout=0.0, init_alpha=3.0, init_beta=-0.5).eval()
    video, text = torch.randn(2, 7, D), torch.randn(2, 5, D)
    video_mask = torch.ones(2, 7, dtype=torch.bool)
    video_mask[1, 4:] = False
    text_mask = torch.ones(2, 5, dtype=torch.bool)
    s_local, sentence = head(video, video_mask, text, text_mask)
    assert s_local.shape == (2, 7) and sentence.shape == (2, D)
    expected = 3.0 * F.cosine_similarity(video, sentence[:, None, :], dim=-1) - 0.5
    torch.testing.assert_close(s_local[0], expected[0])
    torch.testing.assert_close(s_local[1, :4], expected[1, :4])
    assert torch.all(s_local[1, 4:] == 0)


def test_local_saliency_ignores_padded_text_tokens() -> None:
    head = LocalSaliencyHead(dim=D, heads=4, ffn_dim=32, dropout=0.0).eval()
    video, text = torch.randn(1, 6, D), torch.randn(1, 8, D)
    video_mask = torch.ones(1, 6, dtype=torch.bool)
    text_mask = torch.tensor([[True] * 5 + [False] * 3])
    a, _ = head(video, video_mask, text, text_mask)
    text_changed = text.clone()
    text_changed[:, 5:] = 100.0
    b, _ = head(video, video_mask, text_changed, text_mask)
    c, _ = head(video, video_mask, text[:, :5], text_mask[:, :5])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


# ----- SGCA -----


def test_sgca_with_unit_gate_is_plain_cross_attention() -> None:
    attention = SaliencyGuidedCrossAttention(dim=D, heads=4, dropout=0.0).eval()
    video, text = torch.randn(2, 5, D), torch.randn(2, 6, D)
    text_mask = torch.ones(2, 6, dtype=torch.bool)
    text_mask[0, 3:] = False
    plain = attention(video, text, text_mask)
    torch.testing.assert_close(attention(video, text, text_mask, gate=torch.ones(2, 5)), plain)
    # reference: softmax attention with the weights of clip i multiplied by g_i, per head
    gate = torch.rand(2, 5)
    q = attention.q_proj(video).view(2, 5, 4, 4).transpose(1, 2)
    k = attention.k_proj(text).view(2, 6, 4, 4).transpose(1, 2)
    v = attention.v_proj(text).view(2, 6, 4, 4).transpose(1, 2)
    logits = (q @ k.transpose(-1, -2)) / 2.0
    weights = logits.masked_fill(~text_mask[:, None, None, :], float("-inf")).softmax(-1) * gate[:, None, :, None]
    expected = attention.out_proj((weights @ v).transpose(1, 2).reshape(2, 5, D))
    torch.testing.assert_close(attention(video, text, text_mask, gate=gate), expected)


def test_sgca_zero_gate_absorbs_no_text_and_padding_is_ignored() -> None:
    attention = SaliencyGuidedCrossAttention(dim=D, heads=4, dropout=0.0).eval()
    video, text = torch.randn(1, 3, D), torch.randn(1, 4, D)
    text_mask = torch.tensor([[True, True, False, False]])
    out = attention(video, text, text_mask, gate=torch.zeros(1, 3))
    torch.testing.assert_close(out, attention.out_proj.bias.expand(1, 3, D))
    changed = text.clone()
    changed[:, 2:] = -50.0
    torch.testing.assert_close(attention(video, text, text_mask), attention(video, changed, text_mask))


def test_sgca_layer_reduces_to_ca_layer_when_sigma_is_one() -> None:
    guided = SGCALayer(dim=D, heads=4, ffn_dim=32, dropout=0.0, guided=True).eval()
    plain = SGCALayer(dim=D, heads=4, ffn_dim=32, dropout=0.0, guided=False).eval()
    plain.load_state_dict(guided.state_dict())
    video, pos, text = torch.randn(2, 5, D), torch.randn(2, 5, D), torch.randn(2, 4, D)
    text_mask = torch.ones(2, 4, dtype=torch.bool)
    certain = torch.full((2, 5), 1e4)  # σ = 1
    torch.testing.assert_close(guided(video, pos, text, text_mask, certain), plain(video, pos, text, text_mask, certain))
    doubtful = torch.zeros(2, 5)
    assert not torch.allclose(guided(video, pos, text, text_mask, doubtful), plain(video, pos, text, text_mask, doubtful))


# ----- saliency amplifier -----


def test_saliency_amplifier_follows_equations_6_to_8() -> None:
    amplifier = SaliencyAmplifier(dim=D)
    features, s_local = torch.randn(2, 6, D), torch.randn(2, 6)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 4:] = False
    f_g, s_global = amplifier(features, s_local, mask)
    f_l = features + features * torch.sigmoid(s_local)[..., None]
    expected_s = s_local + amplifier.refine(f_l).squeeze(-1)
    expected_f = features + features * torch.sigmoid(expected_s)[..., None]
    torch.testing.assert_close(s_global[1], expected_s[1])
    torch.testing.assert_close(f_g[1], expected_f[1])
    torch.testing.assert_close(s_global[0, :4], expected_s[0, :4])
    assert torch.all(s_global[0, 4:] == 0) and torch.all(f_g[0, 4:] == 0)


# ----- ATSS -----


def test_clip_anchors_layout_is_clip_major() -> None:
    anchors = clip_anchors(4, 4, (1, 2))
    assert anchors.shape == (8, 2)
    torch.testing.assert_close(anchors[2], torch.tensor([0.25, 0.5]))  # clip 1, level 0
    torch.testing.assert_close(anchors[3], torch.tensor([0.125, 0.625]))  # clip 1, level 1


def test_atss_keeps_the_anchor_matching_a_one_clip_span() -> None:
    anchors = clip_anchors(4, 4, (1, 2))
    valid = torch.ones(8, dtype=torch.bool)
    assigned, iou = atss_assign(anchors, valid, 2, torch.tensor([[0.25, 0.5]]), top_k=1)
    # candidates: clip 1 level 0 (IoU 1) and clip 1 level 1 (IoU 0.5); threshold 0.75 + 0.35 capped at 1
    assert assigned.tolist() == [-1, -1, 0, -1, -1, -1, -1, -1]
    assert iou[2] == pytest.approx(1.0)


def test_atss_selects_by_statistics_and_centre_inside() -> None:
    anchors = clip_anchors(8, 8, (1, 2, 4))
    valid = torch.ones(24, dtype=torch.bool)
    gt = torch.tensor([[0.25, 0.75]])  # clips 2..5
    assigned, _ = atss_assign(anchors, valid, 3, gt, top_k=2)
    positives = (assigned == 0).nonzero().flatten().tolist()
    # level 2 (width 4 clips = 0.5) anchors at clips 3 and 4 overlap it by 0.6; they beat the
    # candidates' mean + std, the one-clip anchors (IoU 0.25) and two-clip anchors (0.5) do not
    assert positives == [3 * 3 + 2, 4 * 3 + 2]


def test_atss_never_assigns_padded_clips_and_resolves_conflicts_by_iou() -> None:
    anchors = clip_anchors(4, 6, (1,))
    valid = torch.tensor([True] * 4 + [False] * 2)
    assigned, _ = atss_assign(anchors, valid, 1, torch.tensor([[0.75, 1.0]]), top_k=3)
    assert assigned.tolist() == [-1, -1, -1, 0, -1, -1]

    anchors = clip_anchors(4, 4, (2,))
    spans = torch.tensor([[0.0, 0.5], [0.2, 0.75]])
    assigned, iou = atss_assign(anchors, torch.ones(4, dtype=torch.bool), 1, spans, top_k=4)
    # anchor of clip 1 ([0.125, 0.625]) is a positive of both spans: IoU 0.6 with span 0 (threshold capped
    # at its best candidate, 0.6) and 0.425 / 0.625 = 0.68 with span 1 -> span 1; clip 0 stays with span 0
    assert assigned[0] == 0 and assigned[1] == 1
    assert iou[1] == pytest.approx(0.68)
    assert atss_assign(anchors, torch.ones(4, dtype=torch.bool), 1, torch.zeros(0, 2), 4)[0].eq(-1).all()


def test_atss_decoding_centerness_and_losses() -> None:
    anchors = torch.tensor([[0.2, 0.4]])
    torch.testing.assert_close(decode_spans(anchors, torch.zeros(1, 2)), torch.tensor([[0.3, 0.2]]))
    torch.testing.assert_close(decode_spans(anchors, torch.tensor([[0.5, float(np.log(2.0))]])), torch.tensor([[0.4, 0.4]]))
    torch.testing.assert_close(
        centerness_target(torch.tensor([[0.2, 0.4], [0.0, 0.2]]), torch.tensor([[0.0, 0.4], [0.0, 0.4]])),
        torch.tensor([1 / 3, 1 / 3]),
    )
    head = ATSSHead(dim=D, num_levels=3)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    outputs = head(torch.randn(2, 10, D), mask)
    assert outputs["atss_logits"].shape == (2, 30) and outputs["atss_deltas"].shape == (2, 30, 2)
    targets = assign_batch(mask, [torch.tensor([[0.5, 0.2]]), torch.tensor([[0.3, 0.4]])], (1, 2, 4), 3)
    assert not targets.assigned[1, 21:].ge(0).any()
    losses = atss_losses(outputs, targets, focal_alpha=0.25, focal_gamma=2.0)
    assert set(losses) == {"atss_label", "atss_l1", "atss_giou", "atss_centerness"}
    sum(losses.values()).backward()
    assert head.reg_out.weight.grad.abs().sum() > 0


# ----- IoU head and S_det -----


def test_detection_score_formula() -> None:
    p, iou = torch.tensor([0.64, 0.9]), torch.tensor([0.25, 0.1])
    torch.testing.assert_close(detection_score(p, iou, 0.5), torch.tensor([0.4, 0.3]))
    torch.testing.assert_close(detection_score(p, iou, 1.0), p)
    torch.testing.assert_close(detection_score(p, iou, 0.0), iou)
    torch.testing.assert_close(detection_score(p, iou, 0.25), p**0.25 * iou**0.75)
    with pytest.raises(ValueError):
        detection_score(p, iou, 1.5)
    assert IoUHead(dim=D)(torch.randn(2, 5, D)).shape == (2, 5)


# ----- weighted boxes fusion -----


def test_wbf_fuses_overlapping_spans_of_two_heads() -> None:
    spans, scores = fuse_spans(
        [np.array([[0.1, 0.3], [0.6, 0.8]]), np.array([[0.12, 0.32]])],
        [np.array([0.9, 0.5]), np.array([0.7])],
    )
    # cluster {0.9: [0.1, 0.3], 0.7: [0.12, 0.32]} -> score-weighted span, mean score x 2/2 models
    np.testing.assert_allclose(spans[0], [(0.1 * 0.9 + 0.12 * 0.7) / 1.6, (0.3 * 0.9 + 0.32 * 0.7) / 1.6], rtol=1e-5)
    assert scores[0] == pytest.approx(0.8)
    # the lone span keeps its place, its score scaled by 1 of 2 models
    np.testing.assert_allclose(spans[1], [0.6, 0.8], rtol=1e-6)
    assert scores[1] == pytest.approx(0.25)


def test_wbf_keeps_disjoint_spans_and_handles_empty_input() -> None:
    spans, scores = fuse_spans([np.array([[0.0, 0.2], [0.5, 0.9]])], [np.array([0.3, 0.6])])
    np.testing.assert_allclose(spans, [[0.5, 0.9], [0.0, 0.2]], rtol=1e-6)
    np.testing.assert_allclose(scores, [0.6, 0.3], rtol=1e-6)
    spans, scores = fuse_spans([np.zeros((0, 2))], [np.zeros(0)])
    assert spans.shape == (0, 2) and scores.shape == (0,)
    with pytest.raises(ValueError):
        fuse_spans([np.zeros((1, 2))], [])
