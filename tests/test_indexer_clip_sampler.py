"""Clip boundaries and sample instants."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.clip_sampler import clip_bounds, sample_times


@pytest.mark.parametrize("duration, expected", [
    (6.0, [(0, 2), (2, 4), (4, 6)]),
    (7.0, [(0, 2), (2, 4), (4, 6), (6, 7)]),          # tail of exactly half a clip is kept
    (6.9, [(0, 2), (2, 4), (4, 6)]),                  # 0.9 s tail < half a clip is dropped
    (7.6, [(0, 2), (2, 4), (4, 6), (6, 7.6)]),
    (5.9999999, [(0, 2), (2, 4), (4, 6)]),            # float noise in container durations
    (1.5, [(0, 1.5)]),                                # shorter than one clip: one clip
    (0.4, [(0, 0.4)]),                                # even shorter than half a clip
    (0.0, []),
])
def test_clip_bounds_follow_the_half_clip_rule(duration: float, expected: list[tuple[float, float]]) -> None:
    bounds = clip_bounds(duration, 2.0)
    assert bounds.dtype == np.float64 and bounds.shape == (len(expected), 2)
    np.testing.assert_allclose(bounds, np.array(expected, dtype=float).reshape(-1, 2), atol=1e-6)


@pytest.mark.parametrize("duration", [0.3, 1.0, 2.0, 3.3, 59.97, 3600.04])
@pytest.mark.parametrize("clip_seconds", [1.0, 2.0, 2.5])
def test_clips_are_consecutive_and_stay_inside_the_video(duration: float, clip_seconds: float) -> None:
    bounds = clip_bounds(duration, clip_seconds)
    assert len(bounds) >= 1
    np.testing.assert_allclose(bounds[1:, 0], bounds[:-1, 1])
    assert bounds[0, 0] == 0.0 and bounds[-1, 1] <= duration + 1e-9
    lengths = bounds[:, 1] - bounds[:, 0]
    assert np.all(lengths[:-1] == pytest.approx(clip_seconds))
    uncovered = duration - bounds[-1, 1]
    assert uncovered < clip_seconds / 2 + 1e-9


def test_samples_sit_at_the_centres_of_equal_sub_intervals() -> None:
    bounds = clip_bounds(5.0, 2.0)  # [0,2) [2,4) [4,5)
    times = sample_times(bounds, 4)
    np.testing.assert_allclose(times[0], [0.25, 0.75, 1.25, 1.75])
    np.testing.assert_allclose(times[2], [4.125, 4.375, 4.625, 4.875])
    assert np.all(times > bounds[:, :1]) and np.all(times < bounds[:, 1:])
    assert np.all(np.diff(times.ravel()) > 0)
    np.testing.assert_allclose(sample_times(bounds, 1)[:, 0], bounds.mean(axis=1))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        clip_bounds(10.0, 0.0)
    with pytest.raises(ValueError):
        sample_times(np.zeros((1, 2)), 0)
    assert clip_bounds(float("nan"), 2.0).shape == (0, 2)
