"""Coarse retrieval: adaptive k, window placement around hit clusters, shortlisting and filters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from search.coarse_retrieval import CoarseConfig, CoarseRetriever, adaptive_k, place_windows

WINDOW = dict(window_clips=75, overlap_clips=15, gap_clips=5)


@dataclass(frozen=True)
class FakeVideo:
    id: int
    clip_count: int
    path: str = ""
    duration: float = 0.0


class ExactStore:
    """Exact inner-product search over per-video embeddings (the Library's search/location contract)."""

    def __init__(self, videos: dict[int, np.ndarray]) -> None:
        self.vectors = np.concatenate(list(videos.values()))
        self.video_of = np.concatenate([np.full(len(v), vid) for vid, v in videos.items()])
        self.clip_of = np.concatenate([np.arange(len(v)) for v in videos.values()])
        self.searched_k: list[int] = []

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.searched_k.append(k)
        scores = queries @ self.vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1).astype(np.float32), order.astype(np.int64)

    def clip_locations(self, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.video_of[clip_ids], self.clip_of[clip_ids]


def _video(n_clips: int, hits: dict[tuple[int, int], float], dim: int = 4, seed: int = 0) -> np.ndarray:
    """n_clips embeddings; clips in each [a, b) of ``hits`` have that cosine with axis 0, others ~0."""
    rng = np.random.default_rng(seed)
    feats = np.zeros((n_clips, dim), dtype=np.float32)
    feats[:, 0] = rng.uniform(-0.05, 0.05, n_clips)
    for (a, b), cos in hits.items():
        feats[a:b, 0] = cos
    feats[:, 1] = np.sqrt(1 - feats[:, 0] ** 2)
    return feats


QUERY = np.eye(4, dtype=np.float32)[0]


@pytest.mark.parametrize(("n", "expected"), [(0, 0), (6, 6), (500, 128), (250_000, 1000), (10**8, 2048)])
def test_adaptive_k(n: int, expected: int) -> None:
    assert adaptive_k(n, CoarseConfig()) == expected


def test_adaptive_k_grows_with_the_videos_asked_for() -> None:
    assert adaptive_k(10_000, CoarseConfig(), n_videos=50) == 500
    assert adaptive_k(10_000, CoarseConfig(), n_videos=5) == 200


def test_short_video_gets_one_window_over_all_of_it() -> None:
    (window,) = place_windows(np.array([1, 2]), np.array([0.9, 0.8]), 3, 7, **WINDOW)
    assert (window.video_id, window.first_clip, window.end_clip, window.best_hit) == (7, 0, 3, pytest.approx(0.9))


def test_window_is_centred_on_a_cluster_deep_in_a_long_video() -> None:
    hits = np.arange(4200, 4215)  # minute 140 of a 3-hour film at 2 s clips
    (window,) = place_windows(hits, np.full(15, 0.9), 5400, 1, **WINDOW)
    assert window.n_clips == 75
    assert window.first_clip <= 4200 and window.end_clip >= 4215
    assert abs((window.first_clip + window.end_clip) / 2 - 4207.5) <= 1


def test_windows_are_clamped_to_the_video_edges() -> None:
    start, end = place_windows(np.array([0, 1, 98, 99]), np.array([0.5, 0.5, 0.9, 0.9]), 100, 1, **WINDOW)
    assert (start.first_clip, start.end_clip) == (25, 100)  # best first
    assert (end.first_clip, end.end_clip) == (0, 75)


def test_nearby_clusters_share_a_window_and_far_ones_do_not() -> None:
    near = place_windows(np.array([100, 101, 130, 131]), np.array([0.9, 0.9, 0.8, 0.8]), 1000, 1, **WINDOW)
    far = place_windows(np.array([100, 101, 400, 401]), np.array([0.9, 0.9, 0.8, 0.8]), 1000, 1, **WINDOW)
    assert len(near) == 1 and near[0].first_clip <= 100 and near[0].end_clip > 131
    assert [(w.first_clip <= h < w.end_clip) for w, h in zip(far, (100, 400))] == [True, True]
    assert far[0].best_hit > far[1].best_hit


def test_a_cluster_longer_than_a_window_is_tiled_with_overlap() -> None:
    hits = np.arange(1000, 1200)  # 400 s of matching clips
    windows = sorted(place_windows(hits, np.full(200, 0.9), 3000, 1, **WINDOW), key=lambda w: w.first_clip)
    assert all(w.n_clips == 75 for w in windows)
    assert windows[0].first_clip == 1000 and windows[-1].end_clip == 1200
    for a, b in zip(windows, windows[1:]):
        assert 0 < a.end_clip - b.first_clip <= 75  # neighbours overlap
    covered = set().union(*(range(w.first_clip, w.end_clip) for w in windows))
    assert covered >= set(range(1000, 1200))


def test_shortlist_ranks_videos_by_best_hit_and_keeps_geometry() -> None:
    store = ExactStore({
        10: _video(40, {(10, 15): 0.6}, seed=1),
        11: _video(5400, {(4200, 4210): 0.95}, seed=2),
        12: _video(3, {}, seed=3),
    })
    records = {10: FakeVideo(10, 40), 11: FakeVideo(11, 5400), 12: FakeVideo(12, 3)}
    shortlist = CoarseRetriever(store).shortlist(QUERY, n_clips=5443, n_videos=2, videos=records)
    assert store.searched_k == [adaptive_k(5443, CoarseConfig())]
    assert list(shortlist.video_scores)[:2] == [11, 10]
    best = shortlist.windows[0]
    assert best.video_id == 11 and best.first_clip <= 4200 and best.end_clip >= 4210
    assert shortlist.top_score == pytest.approx(0.95)
    assert shortlist.cutoff_score < 0.6
    assert all(w.video_id in shortlist.videos for w in shortlist.windows)


def test_window_budget_and_per_video_cap() -> None:
    videos = {v: _video(600, {(50, 55): 0.9, (300, 305): 0.8, (500, 505): 0.7}, seed=v) for v in range(8)}
    store = ExactStore(videos)
    config = CoarseConfig(max_windows=10, max_windows_per_video=2)
    records = {i: FakeVideo(i, 600) for i in range(8)}
    shortlist = CoarseRetriever(store, config).shortlist(QUERY, n_clips=4800, n_videos=5, videos=records)
    assert len(shortlist.windows) == 10
    per_video = {v: sum(w.video_id == v for w in shortlist.windows) for v in range(8)}
    assert max(per_video.values()) <= 2
    assert [w.best_hit for w in shortlist.windows] == sorted((w.best_hit for w in shortlist.windows), reverse=True)


def test_filter_widens_the_search_until_allowed_videos_are_hit() -> None:
    # 50 decoy videos with strong hits everywhere, one allowed video with a weak one.
    videos = {v: _video(200, {(0, 200): 0.9}, seed=v) for v in range(50)}
    videos[99] = _video(200, {(120, 125): 0.3}, seed=99)
    store = ExactStore(videos)
    shortlist = CoarseRetriever(store).shortlist(
        QUERY, n_clips=10_200, n_videos=5, videos={99: FakeVideo(99, 200)}, filtered=True
    )
    assert set(shortlist.videos) == {99}
    assert any(w.first_clip <= 120 and w.end_clip >= 125 for w in shortlist.windows)
    assert shortlist.top_score == pytest.approx(0.3)
    assert len(store.searched_k) >= 1 and store.searched_k[-1] > adaptive_k(10_200, CoarseConfig())


def test_empty_filter_and_unknown_videos_give_an_empty_shortlist() -> None:
    store = ExactStore({1: _video(10, {(2, 4): 0.9})})
    retriever = CoarseRetriever(store)
    assert retriever.shortlist(QUERY, n_clips=10, n_videos=3, videos={}).windows == []
    assert retriever.shortlist(QUERY, n_clips=10, n_videos=3, videos={}, filtered=True).windows == []


def test_filter_widening_stops_at_the_whole_library() -> None:
    # The allowed video has no clip similar to the query at all: search the whole index once, then stop.
    store = ExactStore({1: _video(300, {(0, 300): 0.9}), 2: _video(10, {})})
    shortlist = CoarseRetriever(store).shortlist(
        QUERY, n_clips=310, n_videos=3, videos={2: FakeVideo(2, 10)}, filtered=True
    )
    assert store.searched_k[-1] == 310
    assert set(shortlist.videos) == {2}
