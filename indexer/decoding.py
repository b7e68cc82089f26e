"""Decode the frames a clip plan asks for, streaming, with exact container timestamps.

Time axis: second 0 is the container's start time (what a player shows as 0:00), so clip times
agree with players even for streams with a start offset (MPEG-TS, edited MP4). A sample at time
``t`` gets the frame a player displays at ``t``: the last frame whose presentation timestamp is
<= ``t`` (the first frame for ``t`` before it). Timestamps are the frames' own, so variable frame
rate is handled exactly. Frames are rotated by the display matrix (phone videos) after resizing.

Only what is needed is decoded: a frame is converted (scale + RGB, one swscale call) only when a
sample lands on it; when the next sample lies past a keyframe the reader seeks instead of decoding
the gap; and packets of non-reference frames (B-frames) more than three frame intervals before the
next sample are dropped by the decoder (``skip_frame = NONREF``). Should a dropped frame be the one
on screen at a sample after all (a frame-rate gap right after it), the read restarts at that clip
without dropping, so sampling stays exact. Memory is bounded by one clip of output frames plus the
decoder's own buffers.

Backends: :func:`open_video` probes with PyAV (duration from the last packets, rotation, first
frame) and then reads with decord when it is importable and trustworthy for the file (unrotated,
sane frame timestamps; see :mod:`indexer.decord_reader`), otherwise with PyAV. Errors a user can
cause (not a video, no video stream, corrupt data...) raise :class:`VideoDecodeError` with a
one-line reason.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from typing import Any, Literal, Protocol

import av
import numpy as np

from indexer.video_probe import (VideoDecodeError, VideoInfo, frame_seconds_of, open_container, video_stream,
                                 describe_av_error, probe)

__all__ = ["Backend", "PyAVReader", "VideoDecodeError", "VideoInfo", "VideoReader", "decord_available",
           "open_video", "probe"]

Backend = Literal["auto", "pyav", "decord"]

_MAX_CONSECUTIVE_ERRORS = 64  # corrupt packets tolerated in a row before the video is given up
_SEEK_RETRIES = 3
_TIME_EPS = 1e-6  # seconds: a sample exactly on a frame's timestamp gets that frame despite float noise
# Demuxers whose index lists every keyframe up front (sample tables, cues, idx1); others (MPEG-PS/TS)
# add entries while reading, so their index cannot tell where the next keyframe is.
_INDEXED_FORMATS = ("mov", "matroska", "avi")


class _SkippedTheAnswer(Exception):
    """A non-reference frame skipped as far from every sample is on screen at one after all."""


class VideoReader(Protocol):
    """An open video that yields clip frames for a sampling plan."""

    info: VideoInfo
    backend: str

    def read_clips(self, times: np.ndarray, frame_size: int | None) -> Iterator[np.ndarray]:
        """Yield one uint8 RGB ``(frames_per_clip, H, W, 3)`` array per row of ``times``.

        times: float ``(n_clips, frames_per_clip)`` seconds, ascending (see ``clip_sampler``).
        frame_size: square side ``S`` (frames are ``S x S``), or None for the display size.
        Stops early, without error, when the stream ends before a clip's samples (truncated file).
        """
        ...

    def close(self) -> None: ...


class PyAVReader:
    """Sample frames with PyAV: sequential decoding, keyframe seeks across gaps, lazy conversion."""

    backend = "pyav"

    def __init__(self, path: str, info: VideoInfo, *, threads: int = 0) -> None:
        self.path = path
        self.info = info
        self.threads = threads
        self.frames_decoded = 0  # frames out of the decoder in the last read_clips (seeks skip the rest)
        self.skip_fallbacks = 0  # reads restarted without non-reference frame skipping
        self._container: Any = None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _convert(self, frame: Any, frame_size: int | None) -> np.ndarray:
        if frame_size is None:
            rgb = frame.to_ndarray(format="rgb24")
        else:
            rgb = frame.reformat(width=frame_size, height=frame_size, format="rgb24").to_ndarray()
        steps = self.info.rotation // 90
        # Resizing to a square commutes with quarter turns, so rotate the small image, not the big one.
        return np.ascontiguousarray(np.rot90(rgb, steps)) if steps else rgb

    def read_clips(self, times: np.ndarray, frame_size: int | None) -> Iterator[np.ndarray]:
        """See :meth:`VideoReader.read_clips`. Non-reference frames far from every sample are not
        decoded; if one of them turns out to be the frame on screen at a sample (a frame-rate gap
        right after it), the read restarts at that clip with nothing skipped."""
        times = np.asarray(times, dtype=np.float64)
        self.frames_decoded = 0
        self.skip_fallbacks = 0
        done = 0
        try:
            for clip in self._read(times, frame_size, skip_nonref=True):
                done += 1
                yield clip
        except _SkippedTheAnswer:
            self.skip_fallbacks += 1
            yield from self._read(times[done:], frame_size, skip_nonref=False)

    def _read(self, times: np.ndarray, frame_size: int | None, *, skip_nonref: bool) -> Iterator[np.ndarray]:
        per_clip = times.shape[1]
        targets = times.ravel()
        if targets.size == 0:
            return
        self.close()
        container = self._container = open_container(self.path)
        stream = video_stream(container)
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        tb = stream.time_base
        origin = self.info.origin
        frame_seconds = 1.0 / self.info.fps
        margin = max(0.25, 8 * frame_seconds)  # covers B-frame reordering between index DTS and PTS
        keyframes: list[float] = []
        if any(name in container.format.name for name in _INDEXED_FORMATS):
            keyframes = sorted(float(e.timestamp * tb) - origin for e in stream.index_entries
                               if e.flags & 1 and e.timestamp is not None)
        seen_keys: list[float] = []  # keyframes observed while decoding (streams without an index)
        allow_seeks = True
        # Packets sent while skipping non-reference frames, by pts; a pts still here once later
        # frames come out was skipped by the decoder (frames leave the decoder in pts order).
        maybe_skipped: set[int] = set()
        skip_mode = "DEFAULT"
        # Frames this close before a sample are always decoded, so the frame on screen at a sample
        # is never skipped in a regular stream (3 frame intervals at the stream's nominal rate).
        nominal = max(self.info.fps, float(stream.guessed_rate or 0), float(stream.base_rate or 0))
        skip_guard = 3.0 / nominal

        out: list[np.ndarray | None] = [None] * targets.size
        ti = 0
        prev: Any = None
        prev_t = -math.inf
        last_conv: tuple[Any, np.ndarray] | None = None
        seek_to: float | None = None
        seek_retries = 0
        errors = 0

        def should_seek(now: float, target: float) -> bool:
            if not allow_seeks or target - now <= 2 * margin:
                return False
            if keyframes:
                k = bisect.bisect_right(keyframes, target - margin)
                return k > 0 and keyframes[k - 1] > now
            if len(seen_keys) < 2:
                return False
            gop = max(b - a for a, b in zip(seen_keys, seen_keys[1:]))
            return target - now > 2 * gop + margin

        def take(frame: Any) -> np.ndarray | None:
            """Give the current target ``frame``; return the clip it completes, if any."""
            nonlocal ti, last_conv
            if last_conv is None or last_conv[0] is not frame:
                last_conv = (frame, self._convert(frame, frame_size))
            out[ti] = last_conv[1]
            ti += 1
            if ti % per_clip:
                return None
            clip = np.stack(out[ti - per_clip: ti])  # type: ignore[arg-type]
            out[ti - per_clip: ti] = [None] * per_clip
            return clip

        def do_seek(target: float) -> None:
            nonlocal seek_to, prev, prev_t
            container.seek(max(0, int((target + origin) / tb)), stream=stream, backward=True)
            seek_to, prev = target, None
            maybe_skipped.clear()

        demux = container.demux(stream)
        while ti < targets.size:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError):
                break  # unreadable tail (truncated file): keep what was decoded
            if skip_nonref and packet.pts is not None:
                far = float(packet.pts * tb) - origin < targets[ti] - skip_guard
                mode = "NONREF" if far else "DEFAULT"
                if mode != skip_mode:
                    stream.codec_context.skip_frame = skip_mode = mode
                if far:
                    maybe_skipped.add(packet.pts)
            try:
                frames = stream.decode(packet)
                errors = 0
            except (av.error.InvalidDataError, av.error.ValueError) as exc:
                errors += 1
                if errors > _MAX_CONSECUTIVE_ERRORS:
                    raise VideoDecodeError(f"corrupt video stream ({describe_av_error(exc)})") from None
                continue
            except av.error.FFmpegError as exc:
                raise VideoDecodeError(f"decoding failed ({describe_av_error(exc)})") from None
            for frame in frames:
                self.frames_decoded += 1
                stamp = frame_seconds_of(frame, stream)
                if stamp is not None:
                    t = stamp - origin
                else:  # no timestamp at all (rare raw streams): assume the nominal frame rate
                    t = prev_t + frame_seconds if prev_t > -math.inf else self.info.first_frame_time
                if frame.key_frame and (not seen_keys or t > seen_keys[-1]):
                    seen_keys.append(t)
                if seek_to is not None:  # first frame after a seek
                    landed_late = t > targets[ti] + 1e-6
                    if landed_late and seek_retries < _SEEK_RETRIES:
                        seek_retries += 1
                        do_seek(seek_to - margin * 2 ** seek_retries)
                        break
                    if t <= prev_t:
                        allow_seeks = False  # the seek went backwards: this file seeks badly, decode on
                    seek_to, seek_retries = None, 0
                if maybe_skipped and frame.pts is not None:
                    maybe_skipped.discard(frame.pts)
                    gone = [p for p in maybe_skipped if p < frame.pts]  # skipped, between prev and frame
                    if gone:
                        maybe_skipped.difference_update(gone)
                        pending = int(np.searchsorted(targets, t - _TIME_EPS, side="left"))
                        if pending > ti and targets[pending - 1] >= float(min(gone) * tb) - origin - _TIME_EPS:
                            raise _SkippedTheAnswer  # a sample falls on a frame that was not decoded
                while ti < targets.size and targets[ti] < t - _TIME_EPS:
                    clip = take(prev if prev is not None else frame)
                    if clip is not None:
                        yield clip
                prev, prev_t = frame, t
                if ti < targets.size and should_seek(t, float(targets[ti])):
                    do_seek(float(targets[ti]) - margin)
                    break
        if ti < targets.size and prev is not None and any(p > (prev.pts or 0) for p in maybe_skipped):
            raise _SkippedTheAnswer  # the stream's last frames were skipped: re-read them
        # End of stream: the last frame stays on screen for one frame duration.
        if prev is not None:
            end = prev_t + frame_seconds + 1e-6
            while ti < targets.size and targets[ti] < end:
                clip = take(prev)
                if clip is not None:
                    yield clip
        self.close()


def decord_available() -> bool:
    """True when the optional decord backend can be imported."""
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def open_video(path: str, *, backend: Backend = "auto", threads: int = 0) -> VideoReader:
    """Probe ``path`` and return a reader (decord when available and trustworthy, else PyAV).

    threads: decoder threads per video (0 = FFmpeg's choice). Raises :class:`VideoDecodeError`.
    """
    info = probe(path)
    if backend in ("auto", "decord") and decord_available():
        from indexer.decord_reader import DecordReader, DecordUnsuitable

        try:
            return DecordReader(path, info, threads=threads, fallback=PyAVReader(path, info, threads=threads))
        except DecordUnsuitable:
            if backend == "decord":
                raise VideoDecodeError("decord cannot read this file exactly") from None
    elif backend == "decord":
        raise VideoDecodeError("decord is not installed")
    return PyAVReader(path, info, threads=threads)
