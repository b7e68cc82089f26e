"""InterVid-MR pseudo-labels (SG-DETR, Gordeev et al., §4.3.2): moments and graded saliency from captions.

For a caption of ``[start, end)`` seconds of a video with clip features ``v_i`` (L2-normalised, one
per ``clip_seconds`` clip) and caption embedding ``t`` from the same encoder:

1. Trim a segment of at most ``window_seconds`` (150 s) of whole clips centred on the caption's clips.
2. Eq. 10, clip-caption similarity: ``s_i = cos(v_i, t)`` for every clip of the segment.
3. Eq. 11, relevance threshold from the clips inside the caption's interval ``G`` (clips overlapping it
   by more than half a clip): ``S_min = mean_{i in G}(s_i) - k_thr * std_{i in G}(s_i)``, ``k_thr = 3``.
4. Positive clips ``P = {i : s_i >= S_min}``; each run of consecutive positive clips is a relevant
   window (so the label may grow beyond, shrink within, or add moments to the caption's interval).
5. Eq. 12, saliency grade of a positive clip from ``mu, sigma`` = mean and std of ``s`` over ``P``
   (``k_grade = 1.5``)::

       grade(s) = 1 if s <  mu - k_grade * sigma
                  2 if s <  mu
                  3 if s <  mu + k_grade * sigma
                  4 otherwise

The bands are half-open as written, so when ``sigma = 0`` (a single positive clip, or all equal)
every positive clip sits at ``mu + k_grade * sigma`` and gets grade 4.

Output rows are QVHighlights JSON Lines: ``relevant_windows`` in seconds of the segment,
``relevant_clip_ids`` (segment clip indices) and ``saliency_scores`` with the grade in all three
annotator slots. Standard deviations are population (``ddof=0``) statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grounding.data.annotations import derive_binary_saliency


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Constants of the procedure (the paper's values by default)."""

    window_seconds: float = 150.0
    threshold_std: float = 3.0     # k_thr of eq. 11
    grade_std: float = 1.5         # k_grade of eq. 12
    clip_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.clip_seconds <= 0 or self.window_seconds < self.clip_seconds:
            raise ValueError(f"need 0 < clip_seconds <= window_seconds, got {self.clip_seconds} and "
                             f"{self.window_seconds}")
        if self.threshold_std < 0 or self.grade_std < 0:
            raise ValueError("the std multipliers must be >= 0")

    @property
    def max_clips(self) -> int:
        return int(math.floor(self.window_seconds / self.clip_seconds + 1e-9))


@dataclass(frozen=True)
class PseudoLabel:
    """The label of one caption.

    segment: ``(first_clip, end_clip)`` of the trimmed segment in the video's clip indices (end exclusive).
    similarities: float32 ``(end_clip - first_clip,)`` eq. 10 per segment clip.
    s_min: eq. 11 threshold.
    relevant_clip_ids: int64 ``(R,)`` positive clips, segment-relative, ascending.
    grades: int64 ``(R,)`` eq. 12 grades in 1..4.
    windows: float64 ``(M, 2)`` seconds relative to the segment start, one per run of positive clips.
    duration: seconds of the segment.
    """

    segment: tuple[int, int]
    similarities: np.ndarray
    s_min: float
    relevant_clip_ids: np.ndarray
    grades: np.ndarray
    windows: np.ndarray
    duration: float


def clip_similarity(clip_features: np.ndarray, text_embedding: np.ndarray) -> np.ndarray:
    """Eq. 10: cosine similarity of each clip ``(L, D)`` with the caption ``(D,)`` -> float32 ``(L,)``."""
    clips = np.asarray(clip_features, dtype=np.float64)
    text = np.asarray(text_embedding, dtype=np.float64).reshape(-1)
    norms = np.linalg.norm(clips, axis=1) * np.linalg.norm(text)
    return (clips @ text / np.maximum(norms, 1e-12)).astype(np.float32)


def similarity_threshold(similarities: np.ndarray, inside: np.ndarray, threshold_std: float = 3.0) -> float:
    """Eq. 11: ``mean - threshold_std * std`` of ``similarities[inside]`` (``inside``: indices or mask)."""
    values = np.asarray(similarities, dtype=np.float64)[inside]
    if values.size == 0:
        raise ValueError("the caption's interval covers no clip")
    return float(values.mean() - threshold_std * values.std())


