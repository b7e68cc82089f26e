"""Coarse retrieval: from a query vector to a shortlist of videos and candidate grounding windows.

1. FAISS top-k clips over the whole library, ``k`` adaptive to the library size
   (:func:`adaptive_k`: ``~ k_per_sqrt * sqrt(n_clips)``, clamped) so a 6-clip library is searched
   exhaustively and a million-clip library still returns enough hits to find every strong cluster.
   With a path/duration filter the search is widened until enough hits of allowed videos remain.
2. Hits grouped by video; a video's coarse score is its best clip similarity; the best videos are
   shortlisted.
3. Inside each shortlisted video, hits are split into clusters at gaps longer than
   ``cluster_gap_clips``; neighbouring clusters are packed together while they fit in one window of
   ``window_clips`` (the grounding model's training length, 75 clips = 150 s at 2 s clips); each
   group gets a window of that length centred on it (clamped to the video, shorter videos get one
   window over the whole video) and groups longer than a window are tiled with overlapping windows.
   Window positions are clip indices into the video, so a hit in minute 140 of a 3-hour film lands
   in a window starting near clip 4200 and is timed from there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from indexer.library import VideoRecord


class VectorStore(Protocol):
    """The part of :class:`indexer.library.Library` coarse retrieval needs."""

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def clip_locations(self, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class CoarseConfig:
    """Shortlist sizes and window geometry (units: clips unless named otherwise)."""

    k_per_sqrt: float = 2.0        # k = k_per_sqrt * sqrt(n_clips), clamped to [k_min, k_max]
    k_min: int = 128
    k_max: int = 2048
    hits_per_video: int = 10       # k >= hits_per_video * videos wanted
    max_videos: int = 20           # videos shortlisted for grounding (at least `top` is asked)
    max_windows: int = 20          # windows grounded per query (one model batch); at least `top`
    max_windows_per_video: int = 3
    window_clips: int = 75         # grounding model's training length
    window_overlap_clips: int = 15  # overlap of tiled windows over a long cluster
    cluster_gap_clips: int = 5     # hits further apart than this start a new cluster

    def __post_init__(self) -> None:
        if not 1 <= self.k_min <= self.k_max:
            raise ValueError("1 <= k_min <= k_max is required")
        if self.window_clips < 1 or not 0 <= self.window_overlap_clips < self.window_clips:
            raise ValueError("window_clips >= 1 and 0 <= window_overlap_clips < window_clips are required")
        if min(self.max_videos, self.max_windows, self.max_windows_per_video) < 1 or self.cluster_gap_clips < 0:
            raise ValueError("shortlist sizes must be >= 1 and cluster_gap_clips >= 0")


@dataclass(frozen=True)
class CandidateWindow:
    """A span of one video to ground: clips ``[first_clip, end_clip)``; ``best_hit`` = best coarse similarity in it."""

    video_id: int
    first_clip: int
    end_clip: int
    best_hit: float

    @property
    def n_clips(self) -> int:
        return self.end_clip - self.first_clip


@dataclass(frozen=True)
class Shortlist:
    """The outcome of coarse retrieval for one query.

    windows:      candidate windows, best ``best_hit`` first (at most ``max_windows``)
    videos:       records of the videos the windows belong to, by id
    video_scores: best clip similarity per shortlisted video
    top_score:    best clip similarity among allowed hits (``c_1``)
    cutoff_score: similarity of the last allowed hit (``c_k``): the retrieval cut-off
    k:            how many clips FAISS returned for the final search
    unknown_hits: hits of videos missing from ``videos`` in an unfiltered search (a stale
                  catalog: the caller may refresh it and search again)
    """

    windows: list[CandidateWindow]
    videos: dict[int, VideoRecord]
    video_scores: dict[int, float]
    top_score: float
    cutoff_score: float
    k: int
    unknown_hits: int = 0


def adaptive_k(n_clips: int, config: CoarseConfig, n_videos: int = 0) -> int:
    """Clips to fetch from FAISS for a library of ``n_clips`` vectors (never more than it holds).

    At least ``hits_per_video`` per video the caller wants ranked, so ``--top 50`` can reach 50 videos.
    """
    if n_clips <= 0:
        return 0
    k = int(math.ceil(max(config.k_per_sqrt * math.sqrt(n_clips), config.hits_per_video * n_videos)))
    return min(n_clips, max(config.k_min, min(config.k_max, k)))


def place_windows(
    clip_index: np.ndarray,
    scores: np.ndarray,
    n_clips: int,
    video_id: int,
    *,
    window_clips: int,
    overlap_clips: int,
    gap_clips: int,
) -> list[CandidateWindow]:
    """Windows around the clusters of one video's hits.

    clip_index int ``(h,)`` hit positions in the video (any order, duplicates allowed),
    scores float ``(h,)`` their similarities, n_clips the video's clip count
    -> windows of ``min(window_clips, n_clips)`` clips, best ``best_hit`` first. Hits further
    apart than ``gap_clips`` form separate clusters; tiles over a long cluster overlap by
    ``overlap_clips``.
    """
    if clip_index.size == 0 or n_clips <= 0:
        return []
    order = np.argsort(clip_index, kind="stable")
    idx = np.clip(np.asarray(clip_index, dtype=np.int64)[order], 0, n_clips - 1)
    sc = np.asarray(scores, dtype=np.float64)[order]
    width = min(window_clips, n_clips)

    breaks = np.flatnonzero(np.diff(idx) > gap_clips) + 1
    clusters = [(int(i[0]), int(i[-1]), float(s.max())) for i, s in zip(np.split(idx, breaks), np.split(sc, breaks))]

    groups: list[tuple[int, int, float]] = []
    for first, last, best in clusters:
        if groups and last - groups[-1][0] + 1 <= width:
            g_first, _, g_best = groups[-1]
            groups[-1] = (g_first, last, max(g_best, best))
        else:
            groups.append((first, last, best))

    windows: list[CandidateWindow] = []
    for first, last, best in groups:
        for start in _window_starts(first, last, width, n_clips, min(overlap_clips, width - 1)):
            end = start + width
            inside = (idx >= start) & (idx < end)
            window_best = float(sc[inside].max()) if inside.any() else best
            windows.append(CandidateWindow(video_id, start, end, window_best))
    windows.sort(key=lambda w: -w.best_hit)
    return _drop_duplicates(windows)


def _window_starts(first: int, last: int, width: int, n_clips: int, overlap: int) -> list[int]:
    """Start clips of windows of ``width`` covering hits ``[first, last]``, inside ``[0, n_clips)``."""
    span = last - first + 1
    if span <= width:
        start = int(round((first + last + 1) / 2 - width / 2))
        return [min(max(start, 0), n_clips - width)]
    stride = width - overlap
    count = int(math.ceil((span - width) / stride)) + 1
    # Spread the tiles evenly so the first starts at `first` and the last ends at `last`.
    starts = np.linspace(first, last + 1 - width, count).round().astype(int)
    return sorted({min(max(int(s), 0), n_clips - width) for s in starts})


def _drop_duplicates(windows: list[CandidateWindow]) -> list[CandidateWindow]:
    seen: set[tuple[int, int]] = set()
    unique = []
    for w in windows:
        if (w.first_clip, w.end_clip) not in seen:
            seen.add((w.first_clip, w.end_clip))
            unique.append(w)
    return unique


class CoarseRetriever:
    """Shortlists videos and grounding windows for a query vector (see the module docstring).

    ``store`` answers FAISS searches and clip locations (the library).
    """

    def __init__(self, store: VectorStore, config: CoarseConfig | None = None) -> None:
        self.store = store
        self.config = config or CoarseConfig()

    def shortlist(
        self,
        query: np.ndarray,
        *,
        n_clips: int,
        n_videos: int,
        videos: Mapping[int, VideoRecord],
        filtered: bool = False,
        window_clips: int | None = None,
    ) -> Shortlist:
        """Shortlist for one query.

        query float32 ``(dim,)`` L2-normalised; n_clips vectors in the index; n_videos how many
        videos the caller wants ranked (the shortlist keeps ``max(n_videos, max_videos)``);
        videos the records of the videos that may appear, by id (hits of other ids, e.g. a video
        removed since, are dropped); filtered: ``videos`` is a filtered subset of the library, so
        the search is widened in proportion and, if needed, repeated wider until enough of their
        clips are hit; window_clips overrides the window length (a checkpoint's ``max_clips``).
        """
        cfg = self.config
        width = window_clips or cfg.window_clips
        want_videos = max(n_videos, cfg.max_videos)
        k = adaptive_k(n_clips, cfg, n_videos)
        allowed_ids = np.fromiter(videos, dtype=np.int64, count=len(videos))
        if filtered:
            allowed_clips = sum(max(int(v.clip_count), 0) for v in videos.values())
            if allowed_clips == 0:
                return Shortlist([], {}, {}, 0.0, 0.0, 0)
            # Expect hits of allowed videos in proportion to their share of the library.
            k = min(n_clips, int(math.ceil(k * n_clips / allowed_clips)))
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        while True:
            video_ids, clip_index, scores = self._hits(q, k)
            keep = np.isin(video_ids, allowed_ids)
            unknown_hits = 0 if filtered else int((~keep).sum())
            video_ids, clip_index, scores = video_ids[keep], clip_index[keep], scores[keep]
            enough = np.unique(video_ids).size >= want_videos or scores.size >= adaptive_k(n_clips, cfg, n_videos)
            if not filtered or enough or k >= n_clips:
                break
            k = min(n_clips, 4 * k)
        if scores.size == 0:
            return Shortlist([], {}, {}, 0.0, 0.0, k, unknown_hits)

        best_per_video: dict[int, float] = {}
        for vid, score in zip(video_ids.tolist(), scores.tolist()):
            if score > best_per_video.get(vid, -math.inf):
                best_per_video[vid] = score
        ranked = sorted(best_per_video, key=lambda v: -best_per_video[v])[:want_videos]

        per_video: list[list[CandidateWindow]] = []
        for vid in ranked:
            mine = video_ids == vid
            per_video.append(
                place_windows(
                    clip_index[mine], scores[mine], int(videos[vid].clip_count), vid,
                    window_clips=width, overlap_clips=cfg.window_overlap_clips, gap_clips=cfg.cluster_gap_clips,
                )[: cfg.max_windows_per_video]
            )
        # The strongest windows win across videos: a weak window yields moments with a weak coarse
        # term in the final score anyway, so grounding it would only spend the batch.
        windows = sorted((w for ws in per_video for w in ws), key=lambda w: -w.best_hit)[: max(cfg.max_windows, n_videos)]
        used = {w.video_id for w in windows}
        return Shortlist(
            windows=windows,
            videos={v: videos[v] for v in ranked if v in used},
            video_scores={v: best_per_video[v] for v in ranked if v in used},
            top_score=float(scores.max()),
            cutoff_score=float(scores.min()),
            k=k,
            unknown_hits=unknown_hits,
        )

    def _hits(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FAISS top-k -> (video_ids, clip_index, scores) of the valid hits, best first."""
        scores, ids = self.store.search_vectors(q, k)
        valid = ids[0] >= 0
        ids, scores = ids[0][valid].astype(np.int64), scores[0][valid].astype(np.float32)
        if ids.size == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.float32)
        video_ids, clip_index = self.store.clip_locations(ids)
        return np.asarray(video_ids, dtype=np.int64), np.asarray(clip_index, dtype=np.int64), scores
