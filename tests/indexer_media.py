"""Test media the indexer tests need beyond :func:`indexer.videogen.write_video`.

:func:`write_frames` controls what ``write_video`` does not: exact presentation timestamps (start
offsets, VFR), B-frames (x264 ``medium``), the keyframe interval and the display-matrix rotation.
Every frame carries its index as the ``videogen`` bar code.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from indexer.videogen import draw_frame, encode_frames


def write_frames(
    path: Path,
    times_ms: list[int],
    *,
    size: tuple[int, int] = (128, 96),
    codec: str = "libx264",
    preset: str = "ultrafast",
    gop: int | None = None,
    rotation: int = 0,
    color: tuple[int, int, int] = (200, 40, 40),
) -> Path:
    """Write one frame per entry of ``times_ms`` (presentation time in ms), frame i showing index i.

    The declared frame rate (hence the last frame's duration) is the median frame interval.

    ``rotation``: counter-clockwise display rotation in degrees stored in the container.
    """
    width, height = size
    steps = np.diff(times_ms) if len(times_ms) > 1 else np.array([40])
    options = {"preset": preset} if codec == "libx264" else {}
    if gop:
        options.update(g=str(gop), keyint_min=str(gop), sc_threshold="0")
    frames = ((t, draw_frame(index, color, width, height)) for index, t in enumerate(times_ms))
    return encode_frames(path, frames, codec=codec, size=size,
                         rate=Fraction(1000 / float(np.median(steps))).limit_denominator(1000),
                         options=options, display_rotation=rotation)


def cfr_times(seconds: float, fps: float, start_ms: int = 0) -> list[int]:
    """Presentation times (ms) of a constant-rate stream of ``seconds`` starting at ``start_ms``."""
    return [start_ms + int(round(i * 1000 / fps)) for i in range(int(round(seconds * fps)))]


def expected_indices(times_ms: list[int], sample_s: np.ndarray, start_ms: int = 0) -> np.ndarray:
    """Index of the frame a player shows at each sample time (seconds from the first frame)."""
    stamps = (np.asarray(times_ms, dtype=np.float64) - start_ms) / 1000.0
    idx = np.searchsorted(stamps, np.asarray(sample_s) + 1e-9, side="right") - 1
    return np.clip(idx, 0, len(stamps) - 1)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file with one AAC audio stream and no video stream."""
    rate = 16000
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = 1024
        t = 0
        while t < seconds * rate:
            tone = (0.1 * np.sin(np.arange(t, t + samples) / 10.0)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, t
            for packet in stream.encode(frame):
                container.mux(packet)
            t += samples
        for packet in stream.encode():
            container.mux(packet)
    return path


def reference_timeline(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame decoded in order, no seeking: (seconds from the container start, bar-code index).

    The oracle for "the frame on screen at t" straight from the container's own timestamps.
    """
    from indexer.videogen import frame_index_of

    with av.open(str(path)) as container:
        origin = (container.start_time or 0) / av.time_base
        stream = container.streams.video[0]
        times, indices = [], []
        for frame in container.decode(stream):
            times.append(float(frame.pts * frame.time_base) - origin)
            indices.append(frame_index_of(frame.to_ndarray(format="rgb24")))
    return np.asarray(times), np.asarray(indices)


def on_screen(timeline: tuple[np.ndarray, np.ndarray], samples: np.ndarray) -> np.ndarray:
    """Bar-code index of the frame shown at each sample time, per :func:`reference_timeline`."""
    times, indices = timeline
    slot = np.clip(np.searchsorted(times, np.asarray(samples) + 1e-6, side="right") - 1, 0, len(times) - 1)
    return indices[slot]
