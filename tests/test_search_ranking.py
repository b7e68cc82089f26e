"""Ranking: absolute seconds, combined score, seam merging, NMS, caps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from search.coarse_retrieval import CandidateWindow
from search.ranking import RankingConfig, normalised_coarse, rank_moments, temporal_iou


@dataclass(frozen=True)
class Video:
    id: int
    path: str
    duration: float
    clip_seconds: float = 2.0


@dataclass(frozen=True)
class Pred:
    spans: np.ndarray
    scores: np.ndarray
    saliency: np.ndarray


def pred(spans: list[tuple[float, float]], scores: list[float], n_clips: int, peak: int | None = None) -> Pred:
    saliency = np.zeros(n_clips)
    if peak is not None:
        saliency[peak] = 1.0
    return Pred(np.asarray(spans, dtype=float).reshape(-1, 2), np.asarray(scores, dtype=float), saliency)


VIDEOS = {1: Video(1, "/v/film.mkv", 10800.0), 2: Video(2, "/v/short.mp4", 6.0)}


def test_iou_and_coarse_normalisation() -> None:
    assert temporal_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert temporal_iou((0, 1), (2, 3)) == 0.0
    assert normalised_coarse(0.9, 0.9, 0.3) == 1.0
    assert normalised_coarse(0.6, 0.9, 0.3) == pytest.approx(0.5)
    assert normalised_coarse(0.1, 0.9, 0.3) == 0.0
    assert normalised_coarse(0.5, 0.5, 0.5) == 1.0


def test_spans_map_to_absolute_seconds_deep_in_a_film() -> None:
    window = CandidateWindow(1, 4170, 4245, 0.9)  # starts at 8340 s (minute 139)
    sims = np.zeros(75)
    sims[30:40] = 0.9
    (moment,) = rank_moments([window], [pred([(60.0, 80.0)], [0.8], 75, peak=33)], [sims], VIDEOS,
                             top_score=0.9, cutoff_score=0.1, top=5, per_video=3)
    assert (moment.start, moment.end) == (8400.0, 8420.0)
    assert moment.score == pytest.approx(0.5 * 0.8 + 0.5 * 1.0)
    assert moment.saliency_start == 8340.0 and len(moment.saliency) == 75
    assert moment.best_time == 8340.0 + 33 * 2.0
    assert (moment.path, moment.video_id, moment.video_duration, moment.clip_seconds) == ("/v/film.mkv", 1, 10800.0, 2.0)


def test_spans_are_clamped_to_the_video_end() -> None:
    window = CandidateWindow(2, 0, 3, 0.8)
    (moment,) = rank_moments([window], [pred([(2.0, 7.5)], [0.9], 3)], [np.full(3, 0.8)], VIDEOS,
                             top_score=0.8, cutoff_score=0.2, top=5, per_video=3)
    assert (moment.start, moment.end) == (2.0, 6.0)


def test_fragments_at_a_window_seam_are_merged() -> None:
    a = CandidateWindow(1, 0, 75, 0.9)     # 0-150 s
    b = CandidateWindow(1, 60, 135, 0.9)   # 120-270 s
    sims = [np.full(75, 0.9), np.full(75, 0.9)]
    preds = [pred([(130.0, 150.0)], [0.7], 75), pred([(0.0, 50.0)], [0.8], 75)]
    (moment,) = rank_moments([a, b], preds, sims, VIDEOS, top_score=0.9, cutoff_score=0.1, top=5, per_video=3)
    assert (moment.start, moment.end) == (130.0, 170.0)
    assert moment.score == pytest.approx(0.5 * 0.8 + 0.5)
    assert moment.saliency_start == 120.0  # from the better fragment's window


def test_duplicates_from_overlapping_windows_are_suppressed_not_merged() -> None:
    a = CandidateWindow(1, 0, 75, 0.9)
    b = CandidateWindow(1, 30, 105, 0.9)   # 60-210 s
    sims = [np.full(75, 0.9), np.full(75, 0.9)]
    preds = [pred([(100.0, 120.0)], [0.6], 75), pred([(42.0, 62.0)], [0.9], 75)]
    (moment,) = rank_moments([a, b], preds, sims, VIDEOS, top_score=0.9, cutoff_score=0.1, top=5, per_video=3)
    assert (moment.start, moment.end) == (102.0, 122.0)


def test_per_video_cap_top_cap_and_order() -> None:
    film = CandidateWindow(1, 0, 75, 0.9)
    short = CandidateWindow(2, 0, 3, 0.5)
    preds = [pred([(0, 10), (20, 30), (40, 50), (60, 70)], [0.9, 0.8, 0.7, 0.6], 75), pred([(0, 6)], [0.95], 3)]
    sims = [np.full(75, 0.9), np.full(3, 0.5)]
    moments = rank_moments([film, short], preds, sims, VIDEOS, top_score=0.9, cutoff_score=0.1, top=3, per_video=2)
    assert [m.video_id for m in moments] == [1, 1, 2]
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
    assert rank_moments([film], preds[:1], sims[:1], VIDEOS, top_score=0.9, cutoff_score=0.1, top=10,
                        per_video=10)[-1].start == 60.0


def test_grounding_weight_trades_confidence_for_similarity() -> None:
    windows = [CandidateWindow(1, 0, 75, 0.9), CandidateWindow(2, 0, 3, 0.4)]
    preds = [pred([(0, 10)], [0.2], 75), pred([(0, 6)], [1.0], 3)]
    sims = [np.full(75, 0.9), np.full(3, 0.4)]
    kwargs = dict(top_score=0.9, cutoff_score=0.1, top=2, per_video=1)
    coarse_first = rank_moments(windows, preds, sims, VIDEOS, config=RankingConfig(grounding_weight=0.0), **kwargs)
    grounding_first = rank_moments(windows, preds, sims, VIDEOS, config=RankingConfig(grounding_weight=1.0), **kwargs)
    assert [m.video_id for m in coarse_first] == [1, 2]
    assert [m.video_id for m in grounding_first] == [2, 1]


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        rank_moments([CandidateWindow(1, 0, 3, 0.5)], [], [], VIDEOS, top_score=1, cutoff_score=0, top=1, per_video=1)
