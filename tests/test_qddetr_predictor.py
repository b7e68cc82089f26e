"""Grounder: batch equals one-by-one, normalisation inside, seconds, errors for bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from grounding.checkpoint import CheckpointMeta, CheckpointMismatchError, save_checkpoint
from grounding.config_tree import to_dict
from grounding.models import build_model, preset
from grounding.predictor import Grounder, fit_saliency, submission_row, WindowPrediction

VIDEO_DIM, TEXT_DIM = 16, 8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = preset("qd_detr", "tiny")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, video_dim=VIDEO_DIM, text_dim=TEXT_DIM))
    torch.manual_seed(0)
    model = build_model("qd_detr", cfg)
    directory = tmp_path_factory.mktemp("run")
    save_checkpoint(directory, model, CheckpointMeta(model="qd_detr", config=to_dict(cfg), video_dim=VIDEO_DIM,
                                                     text_dim=TEXT_DIM, clip_seconds=2.0))
    return directory


def _windows(seed: int, lengths: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, VIDEO_DIM)).astype(np.float32) for n in lengths]


def test_batch_equals_one_by_one(run_dir: Path) -> None:
    grounder = Grounder.from_checkpoint(run_dir)
    windows = _windows(0, (20, 7, 13, 1))
    query = np.random.default_rng(1).standard_normal((5, TEXT_DIM)).astype(np.float32)
    batched = grounder.predict(windows, query, top_k=10)
    for window, together in zip(windows, batched):
        alone = grounder.predict([window], query, top_k=10)[0]
        # an untrained model scores its queries almost alike: compare spans as a set, order via the scores
        np.testing.assert_allclose(np.sort(together.spans, axis=0), np.sort(alone.spans, axis=0), atol=1e-4)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(together.saliency, alone.saliency, atol=1e-5)
    assert [len(p.saliency) for p in batched] == [20, 7, 13, 1]
    for prediction, window in zip(batched, windows):
        assert prediction.spans.shape == (10, 2) and prediction.scores.shape == (10,)
        assert prediction.spans.min() >= 0 and prediction.spans.max() <= 2.0 * len(window) + 1e-4
        assert np.all(np.diff(prediction.scores) <= 0)


def test_inputs_are_normalised_inside(run_dir: Path) -> None:
    grounder = Grounder.from_checkpoint(run_dir)
    windows = _windows(2, (9,))
    query = np.random.default_rng(3).standard_normal((4, TEXT_DIM)).astype(np.float32)
    plain = grounder.predict(windows, query)[0]
    scaled = grounder.predict([windows[0] * 7.5], query * 0.1)[0]
    np.testing.assert_allclose(plain.spans, scaled.spans, atol=1e-4)
    np.testing.assert_allclose(plain.saliency, scaled.saliency, atol=1e-5)


def test_bad_inputs_are_clear_errors(run_dir: Path) -> None:
    grounder = Grounder.from_checkpoint(run_dir)
    query = np.ones((3, TEXT_DIM), dtype=np.float32)
    assert grounder.predict([], query) == []
    with pytest.raises(CheckpointMismatchError, match="dim 16, window 0 has dim 5"):
        grounder.predict([np.ones((4, 5), dtype=np.float32)], query)
    with pytest.raises(CheckpointMismatchError, match="dim 8, the query have dim 3"):
        grounder.predict(_windows(0, (4,)), np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        grounder.predict([np.ones((0, VIDEO_DIM), dtype=np.float32)], query)


def test_submission_row_has_the_official_shape() -> None:
    prediction = WindowPrediction(spans=np.array([[2.0, 6.0], [0.0, 1.0]]), scores=np.array([0.9, 0.2]),
                                  saliency=np.array([0.1, 0.5, 0.3]))
    row = submission_row(7, "a dog", "v1", 5, prediction)
    assert row["pred_relevant_windows"] == [[2.0, 6.0, 0.9], [0.0, 1.0, 0.2]]
    assert row["pred_saliency_scores"][:3] == [0.1, 0.5, 0.3] and len(row["pred_saliency_scores"]) == 5
    assert max(row["pred_saliency_scores"][3:]) < 0.1
    assert fit_saliency(np.arange(6.0), 4) == [0.0, 1.0, 2.0, 3.0]
    snapped = submission_row(7, "a dog", "v1", 5, WindowPrediction(
        spans=np.array([[2.9, 7.2], [0.4, 1.1]]), scores=np.array([0.9, 0.2]), saliency=np.zeros(5)), round_to=2.0)
    assert snapped["pred_relevant_windows"] == [[2.0, 8.0, 0.9], [0.0, 2.0, 0.2]]


def test_top_k_truncates(run_dir: Path) -> None:
    grounder = Grounder.from_checkpoint(run_dir)
    prediction = grounder.predict(_windows(4, (6,)), np.ones((2, TEXT_DIM), dtype=np.float32), top_k=3)[0]
    assert prediction.spans.shape == (3, 2) and prediction.scores.shape == (3,) and prediction.saliency.shape == (6,)


def test_bf16_precision_stays_close_to_fp32(run_dir: Path) -> None:
    windows = _windows(5, (12, 30))
    query = np.random.default_rng(6).standard_normal((6, TEXT_DIM)).astype(np.float32)
    full = Grounder.from_checkpoint(run_dir).predict(windows, query)
    half = Grounder.from_checkpoint(run_dir, precision="bf16").predict(windows, query)
    for a, b in zip(full, half):
        assert b.saliency.dtype == np.float32 and b.spans.dtype == np.float32
        np.testing.assert_allclose(np.sort(a.spans, axis=0), np.sort(b.spans, axis=0), atol=0.5)
        np.testing.assert_allclose(a.saliency, b.saliency, atol=0.05)
    with pytest.raises(ValueError, match="unknown precision"):
        Grounder.from_checkpoint(run_dir, precision="fp8")
