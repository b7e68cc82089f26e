"""Ranking: grounded spans of all windows -> one list of moments across the library.

For every predicted span of every window:

1. **Absolute time.** ``start = window_start + span_start`` (seconds), clamped to the video.
2. **Score.** One number in [0, 1] that combines what the grounding saw inside the window with how
   the moment compares to the whole library::

       score = w * g + (1 - w) * c_hat,    c_hat = clip((c - c_k) / (c_1 - c_k), 0, 1)

   ``g`` is the grounding confidence (model score, or the training-free contrast), ``c`` the best
   clip-to-query cosine inside the moment, ``c_1`` the best and ``c_k`` the last similarity coarse
   retrieval returned for this query. ``c_hat`` is therefore 1 for the best clip in the library and 0
   at the retrieval cut-off, whatever the encoder's cosine scale (CLIP's matches sit near 0.3, a
   one-hot test encoder's near 1). ``w`` is ``grounding_weight`` (0.5).
3. **Seams.** A moment cut by a window edge (that is not the video's edge) reappears in the
   neighbouring window; fragments from different windows of one video that overlap or touch, one
   of them cut by its window edge, are merged (best score kept), each boundary taken from the
   fragment that saw past it.
4. **Duplicates.** Per video, greedy non-maximum suppression drops a moment whose temporal IoU
   with a better one is >= ``nms_iou`` (neighbouring windows overlap, and detection heads emit
   near-duplicate spans).
5. **Floor and caps.** Moments scoring below ``min_score`` are dropped (a span at the retrieval
   cut-off with no grounding evidence is noise, not a weak result); then at most ``per_video``
   moments per video, ``top`` overall, sorted by score descending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from search.coarse_retrieval import CandidateWindow

if TYPE_CHECKING:
    from indexer.library import VideoRecord


class WindowPredictionLike(Protocol):
    """``grounding.predictor.WindowPrediction`` or :class:`search.training_free.TrainingFreePrediction`.

    spans float ``(K, 2)`` seconds relative to the window start; scores float ``(K,)`` in [0, 1];
    saliency float ``(L,)`` per clip of the window.
    """

    spans: np.ndarray
    scores: np.ndarray
    saliency: np.ndarray


@dataclass(frozen=True)
class Moment:
    """One result: ``[start, end]`` seconds of the video at ``path``.

    saliency is the per-clip curve of the window the moment came from, its first clip starting at
    ``saliency_start`` seconds; ``best_time`` is the start second of the most salient clip inside
    the moment (where a player should seek to).
    """

    path: str
    video_id: int
    start: float
    end: float
    score: float
    video_duration: float
    clip_seconds: float
    saliency: list[float]
    saliency_start: float
    best_time: float


@dataclass(frozen=True)
class RankingConfig:
    """How moments are scored and de-duplicated."""

    grounding_weight: float = 0.5   # w in the score formula (module docstring)
    nms_iou: float = 0.5
    min_score: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 <= self.grounding_weight <= 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise ValueError("grounding_weight must be in [0, 1] and nms_iou in (0, 1]")


@dataclass
class _Candidate:
    video_id: int
    start: float
    end: float
    score: float
    window: int
    start_at_edge: bool   # start sits on its window's first clip, which is not the video's start
    end_at_edge: bool     # end sits on its window's last clip, which is not the video's end


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """IoU of two ``[start, end]`` intervals (any unit); 0 when both are empty."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def normalised_coarse(similarity: float, top_score: float, cutoff_score: float) -> float:
    """``c_hat``: clip-to-query cosine rescaled so the best hit is 1 and the retrieval cut-off 0."""
    spread = top_score - cutoff_score
    if spread <= 1e-9:
        return 1.0 if similarity >= cutoff_score - 1e-9 else 0.0
    return float(np.clip((similarity - cutoff_score) / spread, 0.0, 1.0))


