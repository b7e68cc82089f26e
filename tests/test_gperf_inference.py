"""Inference speed-ups must not change results: each fast path equals the straightforward computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ensemble_boxes import weighted_boxes_fusion
from torch import nn

from grounding.input_projection import InputProjection
from grounding.models.sg_detr.self_encoder import SelfAttentionEncoder
from grounding.models.sg_detr.weighted_boxes_fusion import fuse_span_batches


def _reference_wbf(spans: list[np.ndarray], scores: list[np.ndarray], weights: list[float], iou: float, skip: float):
    boxes = [np.stack([s[:, 0], np.zeros(len(s)), s[:, 1], np.ones(len(s))], 1) for s in spans]
    labels = [np.zeros(len(s)) for s in spans]
    fused, fused_scores, _ = weighted_boxes_fusion(boxes, scores, labels, weights=weights, iou_thr=iou, skip_box_thr=skip)
    order = np.argsort(-fused_scores, kind="stable")
    return fused[order][:, [0, 2]], fused_scores[order]


@pytest.mark.parametrize("seed", range(4))
def test_batched_wbf_equals_ensemble_boxes_window_by_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    windows, weights, iou, skip = 6, [1.0, 0.7], 0.55, 0.05
    detr = np.sort(rng.uniform(0, 1, (windows, 25, 2)), axis=-1)
    # ATSS spans near the DETR ones so clusters of several members form
    atss = np.sort(np.clip(detr[:, rng.permutation(25)[:20]] + rng.normal(0, 0.03, (windows, 20, 2)), 0, 1), axis=-1)
    detr_scores, atss_scores = rng.uniform(0, 1, (windows, 25)), rng.uniform(0, 1, (windows, 20))
    fused = fuse_span_batches([detr, atss], [detr_scores, atss_scores], weights, iou_threshold=iou, skip_score=skip)
    assert len(fused) == windows
    merged_somewhere = False
    for w, (spans, scores) in enumerate(fused):
        ref_spans, ref_scores = _reference_wbf([detr[w], atss[w]], [detr_scores[w], atss_scores[w]], weights, iou, skip)
        assert spans.dtype == np.float32 and scores.dtype == np.float32
        np.testing.assert_allclose(spans, ref_spans, atol=1e-5)
        np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
        merged_somewhere |= len(spans) < 45 - int((detr_scores[w] < skip).sum() + (atss_scores[w] < skip).sum())
    assert merged_somewhere


def test_batched_wbf_drops_zero_width_and_handles_windows_without_spans() -> None:
    spans = np.array([[[0.2, 0.2], [0.1, 0.4]], [[0.5, 0.5], [0.3, 0.3]]])
    scores = np.array([[0.9, 0.5], [0.8, 0.7]])
    (first_spans, first_scores), (second_spans, second_scores) = fuse_span_batches([spans], [scores])
    np.testing.assert_allclose(first_spans, [[0.1, 0.4]])
    np.testing.assert_allclose(first_scores, [0.5])
    assert second_spans.shape == (0, 2) and second_scores.shape == (0,)
    with pytest.raises(ValueError, match="weights"):
        fuse_span_batches([spans], [scores], [1.0, 1.0])


@pytest.mark.parametrize("training", [False, True])
def test_self_encoder_equals_torch_transformer_encoder(training: bool) -> None:
    torch.manual_seed(0)
    ours = SelfAttentionEncoder(dim=32, heads=4, ffn_dim=64, dropout=0.0, layers=2)
    reference = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, 0.0, batch_first=True), 2,
                                      enable_nested_tensor=False)
    assert ours.state_dict().keys() == reference.state_dict().keys()  # checkpoints stay interchangeable
    reference.load_state_dict(ours.state_dict())
    ours.train(training), reference.train(training)
    x = torch.randn(3, 7, 32)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 1:] = False
    with torch.inference_mode(not training):
        got, want = ours(x, mask), reference(x, src_key_padding_mask=~mask)
    torch.testing.assert_close(got[mask], want[mask], atol=1e-5, rtol=1e-5)


def test_self_encoder_ignores_padded_clips() -> None:
    torch.manual_seed(0)
    encoder = SelfAttentionEncoder(dim=16, heads=2, ffn_dim=32, dropout=0.0, layers=2).eval()
    x = torch.randn(1, 6, 16)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    changed = x.clone()
    changed[0, 4:] = 100.0
    torch.testing.assert_close(encoder(x, mask)[0, :4], encoder(changed, mask)[0, :4])


def test_input_projection_projects_a_broadcast_query_once() -> None:
    torch.manual_seed(0)
    projection = InputProjection(input_dim=12, hidden_dim=8, num_layers=2, dropout=0.5).eval()
    one = torch.randn(1, 5, 12)
    shared = projection(one.expand(4, -1, -1))
    assert shared.shape == (4, 5, 8) and shared.stride(0) == 0
    torch.testing.assert_close(shared, projection(one.repeat(4, 1, 1)))
    projection.train()
    assert projection(one.expand(4, -1, -1)).stride(0) != 0  # training: one dropout mask per sample


def test_prepare_windows_matches_the_training_features() -> None:
    from grounding.data.features import add_temporal_endpoints
    from grounding.predictor import prepare_windows

    rng = np.random.default_rng(0)
    windows = [rng.standard_normal((n, 6)).astype(np.float32) * 3 for n in (5, 2, 5)]
    padded, mask = prepare_windows(windows, temporal_endpoints=True)
    assert padded.shape == (3, 5, 8) and padded.dtype == torch.float32 and mask.tolist()[1] == [True] * 2 + [False] * 3
    for i, window in enumerate(windows):
        expected = add_temporal_endpoints(window / np.linalg.norm(window, axis=1, keepdims=True))
        np.testing.assert_allclose(padded[i, : len(window)].numpy(), expected, rtol=1e-6, atol=1e-7)
        assert not padded[i, len(window):].any()
    plain, _ = prepare_windows(windows, temporal_endpoints=False)
    assert plain.shape == (3, 5, 6)


def test_sg_detr_postprocess_fuses_like_ensemble_boxes_per_window() -> None:
    import dataclasses

    from grounding.models import build_model, preset
    from grounding.models.sg_detr.atss_head import atss_predictions
    from grounding.models.sg_detr.iou_head import detection_score
    from grounding.span_ops import span_cw_to_se

    config = preset("sg_detr", "tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, video_dim=16, text_dim=16))
    torch.manual_seed(0)
    model = build_model("sg_detr", config).eval()
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[1, 12:] = False
    with torch.inference_mode():
        outputs = model(torch.randn(3, 20, 18), mask, torch.randn(3, 6, 16), torch.ones(3, 6, dtype=torch.bool))
        predictions = model.postprocess(outputs, mask, clip_seconds=2.0)
        fusion = config.model.fusion
        score = detection_score(outputs["pred_logits"].softmax(-1)[..., 0], outputs["pred_iou"].sigmoid(),
                                config.model.iou_head.gamma).numpy()
        detr = span_cw_to_se(outputs["pred_spans"]).clamp(0, 1).numpy()
        atss_spans, atss_scores = atss_predictions(outputs, outputs["atss_anchors"], outputs["atss_valid"],
                                                   config.model.atss.inference_top_k)
        atss = span_cw_to_se(atss_spans).clamp(0, 1).numpy()
    for i, prediction in enumerate(predictions):
        seconds = 2.0 * int(mask[i].sum())
        spans, scores = _reference_wbf([detr[i], atss[i]], [score[i], atss_scores[i].numpy()],
                                       [fusion.detr_weight, fusion.atss_weight], fusion.iou_threshold, fusion.skip_score)
        np.testing.assert_allclose(prediction.spans, spans * seconds, atol=1e-4)
        np.testing.assert_allclose(prediction.scores, scores, atol=1e-5)
        assert prediction.saliency.shape == (int(mask[i].sum()),)


def test_sentence_token_of_a_shared_query_is_pooled_once_and_equal() -> None:
    from grounding.models.sg_detr.local_saliency_head import LocalSaliencyHead

    torch.manual_seed(0)
    head = LocalSaliencyHead(dim=16, heads=2, ffn_dim=32, dropout=0.1).eval()
    text, mask = torch.randn(1, 5, 16), torch.tensor([[True, True, True, False, False]])
    shared = head.sentence_token(text.expand(4, -1, -1), mask.expand(4, -1))
    assert shared.shape == (4, 16) and shared.stride(0) == 0
    torch.testing.assert_close(shared, head.sentence_token(text.repeat(4, 1, 1), mask.repeat(4, 1)))
