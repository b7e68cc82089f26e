"""Cut a video's timeline into clips and choose the instants to sample inside each clip.

All times are seconds from the start of the video as a player shows it (the container's start
time is 0; see :mod:`indexer.decoding`).

Clip rule: consecutive clips ``[i * clip_seconds, (i + 1) * clip_seconds)``; the last, partial clip
is kept when it is at least half a clip long, otherwise its seconds are dropped. A video shorter than
one clip still gets one clip covering all of it, so every decodable video is searchable.

Sampling rule: ``frames_per_clip`` instants at the centres of equal sub-intervals of the clip
(TSN-style uniform sampling, deterministic), so samples never sit on a clip boundary and a clip
never shows a frame of its neighbour unless the video's frame rate is below ``frames_per_clip /
clip_seconds``.
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-6  # seconds; absorbs float noise in container durations (e.g. 5.999999 s)


def clip_bounds(duration: float, clip_seconds: float) -> np.ndarray:
    """Clip boundaries of a ``duration``-second video.

    Returns float64 ``(n_clips, 2)`` rows ``(start, end)`` in seconds, ``end`` exclusive; empty
    ``(0, 2)`` when ``duration <= 0``.
    """
    if clip_seconds <= 0 or not math.isfinite(clip_seconds):
        raise ValueError(f"clip_seconds must be a positive number, got {clip_seconds}")
    if not math.isfinite(duration) or duration <= _EPS:
        return np.zeros((0, 2), dtype=np.float64)
    n_full = int(math.floor(duration / clip_seconds + _EPS))
    starts = np.arange(n_full, dtype=np.float64) * clip_seconds
    bounds = np.stack([starts, starts + clip_seconds], axis=1) if n_full else np.zeros((0, 2))
    tail_start = n_full * clip_seconds
    tail = duration - tail_start
    if tail > _EPS and (n_full == 0 or tail >= clip_seconds / 2 - _EPS):
        bounds = np.concatenate([bounds, [[tail_start, duration]]], axis=0)
    return bounds.astype(np.float64)


def sample_times(bounds: np.ndarray, frames_per_clip: int) -> np.ndarray:
    """Uniform sampling instants inside each clip.

    bounds: float ``(n_clips, 2)`` from :func:`clip_bounds`.
    Returns float64 ``(n_clips, frames_per_clip)`` seconds, strictly inside each clip, ascending.
    """
    if frames_per_clip < 1:
        raise ValueError(f"frames_per_clip must be >= 1, got {frames_per_clip}")
    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
    offsets = (np.arange(frames_per_clip, dtype=np.float64) + 0.5) / frames_per_clip
    lengths = bounds[:, 1:2] - bounds[:, 0:1]
    return bounds[:, 0:1] + lengths * offsets[None, :]
