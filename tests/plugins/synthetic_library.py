"""Write colour timelines straight into a library store (no decoding), for search tests.

A timeline is ``[(seconds, colour), ...]`` with colour a :data:`tests.plugins.color_encoder.PALETTE`
name or an RGB tuple. Clips are ``clip_seconds`` long (the last one may be shorter); a clip that
straddles a colour change gets the time-weighted mean colour, as averaging its frames would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tests.plugins.color_encoder import PALETTE, ColorEncoder

COLOR_SPEC = "tests.plugins.color_encoder:ColorEncoder"
Timeline = Sequence[tuple[float, "str | tuple[int, int, int]"]]


def color_identity(clip_seconds: float = 2.0):  # -> EncoderIdentity
    """The identity a library indexed with :class:`ColorEncoder` is bound to."""
    from indexer.encoders.registry import encoder_identity

    return encoder_identity(COLOR_SPEC, ColorEncoder(), clip_seconds)


def clip_colors(timeline: Timeline, clip_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """-> (mean RGB float ``(n_clips, 3)``, clip times float ``(n_clips, 2)`` [start, end) seconds)."""
    bounds = np.cumsum([0.0, *(s for s, _ in timeline)])
    rgb = np.asarray([PALETTE[c] if isinstance(c, str) else c for _, c in timeline], dtype=np.float64)
    duration = float(bounds[-1])
    n_clips = int(np.ceil(duration / clip_seconds - 1e-9))
    starts = np.arange(n_clips) * clip_seconds
    ends = np.minimum(starts + clip_seconds, duration)
    # Overlap of every clip with every segment, in seconds -> time-weighted mean colour.
    overlap = np.clip(np.minimum(ends[:, None], bounds[None, 1:]) - np.maximum(starts[:, None], bounds[None, :-1]), 0, None)
    colors = overlap @ rgb / overlap.sum(axis=1, keepdims=True)
    return colors, np.stack([starts, ends], axis=1)


def add_color_video(library, path: str | Path, timeline: Timeline, *, clip_seconds: float = 2.0) -> int:
    """Add one video made of ``timeline`` to ``library`` (a writable ``Library``); returns its id."""
    from indexer.library import NewVideo

    colors, times = clip_colors(timeline, clip_seconds)
    embeddings = ColorEncoder().color_vector(colors)
    duration = float(times[-1, 1])
    video = NewVideo(
        path=str(path), size=int(duration * 1000), mtime=1_700_000_000.0,
        fingerprint=hashlib.sha1(str(path).encode()).hexdigest(), duration=duration, fps=10.0, width=64, height=48,
    )
    return int(library.add_video(video, embeddings, times))


def build_color_library(directory: Path, videos: dict[str, Timeline], *, clip_seconds: float = 2.0) -> dict[str, int]:
    """Create a library at ``directory`` holding ``videos`` (path -> timeline); returns path -> video id."""
    from indexer.library import Library

    with Library.create_or_open(directory, color_identity(clip_seconds)) as library:
        return {path: add_color_video(library, path, timeline, clip_seconds=clip_seconds)
                for path, timeline in videos.items()}
