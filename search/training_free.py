"""Training-free temporal grounding: find moments from clip-to-query similarity alone.

Used when no grounding checkpoint is configured, so a fresh install answers queries sensibly.
It follows the recipe of zero-shot moment retrieval work (e.g. Luo et al., "Zero-shot Video Moment
Retrieval With Off-the-Shelf Models", 2022; Zheng et al., "Training-free Video Temporal Grounding",
2024): a moment is a run of clips that stands out against its surroundings.

For one query and a batch of candidate windows (clip embeddings from the library):

1. **Saliency** ``s_raw[i] = <f_i, q>``: cosine of each L2-normalised clip embedding with the
   pooled query embedding (the same space FAISS searched).
2. **Smoothing** ``s = gaussian(s_raw, sigma)`` (sigma in clips, edges replicated) so a single
   noisy clip neither splits a moment nor creates one.
3. **Adaptive threshold** per window: ``tau = lo + rho * (hi - lo)`` with ``hi = max(s)`` and
   ``lo = min(min(s), background)``. ``background`` is the median saliency of *all* windows of
   the query: most clips around the hits are not what the user described, so the median is the
   query's "irrelevant" level. A window that is relevant from end to end therefore becomes one
   moment instead of being cut at its noise, and a window without contrast yields no spurious
   sub-moments.
4. **Moments** are the runs of ``s >= tau`` (gaps of up to ``max_gap_clips`` closed), each then
   grown to its own half-height ``lo + rho * (max(s in run) - lo)``: a weaker second moment in the
   same window keeps its true extent instead of being cut at the stronger one's level.
5. **Confidence** of a run, in [0, 1]: its contrast ``mean(s inside) - mean(s outside)`` (outside =
   the rest of the window, or ``background`` when the run fills the window), divided by the query's
   dynamic range ``max(s over all windows) - background``. A weak bump in a dull window thus scores
   lower than a clear match, which keeps confidences comparable across windows and videos.
   When nothing in any window stands out (range ~ 0) every run gets the neutral 0.5.

Outputs have the same fields as :class:`grounding.predictor.WindowPrediction`, so ranking treats
both grounding paths alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

NEUTRAL_CONFIDENCE = 0.5
_FLAT_EPS = 1e-6


@dataclass(frozen=True)
class TrainingFreeConfig:
    """Knobs of the training-free grounder (units: clips, ratios in [0, 1])."""

    smoothing_sigma_clips: float = 1.0
    threshold_ratio: float = 0.5      # rho: where between background and peak a moment starts
    max_gap_clips: int = 1            # below-threshold gaps this short are closed inside a moment
    min_clips: int = 1                # runs shorter than this are dropped
    top_k: int = 5                    # moments returned per window

    def __post_init__(self) -> None:
        if self.smoothing_sigma_clips < 0:
            raise ValueError("smoothing_sigma_clips must be >= 0")
        if not 0.0 < self.threshold_ratio < 1.0:
            raise ValueError("threshold_ratio must be in (0, 1)")
        if self.max_gap_clips < 0 or self.min_clips < 1 or self.top_k < 1:
            raise ValueError("max_gap_clips >= 0, min_clips >= 1 and top_k >= 1 are required")


@dataclass(frozen=True)
class TrainingFreePrediction:
    """Moments of one window (same fields as ``grounding.predictor.WindowPrediction``).

    spans:    float64 ``(K, 2)`` [start, end] seconds relative to the window start, by score desc
    scores:   float64 ``(K,)`` confidence in [0, 1]
    saliency: float32 ``(L,)`` raw clip-to-query cosine per clip of the window
    """

    spans: np.ndarray
    scores: np.ndarray
    saliency: np.ndarray


def clip_query_similarity(video_feats: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine of each clip with the query.

    video_feats float ``(L, D)`` (re-normalised here, zero rows stay zero), query float ``(D,)``
    -> float32 ``(L,)`` in [-1, 1].
    """
    feats = np.asarray(video_feats, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    if feats.ndim != 2 or q.ndim != 1 or feats.shape[1] != q.shape[0]:
        raise ValueError(f"clip features {feats.shape} do not match query {q.shape}")
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    return feats @ q


def above_threshold_runs(mask: np.ndarray, *, max_gap: int = 0, min_length: int = 1) -> list[tuple[int, int]]:
    """Runs of True in a bool ``(L,)`` mask as ``[(start, end_exclusive), ...]`` in clip indices.

    Runs separated by at most ``max_gap`` False entries are joined; runs shorter than
    ``min_length`` (after joining) are dropped.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0 or not mask.any():
        return []
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    runs: list[tuple[int, int]] = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        if runs and start - runs[-1][1] <= max_gap:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return [(s, e) for s, e in runs if e - s >= min_length]


def _grow_to_half_height(
    s: np.ndarray, runs: list[tuple[int, int]], lo: float, ratio: float
) -> list[tuple[int, int]]:
    """Extend each run while ``s`` stays above ``lo + ratio * (run peak - lo)``; merge runs that meet."""
    grown: list[tuple[int, int]] = []
    for start, end in runs:
        level = lo + ratio * (float(s[start:end].max()) - lo)
        while start > 0 and s[start - 1] >= level:
            start -= 1
        while end < s.size and s[end] >= level:
            end += 1
        if grown and start <= grown[-1][1]:
            grown[-1] = (grown[-1][0], max(grown[-1][1], end))
        else:
            grown.append((start, end))
    return grown


class TrainingFreeGrounder:
    """Grounds one query in a batch of windows from similarity alone (see the module docstring)."""

    def __init__(self, config: TrainingFreeConfig | None = None) -> None:
        self.config = config or TrainingFreeConfig()

    def predict(
        self, video_feats: list[np.ndarray], query: np.ndarray, clip_seconds: float
    ) -> list[TrainingFreePrediction]:
        """Moments per window.

        video_feats: one float ``(L_i, D)`` array per window (library clip embeddings, L_i >= 1)
        query:       float ``(D,)`` pooled query embedding (the coarse-retrieval vector)
        clip_seconds: clip length in seconds; spans are ``clip index * clip_seconds``
        -> one :class:`TrainingFreePrediction` per window, in input order.
        """
        if clip_seconds <= 0:
            raise ValueError("clip_seconds must be positive")
        raw = [clip_query_similarity(feats, query) for feats in video_feats]
        smoothed = [self._smooth(s) for s in raw]
        if not smoothed:
            return []
        pooled = np.concatenate(smoothed)
        background = float(np.median(pooled))
        dynamic_range = float(pooled.max()) - background
        return [
            self._window_moments(s_raw, s, background, dynamic_range, clip_seconds)
            for s_raw, s in zip(raw, smoothed)
        ]

    def _smooth(self, saliency: np.ndarray) -> np.ndarray:
        sigma = self.config.smoothing_sigma_clips
        if sigma == 0 or saliency.size < 2:
            return saliency.astype(np.float64)
        return gaussian_filter1d(saliency.astype(np.float64), sigma=sigma, mode="nearest")

    def _window_moments(
        self,
        raw: np.ndarray,
        s: np.ndarray,
        background: float,
        dynamic_range: float,
        clip_seconds: float,
    ) -> TrainingFreePrediction:
        cfg = self.config
        hi = float(s.max())
        lo = min(float(s.min()), background)
        tau = lo + cfg.threshold_ratio * (hi - lo)
        # Relative tolerance keeps a perfectly flat window (hi == lo == tau) above its own threshold.
        runs = above_threshold_runs(
            s >= tau - _FLAT_EPS * max(1.0, abs(tau)), max_gap=cfg.max_gap_clips, min_length=cfg.min_clips
        )
        runs = _grow_to_half_height(s, runs, lo, cfg.threshold_ratio)
        spans: list[tuple[float, float]] = []
        scores: list[float] = []
        for start, end in runs:
            inside = s[start:end]
            outside = np.concatenate((s[:start], s[end:]))
            out_ref = float(outside.mean()) if outside.size else background
            if dynamic_range <= _FLAT_EPS:
                confidence = NEUTRAL_CONFIDENCE
            else:
                confidence = float(np.clip((float(inside.mean()) - out_ref) / dynamic_range, 0.0, 1.0))
            spans.append((start * clip_seconds, end * clip_seconds))
            scores.append(confidence)
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[: cfg.top_k]
        return TrainingFreePrediction(
            spans=np.asarray(spans, dtype=np.float64).reshape(-1, 2)[order],
            scores=np.asarray(scores, dtype=np.float64)[order],
            saliency=raw.astype(np.float32),
        )
