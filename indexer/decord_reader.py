"""The decord backend of :mod:`indexer.decoding`, guarded by PyAV.

decord indexes every frame's timestamp when it opens a file and decodes batches of frame indices
with its own seeking, resizing inside FFmpeg. It is fast but not always right, so it is used only
where it can be checked:

* only containers where it was checked frame-exact against PyAV (MP4/MOV, Matroska/WebM, AVI,
  FLV); it returns wrong frames for WMV (ASF) and B-frame MPEG-TS and wrong timestamps for MPEG-PS;
* rotated videos go to PyAV (decord's rotate + resize returns wrongly shaped frames);
* its frame timestamps must be finite, ascending and end where the PyAV probe says the stream
  ends (it returns garbage for some MPEG-PS files), else the whole video goes to PyAV;
* any decord error mid-file hands the remaining clips to the PyAV reader (decord gives up on some
  B-frame MPEG-TS streams at EOF).

Sample-to-frame rule is the same as PyAV's: the last frame whose timestamp is <= the sample time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from indexer.decoding import PyAVReader, VideoInfo


DECORD_FORMATS = ("mov", "mp4", "matroska", "webm", "avi", "flv")


class DecordUnsuitable(Exception):
    """This file must not be read with decord (the caller falls back to PyAV)."""


class DecordReader:
    """Read clips with decord; ``fallback`` (a PyAV reader of the same file) covers what it cannot."""

    def __init__(self, path: str, info: VideoInfo, *, threads: int = 0, fallback: PyAVReader) -> None:
        if not any(name in info.container_format.split(",") for name in DECORD_FORMATS):
            raise DecordUnsuitable(f"container {info.container_format}")
        if info.rotation:
            raise DecordUnsuitable("rotated video")
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        self._decord: Any = decord
        self.backend = "decord"  # becomes "pyav" once the fallback has taken over
        self.path = path
        self.info = info
        self.threads = threads
        self.fallback = fallback
        self._reader: Any = None

    def close(self) -> None:
        self._reader = None
        self.fallback.close()

    def _open(self, frame_size: int | None) -> tuple[Any, np.ndarray]:
        """Open decord at ``frame_size``; return it and frame start times in seconds from time 0."""
        side = frame_size if frame_size is not None else -1
        reader = self._decord.VideoReader(self.path, ctx=self._decord.cpu(0), width=side, height=side,
                                          num_threads=self.threads)
        n = len(reader)
        if n == 0:
            raise DecordUnsuitable("no frames")
        starts = np.asarray(reader.get_frame_timestamp(np.arange(n))[:, 0], dtype=np.float64)
        if not np.all(np.isfinite(starts)) or np.any(np.abs(starts) > 1e7) or np.any(np.diff(starts) < 0):
            raise DecordUnsuitable("frame timestamps not ascending")
        # decord counts from the stream's first frame; PyAV's probe knows where that lies on our axis.
        starts = starts - starts[0] + self.info.first_frame_time
        frame_seconds = 1.0 / self.info.fps
        if abs(starts[-1] + frame_seconds - self.info.duration) > max(0.5, 3 * frame_seconds):
            raise DecordUnsuitable("frame timestamps disagree with the container")
        return reader, starts

    def read_clips(self, times: np.ndarray, frame_size: int | None) -> Iterator[np.ndarray]:
        """See :meth:`indexer.decoding.VideoReader.read_clips`."""
        times = np.asarray(times, dtype=np.float64)
        if times.size == 0:
            return
        try:
            self._reader, starts = self._open(frame_size)
        except (DecordUnsuitable, self._decord.DECORDError, RuntimeError):
            self._reader, self.backend = None, "pyav"
            yield from self.fallback.read_clips(times, frame_size)
            return
        end = starts[-1] + 1.0 / self.info.fps + 1e-6
        indices = np.clip(np.searchsorted(starts, times + 1e-6, side="right") - 1, 0, len(starts) - 1)
        for k in range(times.shape[0]):
            if times[k, -1] >= end:
                break  # stream ends before this clip: truncated file
            try:
                frames = self._reader.get_batch(indices[k].tolist()).asnumpy()
            except (self._decord.DECORDError, RuntimeError):
                self._reader, self.backend = None, "pyav"
                yield from self.fallback.read_clips(times[k:], frame_size)
                return
            if frame_size is not None and frames.shape[1:] != (frame_size, frame_size, 3):
                self._reader, self.backend = None, "pyav"
                yield from self.fallback.read_clips(times[k:], frame_size)
                return
            yield np.ascontiguousarray(frames, dtype=np.uint8)
        self._reader = None