def positive_runs(similarities: np.ndarray, s_min: float) -> list[tuple[int, int]]:
    """Runs ``(first, end_exclusive)`` of consecutive clips with ``s >= s_min``, in order."""
    positive = np.asarray(similarities) >= s_min
    edges = np.diff(np.concatenate([[0], positive.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def saliency_grades(positive_similarities: np.ndarray, grade_std: float = 1.5) -> np.ndarray:
    """Eq. 12: grades 1..4 (int64) from the mean and std of the positive clips' similarities."""
    s = np.asarray(positive_similarities, dtype=np.float64)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    mu, sigma = s.mean(), s.std()
    edges = np.array([mu - grade_std * sigma, mu, mu + grade_std * sigma])
    return (np.searchsorted(edges, s, side="right") + 1).astype(np.int64)


def caption_clips(start: float, end: float, n_clips: int, clip_seconds: float) -> np.ndarray:
    """Clips inside ``[start, end)``: overlapping it by more than half a clip, else the clip holding its
    midpoint (a caption shorter than half a clip). int64 ``(G,)``, possibly empty when past the video."""
    inside = derive_binary_saliency(np.array([[start, end]]), n_clips * clip_seconds, clip_seconds)
    inside = inside[inside < n_clips]
    if inside.size == 0:
        middle = int((start + end) / 2 // clip_seconds)
        inside = np.array([middle] if middle < n_clips else [], dtype=np.int64)
    return inside


def trim_segment(first: int, last: int, n_clips: int, max_clips: int) -> tuple[int, int]:
    """At most ``max_clips`` whole clips of ``n_clips``, centred on clips ``first..last`` (inclusive)
    and containing them (shifted, not cut, at the video's ends). Returns ``(start, end_exclusive)``."""
    if last - first + 1 > max_clips:
        raise ValueError(f"the caption spans {last - first + 1} clips, more than the {max_clips}-clip window")
    centre_start = math.floor((first + last + 1 - max_clips) / 2)
    low, high = max(0, last + 1 - max_clips), min(first, max(0, n_clips - max_clips))
    start = min(max(centre_start, low), high)
    return start, min(n_clips, start + max_clips)


def pseudo_label(clip_features: np.ndarray, text_embedding: np.ndarray, start: float, end: float,
                 config: PseudoLabelConfig | None = None, *, video_duration: float | None = None) -> PseudoLabel:
    """Label one caption ``[start, end)`` seconds of a video with clip features ``(L, D)``.

    ``video_duration`` (seconds) bounds the last window when the final clip is partial; default
    ``L * clip_seconds``. Raises ValueError (one-line reason) when the caption cannot be labelled.
    """
    config = config or PseudoLabelConfig()
    n_clips = len(clip_features)
    cs = config.clip_seconds
    duration = float(video_duration if video_duration is not None else n_clips * cs)
    inside = caption_clips(start, end, n_clips, cs)
    if inside.size == 0:
        raise ValueError(f"caption [{start:g}, {end:g}) s lies past the video's {n_clips} clips")
    first_clip, end_clip = trim_segment(int(inside[0]), int(inside[-1]), n_clips, config.max_clips)
    sims = clip_similarity(clip_features[first_clip:end_clip], text_embedding)
    s_min = similarity_threshold(sims, inside - first_clip, config.threshold_std)
    runs = positive_runs(sims, s_min)
    ids = np.concatenate([np.arange(a, b) for a, b in runs]).astype(np.int64)
    segment_start = first_clip * cs
    segment_duration = min(end_clip * cs, duration) - segment_start
    windows = np.array([[a * cs, min(b * cs, segment_duration)] for a, b in runs], dtype=np.float64)
    return PseudoLabel(segment=(first_clip, end_clip), similarities=sims, s_min=s_min, relevant_clip_ids=ids,
                       grades=saliency_grades(sims[ids], config.grade_std), windows=windows,
                       duration=float(segment_duration))


def segment_vid(video: str, label: PseudoLabel, clip_seconds: float) -> str:
    """QVHighlights-style id of the segment: ``{video}_{start}_{end}`` in (whole or decimal) seconds."""
    start = label.segment[0] * clip_seconds
    return f"{video}_{start:g}_{start + label.duration:g}"


def to_row(qid: int, query: str, vid: str, label: PseudoLabel) -> dict:
    """The QVHighlights JSON object of ``label`` (grade repeated for the three annotator slots)."""
    return {
        "qid": qid,
        "query": query,
        "duration": round(label.duration, 6),
        "vid": vid,
        "relevant_windows": [[round(a, 6), round(b, 6)] for a, b in label.windows.tolist()],
        "relevant_clip_ids": label.relevant_clip_ids.tolist(),
        "saliency_scores": [[g, g, g] for g in label.grades.tolist()],
    }
