"""Training-free grounding: saliency, adaptive threshold, runs and confidence."""

from __future__ import annotations

import numpy as np
import pytest

from search.training_free import (
    TrainingFreeConfig,
    TrainingFreeGrounder,
    above_threshold_runs,
    clip_query_similarity,
)


def _window(profile: list[float], dim: int = 8) -> np.ndarray:
    """Clip embeddings whose cosine with axis 0 equals ``profile`` (rest of the norm on axis 1)."""
    s = np.asarray(profile, dtype=np.float64)
    feats = np.zeros((s.size, dim), dtype=np.float32)
    feats[:, 0] = s
    feats[:, 1] = np.sqrt(np.clip(1 - s**2, 0, None))
    return feats


QUERY = np.eye(8, dtype=np.float32)[0]


def test_similarity_is_cosine_and_renormalises() -> None:
    feats = _window([0.9, -0.2, 0.0]) * np.array([[3.0], [0.5], [1.0]], dtype=np.float32)
    np.testing.assert_allclose(clip_query_similarity(feats, 2 * QUERY), [0.9, -0.2, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="do not match"):
        clip_query_similarity(feats, np.ones(5, dtype=np.float32))


@pytest.mark.parametrize(
    ("mask", "gap", "min_len", "expected"),
    [
        ([0, 1, 1, 0, 0, 1, 0], 0, 1, [(1, 3), (5, 6)]),
        ([0, 1, 1, 0, 1, 0], 1, 1, [(1, 5)]),
        ([1, 0, 0, 1], 1, 1, [(0, 1), (3, 4)]),
        ([1, 1, 0, 1], 0, 2, [(0, 2)]),
        ([0, 0, 0], 0, 1, []),
        ([], 0, 1, []),
    ],
)
def test_runs(mask: list[int], gap: int, min_len: int, expected: list[tuple[int, int]]) -> None:
    assert above_threshold_runs(np.asarray(mask, dtype=bool), max_gap=gap, min_length=min_len) == expected


def test_single_segment_is_found_with_exact_bounds_and_high_confidence() -> None:
    profile = [0.1] * 20 + [0.95] * 10 + [0.1] * 30
    (pred,) = TrainingFreeGrounder().predict([_window(profile)], QUERY, clip_seconds=2.0)
    np.testing.assert_allclose(pred.spans[0], [40.0, 60.0])
    assert pred.scores[0] > 0.9
    assert pred.saliency.shape == (60,) and pred.saliency.dtype == np.float32
    np.testing.assert_allclose(pred.saliency[25], 0.95, atol=1e-6)


def test_one_noisy_clip_neither_splits_nor_creates_a_moment() -> None:
    rng = np.random.default_rng(0)
    profile = np.r_[np.full(20, 0.1), np.full(12, 0.9), np.full(20, 0.1)] + rng.normal(0, 0.02, 52)
    profile[25] = 0.45   # a dip inside the moment
    profile[5] = 0.5     # an isolated blip outside
    (pred,) = TrainingFreeGrounder().predict([_window(list(profile))], QUERY, clip_seconds=2.0)
    np.testing.assert_allclose(pred.spans[0], [40.0, 64.0])
    assert all(score < 0.5 for score in pred.scores[1:])


def test_fully_relevant_window_is_one_moment_when_other_windows_are_not() -> None:
    relevant = _window([0.9] * 10)
    dull = _window([0.05] * 40)
    preds = TrainingFreeGrounder().predict([relevant, dull], QUERY, clip_seconds=2.0)
    np.testing.assert_allclose(preds[0].spans[0], [0.0, 20.0])
    assert preds[0].scores[0] > 0.9
    assert preds[1].scores.size == 0 or preds[1].scores.max() < 0.1


def test_weak_bump_scores_below_a_clear_match() -> None:
    strong = _window([0.1] * 10 + [0.9] * 5 + [0.1] * 10)
    weak = _window([0.1] * 10 + [0.3] * 5 + [0.1] * 10)
    strong_pred, weak_pred = TrainingFreeGrounder().predict([strong, weak], QUERY, clip_seconds=2.0)
    np.testing.assert_allclose(weak_pred.spans[0], [20.0, 30.0])
    assert weak_pred.scores[0] < 0.5 * strong_pred.scores[0]


def test_flat_library_gives_neutral_confidence_over_the_whole_window() -> None:
    (pred,) = TrainingFreeGrounder().predict([_window([0.4] * 3)], QUERY, clip_seconds=2.0)
    np.testing.assert_allclose(pred.spans, [[0.0, 6.0]])
    np.testing.assert_allclose(pred.scores, [0.5])


def test_two_moments_sorted_by_confidence_and_top_k() -> None:
    profile = [0.0] * 5 + [0.6] * 4 + [0.0] * 8 + [0.95] * 4 + [0.0] * 5
    config = TrainingFreeConfig(top_k=1)
    (both,) = TrainingFreeGrounder().predict([_window(profile)], QUERY, clip_seconds=1.0)
    (one,) = TrainingFreeGrounder(config).predict([_window(profile)], QUERY, clip_seconds=1.0)
    np.testing.assert_allclose(both.spans, [[17.0, 21.0], [5.0, 9.0]])
    assert both.scores[0] > both.scores[1]
    np.testing.assert_allclose(one.spans, both.spans[:1])


def test_batch_equals_one_by_one_when_background_is_shared() -> None:
    windows = [_window([0.1] * 8 + [0.8] * 4 + [0.1] * 8), _window([0.1] * 5 + [0.7] * 3 + [0.1] * 12)]
    batch = TrainingFreeGrounder().predict(windows, QUERY, clip_seconds=2.0)
    assert len(batch) == 2
    for pred, window in zip(batch, windows):
        (alone,) = TrainingFreeGrounder().predict([window], QUERY, clip_seconds=2.0)
        np.testing.assert_allclose(pred.spans, alone.spans)


def test_bad_config_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        TrainingFreeConfig(threshold_ratio=1.0)
    with pytest.raises(ValueError):
        TrainingFreeGrounder().predict([_window([0.5])], QUERY, clip_seconds=0)
    assert TrainingFreeGrounder().predict([], QUERY, clip_seconds=2.0) == []


def test_clip_scale_cosines_work_like_one_hot_ones() -> None:
    """CLIP's text-video cosines sit in ~[0.15, 0.35]: the thresholds are relative, so the same moment is found."""
    rng = np.random.default_rng(3)
    profile = np.r_[np.full(30, 0.18), np.full(8, 0.31), np.full(37, 0.18)] + rng.normal(0, 0.01, 75)
    other = np.full(75, 0.18) + rng.normal(0, 0.01, 75)
    match, dull = TrainingFreeGrounder().predict([_window(list(profile)), _window(list(other))], QUERY, 2.0)
    start, end = match.spans[0]
    inter = max(0.0, min(end, 76.0) - max(start, 60.0))
    assert inter / (max(end, 76.0) - min(start, 60.0)) >= 0.5
    assert match.scores[0] > 0.7
    assert dull.scores.size == 0 or dull.scores.max() < 0.3
