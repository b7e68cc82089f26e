"""Generate videos with known content (tests, benchmarks, demos). No binary fixtures are committed.

A video is a list of :class:`Segment` s, each a duration and a solid RGB colour. Every frame also
carries its frame index as a binary bar code in the top rows (see :func:`frame_index_of`), so a test
can tell exactly which frame a decoder returned. PyAV encodes mp4/mkv/webm/avi/... without an
ffmpeg binary.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODEC_BY_SUFFIX = {
    ".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264", ".ts": "libx264",
    ".webm": "libvpx-vp9", ".avi": "mpeg4", ".mpg": "mpeg2video", ".mpeg": "mpeg2video",
    ".wmv": "wmv2", ".flv": "flv",
}
BARCODE_BITS = 16


@dataclass(frozen=True)
class Segment:
    """``seconds`` of solid ``color`` (RGB, 0-255)."""

    seconds: float
    color: tuple[int, int, int]


def _barcode_rows(height: int) -> int:
    return max(2, height // 8)


def draw_frame(index: int, color: tuple[int, int, int], width: int, height: int) -> np.ndarray:
    """One uint8 RGB ``(height, width, 3)`` frame: solid ``color``, frame ``index`` in the top bar."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = np.asarray(color, dtype=np.uint8)
    rows = _barcode_rows(height)
    cell = width // BARCODE_BITS
    for bit in range(BARCODE_BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[:rows, bit * cell:(bit + 1) * cell] = value
    return frame


def frame_index_of(frame: np.ndarray) -> int:
    """Read back the index drawn by :func:`draw_frame` (robust to lossy codecs and resizing)."""
    height, width = frame.shape[:2]
    rows = _barcode_rows(height)
    cell = width // BARCODE_BITS
    index = 0
    for bit in range(BARCODE_BITS):
        patch = frame[: max(1, rows - 1), bit * cell + cell // 4: (bit + 1) * cell - cell // 4]
        if patch.mean() > 127:
            index |= 1 << bit
    return index


def write_video(
    path: str | Path,
    segments: list[Segment],
    *,
    fps: float = 10.0,
    size: tuple[int, int] = (128, 96),
    codec: str | None = None,
    rotate: int | None = None,
    vfr: bool = False,
) -> Path:
    """Encode ``segments`` to ``path``; the container comes from the suffix.

    ``size`` is (width, height), even numbers. ``rotate`` (90/180/270, clockwise) writes a
    display-matrix rotation where the container supports it. ``vfr`` doubles the frame rate in every other
    second (variable frame rate, exact pts), for timestamp tests. Returns ``path``.
    """
    path = Path(path)
    codec = codec or CODEC_BY_SUFFIX.get(path.suffix.lower(), "libx264")
    width, height = size
    rate = Fraction(fps).limit_denominator(1000)

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        index, t_ms = 0, 0.0
        for segment in segments:
            seg_end_ms = t_ms + segment.seconds * 1000
            while t_ms < seg_end_ms - 1e-6:
                yield t_ms, draw_frame(index, segment.color, width, height)
                step_ms = 1000.0 / fps
                if vfr and int(t_ms // 1000) % 2 == 1:
                    step_ms /= 2
                t_ms += step_ms
                index += 1

    options = {"preset": "ultrafast", "g": str(max(1, int(fps)))} if codec == "libx264" else None
    # Same meaning as the legacy "rotate" tag (clockwise); the display matrix counts
    # counter-clockwise, and current FFmpeg honours only the matrix.
    return encode_frames(path, frames(), codec=codec, size=size, rate=rate * 2 if vfr else rate,
                         options=options, exact_pts=vfr or codec in ("libx264", "libvpx-vp9"),
                         display_rotation=-rotate if rotate else 0)


def encode_frames(
    path: str | Path,
    frames: Iterable[tuple[float, np.ndarray]],
    *,
    codec: str,
    size: tuple[int, int],
    rate: Fraction,
    options: dict[str, str] | None = None,
    exact_pts: bool = True,
    display_rotation: int = 0,
) -> Path:
    """Encode ``(time_ms, uint8 RGB (height, width, 3))`` frames to ``path`` (container from the suffix).

    ``exact_pts``: each frame is stamped with its ``time_ms`` on a 1/1000 time base (VFR, start
    offsets); otherwise frames are numbered at ``rate`` and the times are ignored (codecs and
    containers that want a fixed frame rate). ``display_rotation``: counter-clockwise degrees stored
    in the display matrix. ``size`` is (width, height), even numbers.
    """
    path = Path(path)
    time_base = Fraction(1, 1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if options:
            stream.options = options
        if exact_pts:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        if display_rotation:
            stream.set_display_rotation(display_rotation)
        for index, (t_ms, image) in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if exact_pts:
                frame.pts, frame.time_base = int(round(t_ms)), time_base
            else:
                frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
