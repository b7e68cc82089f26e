"""QD-DETR forward contract: shapes, padding invariance, negative pairs, postprocess, gradients."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grounding.models import UnknownModelError, build, preset

VIDEO_DIM, TEXT_DIM = 12, 10


@pytest.fixture(scope="module")
def config():
    cfg = preset("qd_detr", "tiny")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, video_dim=VIDEO_DIM, text_dim=TEXT_DIM))


def _inputs(batch: int, clips: int, tokens: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, clips, VIDEO_DIM + 2, generator=gen)
    text = torch.randn(batch, tokens, TEXT_DIM, generator=gen)
    return video, torch.ones(batch, clips, dtype=torch.bool), text, torch.ones(batch, tokens, dtype=torch.bool)


def test_output_shapes_and_negative_pairs_only_in_training(config) -> None:
    torch.manual_seed(0)
    model, _ = build("qd_detr", config)
    video, vmask, text, tmask = _inputs(3, 9, 5)
    out = model.train()(video, vmask, text, tmask)
    q = config.model.num_queries
    assert out["pred_logits"].shape == (3, q, 2) and out["pred_spans"].shape == (3, q, 2)
    assert out["saliency_scores"].shape == (3, 9) and out["saliency_scores_neg"].shape == (3, 9)
    assert len(out["aux_outputs"]) == config.model.decoder_layers - 1
    assert bool(((out["pred_spans"] >= 0) & (out["pred_spans"] <= 1)).all())
    assert "saliency_scores_neg" not in model.eval()(video, vmask, text, tmask)
    assert "saliency_scores_neg" not in model.train()(video[:1], vmask[:1], text[:1], tmask[:1])


def test_padding_does_not_change_predictions(config) -> None:
    torch.manual_seed(1)
    model, _ = build("qd_detr", config)
    model.eval()
    video, vmask, text, tmask = _inputs(1, 7, 4)
    pad_video = torch.cat([video, torch.randn(1, 5, VIDEO_DIM + 2)], dim=1)
    pad_vmask = torch.cat([vmask, torch.zeros(1, 5, dtype=torch.bool)], dim=1)
    pad_text = torch.cat([text, torch.randn(1, 3, TEXT_DIM)], dim=1)
    pad_tmask = torch.cat([tmask, torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    with torch.inference_mode():
        plain = model(video, vmask, text, tmask)
        padded = model(pad_video, pad_vmask, pad_text, pad_tmask)
    assert torch.allclose(plain["pred_spans"], padded["pred_spans"], atol=1e-5)
    assert torch.allclose(plain["pred_logits"], padded["pred_logits"], atol=1e-5)
    assert torch.allclose(plain["saliency_scores"], padded["saliency_scores"][:, :7], atol=1e-5)


def test_every_parameter_gets_a_gradient(config) -> None:
    torch.manual_seed(2)
    model, criterion = build("qd_detr", config)
    video, vmask, text, tmask = _inputs(2, 8, 4)
    batch = SimpleNamespace(
        targets=[{"spans": torch.tensor([[0.4, 0.3]])}, {"spans": torch.tensor([[0.7, 0.2]])}],
        video_mask=vmask, saliency=torch.rand(2, 8) * 4,
        saliency_pos=torch.tensor([[1, 2], [5, 6]]), saliency_neg=torch.tensor([[7, 0], [0, 1]]), vids=["a", "b"],
    )
    losses = criterion(model.train()(video, vmask, text, tmask), batch)
    sum(losses.values()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_postprocess_gives_sorted_spans_in_seconds(config) -> None:
    torch.manual_seed(3)
    model, _ = build("qd_detr", config)
    video, vmask, text, tmask = _inputs(2, 10, 4)
    vmask[1, 6:] = False
    with torch.inference_mode():
        preds = model.eval().postprocess(model(video, vmask, text, tmask), vmask, clip_seconds=2.0)
    assert [len(p.saliency) for p in preds] == [10, 6]
    for pred, seconds in zip(preds, (20.0, 12.0)):
        assert pred.spans.shape == (config.model.num_queries, 2)
        assert np.all(np.diff(pred.scores) <= 0)
        assert pred.spans.min() >= 0 and pred.spans.max() <= seconds + 1e-4
        assert np.all(pred.spans[:, 1] >= pred.spans[:, 0])
        assert np.all((pred.saliency >= 0) & (pred.saliency <= 1))


def test_unknown_model_and_preset_are_clear_errors() -> None:
    with pytest.raises(UnknownModelError, match="choose one of"):
        preset("nope")
    with pytest.raises(UnknownModelError, match="no preset"):
        preset("qd_detr", "nope")
