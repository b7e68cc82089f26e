"""SG-DETR detector parts (query selection, denoising, decoder), the assembled model, criterion and config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from grounding.config_tree import from_dict, to_dict
from grounding.data.dataset import Batch
from grounding.models import build, preset
from grounding.models.sg_detr import ABLATION_ROWS, PRESETS, SGDETRConfig, ablation_config
from grounding.models.sg_detr.denoising import decoder_attention_mask, make_denoising_queries
from grounding.models.sg_detr.dino_decoder import DINODecoder
from grounding.models.sg_detr.query_selection import QuerySelection
from grounding.span_ops import span_cw_to_se

D = 16


def tiny_config(row: str = "e") -> SGDETRConfig:
    config = ablation_config(row, SGDETRConfig())
    model = config.model
    model.video_dim, model.text_dim, model.hidden_dim = 8, 12, D  # + 2 temporal-endpoint dims = 10
    model.encoder.heads = model.decoder.heads = 4
    model.encoder.ffn_dim = model.decoder.ffn_dim = 32
    model.decoder.num_queries = 6
    model.decoder.denoising_groups = 2
    model.atss.anchor_widths = (1, 2, 4)
    return config


def make_batch(lengths: tuple[int, ...] = (12, 9, 12), tokens: tuple[int, ...] = (5, 3, 4)) -> Batch:
    g = torch.Generator().manual_seed(1)
    b, length, n = len(lengths), max(lengths), max(tokens)
    video_mask = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    text_mask = torch.arange(n)[None, :] < torch.tensor(tokens)[:, None]
    video = torch.randn(b, length, 10, generator=g) * video_mask[..., None]
    text = torch.randn(b, n, 12, generator=g) * text_mask[..., None]
    spans = [torch.tensor([[0.3, 0.2]]), torch.tensor([[0.25, 0.3], [0.75, 0.2]]), torch.tensor([[0.6, 0.5]])]
    saliency = torch.zeros(b, length)
    targets = []
    for i, (s, n_clips) in enumerate(zip(spans, lengths)):
        se = span_cw_to_se(s)
        centers = (torch.arange(n_clips) + 0.5) / n_clips
        inside = ((centers[:, None] >= se[None, :, 0]) & (centers[:, None] <= se[None, :, 1])).any(1)
        saliency[i, :n_clips] = inside.float() * 3.0
        targets.append({"spans": s, "saliency": saliency[i, :n_clips]})
    pos = torch.stack([saliency[i].argmax().repeat(2) for i in range(b)])
    neg = torch.stack([saliency[i, : lengths[i]].argmin().repeat(2) for i in range(b)])
    for i, t in enumerate(targets):
        t["saliency_pos"], t["saliency_neg"] = pos[i], neg[i]
    return Batch(video, video_mask, text, text_mask, targets, saliency, pos, neg,
                 qids=[0, 1, 2], vids=["a", "b", "c"][:b], durations=[24.0] * b, clip_seconds=[2.0] * b)


# ----- query selection, denoising, decoder -----


def test_query_selection_prefers_real_clips_and_returns_detached_references() -> None:
    selection = QuerySelection(dim=D, num_queries=6, proposal_widths=(0.1, 0.3))
    memory = torch.randn(2, 8, D)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 4:] = False  # 4 real clips x 2 widths = 8 proposals >= 6 queries
    selected = selection(memory, mask)
    assert selected.reference.shape == (2, 6, 2) and not selected.reference.requires_grad
    assert selected.proposal_spans.requires_grad
    # centres are normalised by the real length: real clips lie in (0, 1), padded ones beyond 1
    assert torch.all(selected.reference[1, :, 0] < 0.9)
    static = QuerySelection(dim=D, num_queries=6, enabled=False)(memory, mask)
    assert static.reference.shape == (2, 6, 2) and static.proposal_logits is None


def test_denoising_noise_bounds_and_layout() -> None:
    spans = [torch.tensor([[0.5, 0.4]]), torch.tensor([[0.3, 0.2], [0.7, 0.2]])]
    dn = make_denoising_queries(spans, groups=3, noise=0.4, generator=torch.Generator().manual_seed(0))
    assert dn.num_queries == 3 * 2 * 2
    assert dn.positive.view(2, 3, 2, 2)[:, :, 0].all() and not dn.positive.view(2, 3, 2, 2)[:, :, 1].any()
    assert dn.valid[0].view(3, 2, 2)[:, :, 1].logical_not().all() and dn.valid[1].all()
    moved = (span_cw_to_se(dn.reference[0].view(3, 2, 2, 2)[:, :, 0]) - torch.tensor([0.3, 0.7])).abs()
    assert torch.all(moved[:, 0] <= 0.4 * 0.2 + 1e-6)  # positives: ends move < λ·w/2
    assert torch.all(moved[:, 1] >= 0.4 * 0.2 - 1e-6)  # negatives: at least λ·w/2
    assert make_denoising_queries([torch.zeros(0, 2)], groups=3, noise=0.4) is None


def test_attention_mask_hides_denoising_from_matching_queries() -> None:
    mask = decoder_attention_mask(4, 2, 3, 2, torch.device("cpu"))
    assert mask.shape == (9, 9)
    assert mask[4:7, :4].all() and mask[4:7, 7:].all() and not mask[4:7, 4:7].any()
    assert not mask[:2, :2].any() and mask[:2, 2:4].all() and not mask[:2, 4:7].any()
    assert mask[7:, :7].all() and not mask[7:, 7:].any()
    assert decoder_attention_mask(0, 0, 3, 0, torch.device("cpu")) is None


def test_matching_queries_are_blind_to_denoising_queries() -> None:
    decoder = DINODecoder(dim=D, heads=4, ffn_dim=32, dropout=0.0, layers=2).eval()
    memory, pos = torch.randn(2, 8, D), torch.randn(2, 8, D)
    mask = torch.ones(2, 8, dtype=torch.bool)
    queries, refs = torch.randn(2, 5, D), torch.rand(2, 5, 2) * 0.8 + 0.1
    alone_h, alone_s = decoder(queries, refs, memory, pos, mask)
    noise_q, noise_r = torch.randn(2, 4, D), torch.rand(2, 4, 2) * 0.8 + 0.1
    self_mask = decoder_attention_mask(4, 2, 5, 0, torch.device("cpu"))
    hidden, spans = decoder(torch.cat([noise_q, queries], 1), torch.cat([noise_r, refs], 1), memory, pos, mask, self_mask)
    assert hidden.shape == (2, 2, 9, D) and spans.shape == (2, 2, 9, 2)
    torch.testing.assert_close(hidden[:, :, 4:], alone_h)
    torch.testing.assert_close(spans[:, :, 4:], alone_s)


# ----- the assembled model -----


def test_model_outputs_ignore_padding_of_clips_and_tokens() -> None:
    config = tiny_config()
    torch.manual_seed(0)
    model, _ = build("sg_detr", config)
    model.eval()
    batch = make_batch()
    with torch.no_grad():
        full = model(batch.video_feats, batch.video_mask, batch.text_feats, batch.text_mask)
        one = model(batch.video_feats[1:2, :9], batch.video_mask[1:2, :9], batch.text_feats[1:2, :3], batch.text_mask[1:2, :3])
    for key in ("pred_logits", "pred_spans", "pred_iou"):
        torch.testing.assert_close(full[key][1], one[key][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(full["saliency_scores"][1, :9], one["saliency_scores"][0], atol=1e-5, rtol=1e-4)
    assert torch.all(full["saliency_scores"][1, 9:] == 0)
    torch.testing.assert_close(full["atss_logits"][1, : 9 * 3], one["atss_logits"][0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("row", list(ABLATION_ROWS))
def test_every_ablation_row_trains_with_its_own_losses(row: str) -> None:
    config = tiny_config(row)
    torch.manual_seed(0)
    model, criterion = build("sg_detr", config)
    batch = make_batch()
    outputs = model(batch.video_feats, batch.video_mask, batch.text_feats, batch.text_mask, batch.targets)
    losses = criterion(outputs, batch)
    assert all(torch.isfinite(v) for v in losses.values())
    assert ("loss_iou" in losses) == (row >= "c")
    assert ("loss_atss_label" in losses) == (row >= "e") and ("loss_span_extra_0" in losses) == (row >= "e")
    assert {"loss_label_dn_0", "loss_span_enc", "loss_span_1", "loss_alignment", "loss_moment_bce",
            "loss_saliency_bce", "loss_saliency_neg_pair", "loss_saliency_rank_contrastive"} <= set(losses)
    sum(losses.values()).backward()
    assert model.local_saliency.alpha.grad is not None
    assert (model.amplifier is not None) == (row >= "d")
    if model.amplifier is not None:
        assert model.amplifier.refine.weight.grad.abs().sum() > 0
    if row >= "e":
        assert model.atss_head.cls_out.weight.grad.abs().sum() > 0
        assert model.extra_content.weight.grad.abs().sum() > 0


def test_postprocess_returns_ranked_spans_in_seconds_and_global_saliency() -> None:
    config = tiny_config()
    model, _ = build("sg_detr", config)
    model.eval()
    batch = make_batch()
    with torch.no_grad():
        outputs = model(batch.video_feats, batch.video_mask, batch.text_feats, batch.text_mask)
        predictions = model.postprocess(outputs, batch.video_mask, clip_seconds=2.0)
    assert len(predictions) == 3
    for prediction, length in zip(predictions, (12, 9, 12)):
        assert prediction.spans.ndim == 2 and prediction.spans.shape[1] == 2
        assert np.all(prediction.spans >= 0) and np.all(prediction.spans <= length * 2.0 + 1e-4)
        assert np.all(prediction.spans[:, 1] >= prediction.spans[:, 0])
        assert np.all(np.diff(prediction.scores) <= 1e-7) and np.all((prediction.scores >= 0) & (prediction.scores <= 1))
        assert prediction.saliency.shape == (length,)
    np.testing.assert_allclose(
        predictions[1].saliency, torch.sigmoid(outputs["saliency_global"][1, :9]).numpy(), rtol=1e-6
    )


# ----- config -----


def test_presets_and_ablation_rows() -> None:
    assert {"default", "qvhighlights", "charades", "tacos"} <= set(PRESETS)
    default = preset("sg_detr")
    assert default.model.hidden_dim == 256 and default.optim.lr == 5e-4 and default.optim.epochs == 150
    assert default.optim.lr_milestones == (100, 125) and default.optim.batch_size == 128
    assert PRESETS["charades"].optim.epochs == 100 and PRESETS["charades"].optim.batch_size == 64
    assert PRESETS["tacos"].optim.epochs == 120 and PRESETS["tacos"].optim.batch_size == 32
    switches = [
        (c.model.encoder.sgca, c.model.iou_head.enabled, c.model.amplifier.enabled, c.model.atss.enabled)
        for c in (ablation_config(r) for r in "abcde")
    ]
    assert switches == [
        (False, False, False, False), (True, False, False, False), (True, True, False, False),
        (True, True, True, False), (True, True, True, True),
    ]
    assert ablation_config("e") == SGDETRConfig()
    with pytest.raises(ValueError, match="unknown ablation row"):
        ablation_config("f")
    config = ablation_config("c", PRESETS["charades"])
    assert from_dict(SGDETRConfig, to_dict(config)) == config
    assert dataclasses.asdict(config)["model"]["atss"]["anchor_widths"] == (1, 2, 4, 8, 16, 32, 64)


def test_windows_without_moments_and_batches_of_one_train() -> None:
    config = tiny_config()
    model, criterion = build("sg_detr", config)
    batch = make_batch()
    batch.targets[1]["spans"] = torch.zeros(0, 2)
    outputs = model(batch.video_feats, batch.video_mask, batch.text_feats, batch.text_mask, batch.targets)
    losses = criterion(outputs, batch)
    assert all(torch.isfinite(v) for v in losses.values())
    assert not outputs["dn_meta"].valid[1].any() and not outputs["atss_targets"].assigned[1].ge(0).any()

    single = make_batch(lengths=(12,), tokens=(5,))
    outputs = model(single.video_feats, single.video_mask, single.text_feats, single.text_mask, single.targets)
    assert "saliency_scores_neg" not in outputs
    losses = criterion(outputs, single)
    assert losses["loss_saliency_neg_pair"] == 0 and losses["loss_alignment"] == 0
    sum(losses.values()).backward()
