"""Probe a video file: what its first video stream is, where its time axis starts and ends.

Time axis (shared by every reader in :mod:`indexer.decoding`): second 0 is the container's start
time, what a player shows as 0:00. The duration runs to the end of the last video packet, found by
demuxing the file's last seconds (container durations include audio and lie for truncated files).
Rotation comes from the first decoded frame's display matrix. Errors a user can cause raise
:class:`VideoDecodeError` with a one-line reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import av

_TAIL_SCAN_SECONDS = 10.0  # how far before the reported end the duration probe starts demuxing


class VideoDecodeError(Exception):
    """The file cannot be decoded as a video; ``str(exc)`` is a one-line reason for the user."""


@dataclass(frozen=True)
class VideoInfo:
    """What the probe learned about a video's first video stream.

    duration: seconds from time 0 (container start) to the end of the last frame.
    fps: average frame rate (frames / second); for VFR streams the mean.
    width, height: display size in pixels, after rotation.
    rotation: counter-clockwise degrees (0, 90, 180, 270) applied to decoded frames.
    origin: stream-time seconds that map to time 0 (the container's start time).
    first_frame_time: seconds (from time 0) of the first frame.
    codec: decoder name, e.g. ``"h264"``.
    container_format: demuxer name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``.
    """

    duration: float
    fps: float
    width: int
    height: int
    rotation: int
    origin: float
    first_frame_time: float
    codec: str
    container_format: str


def describe_av_error(exc: BaseException) -> str:
    """One line for a PyAV / OS error, without the file name FFmpeg appends."""
    if isinstance(exc, av.error.FFmpegError) or isinstance(exc, OSError):
        reason = getattr(exc, "strerror", None) or str(exc)
    else:
        reason = str(exc)
    return " ".join(str(reason).split()) or type(exc).__name__


def open_container(path: str) -> Any:
    """``av.open`` for reading; failures become a one-line :class:`VideoDecodeError`."""
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except IsADirectoryError:
        raise VideoDecodeError("is a directory, not a video file") from None
    except PermissionError:
        raise VideoDecodeError("permission denied") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoDecodeError(f"not a readable video ({describe_av_error(exc)})") from None


def video_stream(container: Any) -> Any:
    """The first real video stream (cover art is skipped), else :class:`VideoDecodeError`."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art is not video
            return stream
    raise VideoDecodeError("no video stream (audio-only or data file)")


def _origin(container: Any, stream: Any) -> float:
    if container.start_time is not None:
        return container.start_time / av.time_base
    if stream.start_time is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def _rotation_steps(frame: Any) -> int:
    """Quarter turns counter-clockwise from the frame's display matrix (0-3)."""
    rotation = getattr(frame, "rotation", 0) or 0
    return int(round(rotation / 90.0)) % 4


def frame_seconds_of(frame: Any, stream: Any) -> float | None:
    """Presentation time of a decoded frame in stream seconds (not yet shifted to time 0), or None."""
    pts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
    if pts is None:
        return None
    return float(pts * (frame.time_base or stream.time_base))


def _scan_end(container: Any, stream: Any, fps: float) -> float | None:
    """Stream-time seconds at which the last video packet ends, by demuxing the file's tail."""
    tb = stream.time_base
    hint = None
    if stream.duration is not None:
        hint = float((stream.duration + (stream.start_time or 0)) * tb)
    elif container.duration is not None:
        hint = (container.duration + (container.start_time or 0)) / av.time_base
    frame_seconds = 1.0 / fps if fps > 0 else 0.0

    def last_end() -> float | None:
        end = None
        try:
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                length = float(packet.duration * tb) if packet.duration else frame_seconds
                end = max(end or -math.inf, float(packet.pts * tb) + length)
        except (av.error.FFmpegError, OSError):
            pass  # a truncated or damaged tail: the packets read so far are what there is
        return end

    end = None
    if hint is not None and hint > _TAIL_SCAN_SECONDS:
        try:
            container.seek(int((hint - _TAIL_SCAN_SECONDS) / tb), stream=stream, backward=True)
            end = last_end()
        except (av.error.FFmpegError, OSError):
            end = None
    if end is None:  # no usable hint or the seek failed (e.g. truncated index): scan from the start
        container.seek(0, backward=True)
        end = last_end()
    return end


def probe(path: str) -> VideoInfo:
    """Open ``path`` and describe its video stream; raises :class:`VideoDecodeError`."""
    try:
        if os.path.getsize(path) == 0:
            raise VideoDecodeError("empty file (0 bytes)")
    except OSError as exc:
        raise VideoDecodeError(describe_av_error(exc)) from None
    container = open_container(path)
    try:
        stream = video_stream(container)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        origin = _origin(container, stream)
        try:
            first = next(container.decode(stream))
        except StopIteration:
            raise VideoDecodeError("no decodable video frames") from None
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoDecodeError(f"cannot decode the video stream ({describe_av_error(exc)})") from None
        first_time = frame_seconds_of(first, stream)
        first_rel = (first_time - origin) if first_time is not None else 0.0
        steps = _rotation_steps(first)
        end = _scan_end(container, stream, fps)
        if end is None:
            raise VideoDecodeError("no video packets")
        duration = end - origin
        if not math.isfinite(duration) or duration <= 0:
            raise VideoDecodeError(f"invalid duration {duration:.3f} s")
        if fps <= 0:
            fps = 1.0 / duration
        width, height = first.width, first.height
        if steps % 2:
            width, height = height, width
        return VideoInfo(duration=duration, fps=fps, width=width, height=height, rotation=90 * steps,
                         origin=origin, first_frame_time=max(0.0, first_rel), codec=stream.codec_context.name,
                         container_format=container.format.name)
    finally:
        container.close()