def rank_moments(
    windows: Sequence[CandidateWindow],
    predictions: Sequence[WindowPredictionLike],
    similarities: Sequence[np.ndarray],
    videos: Mapping[int, VideoRecord],
    *,
    top_score: float,
    cutoff_score: float,
    top: int,
    per_video: int,
    config: RankingConfig | None = None,
) -> list[Moment]:
    """Score, merge, de-duplicate and cap the moments of all windows (module docstring).

    windows[i], predictions[i], similarities[i] describe window i: similarities float ``(L_i,)``
    clip-to-query cosine per clip (for the coarse term). videos maps video id -> record (for
    ``clip_seconds``, ``duration`` and ``path``). top_score / cutoff_score are ``c_1`` / ``c_k``.
    -> at most ``top`` moments, best first.
    """
    cfg = config or RankingConfig()
    if not (len(windows) == len(predictions) == len(similarities)):
        raise ValueError("windows, predictions and similarities must have the same length")
    top_score = max([top_score, *(float(s.max()) for s in similarities if s.size)])

    candidates: list[_Candidate] = []
    for w_index, (window, pred, sims) in enumerate(zip(windows, predictions, similarities)):
        video = videos[window.video_id]
        cs = float(video.clip_seconds)
        w_start = window.first_clip * cs
        w_end = min(window.end_clip * cs, float(video.duration))
        for (rel_start, rel_end), g in zip(np.asarray(pred.spans, dtype=np.float64).reshape(-1, 2),
                                          np.asarray(pred.scores, dtype=np.float64)):
            start = min(max(w_start + float(rel_start), w_start), w_end)
            end = min(max(w_start + float(rel_end), start), w_end)
            if end <= start:
                continue
            first = int(np.floor((start - w_start) / cs))
            last = max(first + 1, int(np.ceil((end - w_start) / cs)))
            c = float(sims[first:last].max()) if sims[first:last].size else cutoff_score
            score = cfg.grounding_weight * float(np.clip(g, 0.0, 1.0)) + (1 - cfg.grounding_weight) * \
                normalised_coarse(c, top_score, cutoff_score)
            if score < cfg.min_score:
                continue
            start_at_edge = start - w_start < cs and window.first_clip > 0
            end_at_edge = w_end - end < cs and w_end < float(video.duration) - 1e-6
            candidates.append(_Candidate(window.video_id, start, end, score, w_index, start_at_edge, end_at_edge))

    by_video: dict[int, list[_Candidate]] = {}
    for cand in candidates:
        by_video.setdefault(cand.video_id, []).append(cand)
    kept: list[_Candidate] = []
    for group in by_video.values():
        merged = _merge_seams(group)
        kept.extend(_suppress(merged, cfg.nms_iou)[:per_video])
    kept.sort(key=lambda c: (-c.score, c.video_id, c.start))
    return [_to_moment(c, windows[c.window], predictions[c.window], videos[c.video_id]) for c in kept[:top]]


def _merge_seams(group: list[_Candidate]) -> list[_Candidate]:
    """Union fragments of one moment split across neighbouring windows (same video).

    A boundary that sits on a window edge only says "the window ended here", so the merged moment
    takes each boundary from a fragment that saw past it when there is one.
    """
    group = sorted(group, key=lambda c: c.start)
    merged: list[_Candidate] = []
    for cand in group:
        prev = merged[-1] if merged else None
        if (prev is None or prev.window == cand.window or cand.start > prev.end + 1e-6
                or not (prev.start_at_edge or prev.end_at_edge or cand.start_at_edge or cand.end_at_edge)):
            merged.append(cand)
            continue
        best = prev if prev.score >= cand.score else cand
        if prev.start_at_edge and not cand.start_at_edge:
            start, start_at_edge = cand.start, False
        else:
            start, start_at_edge = prev.start, prev.start_at_edge
        if cand.end_at_edge and not prev.end_at_edge:
            end, end_at_edge = prev.end, False
        elif prev.end_at_edge and not cand.end_at_edge:
            end, end_at_edge = cand.end, False
        else:
            end, end_at_edge = max(prev.end, cand.end), prev.end_at_edge and cand.end_at_edge
        merged[-1] = _Candidate(prev.video_id, start, end, best.score, best.window, start_at_edge, end_at_edge)
    return merged


def _suppress(group: list[_Candidate], iou: float) -> list[_Candidate]:
    """Greedy temporal NMS: best first, drop those overlapping a kept one by IoU >= ``iou``."""
    kept: list[_Candidate] = []
    for cand in sorted(group, key=lambda c: -c.score):
        if all(temporal_iou((cand.start, cand.end), (k.start, k.end)) < iou for k in kept):
            kept.append(cand)
    return kept


def _to_moment(cand: _Candidate, window: CandidateWindow, pred: WindowPredictionLike, video: VideoRecord) -> Moment:
    cs = float(video.clip_seconds)
    w_start = window.first_clip * cs
    saliency = np.asarray(pred.saliency, dtype=np.float64).reshape(-1)
    first = max(0, int(np.floor((cand.start - w_start) / cs)))
    last = min(saliency.size, max(first + 1, int(np.ceil((cand.end - w_start) / cs))))
    if first < last:
        best_clip = first + int(np.argmax(saliency[first:last]))
        best_time = min(max(w_start + best_clip * cs, cand.start), cand.end)
    else:  # the moment was merged beyond this window's clips
        best_time = cand.start
    return Moment(
        path=str(video.path),
        video_id=int(cand.video_id),
        start=round(cand.start, 3),
        end=round(cand.end, 3),
        score=float(cand.score),
        video_duration=float(video.duration),
        clip_seconds=cs,
        saliency=[round(float(s), 4) for s in saliency],
        saliency_start=w_start,
        best_time=round(best_time, 3),
    )
