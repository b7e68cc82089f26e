"""Export a moment ``[start, end)`` (seconds) of a video as its own clip file, with PyAV.

Two methods, chosen per export:

``copy``
    Packets are copied without decoding (fast, lossless). Video can only be cut at a keyframe,
    so a copy is exact only when either the output container has *edit lists* (MP4 / MOV / M4V:
    the packets from the keyframe before ``start`` are kept and an edit list tells every player
    to begin presenting at ``start``, as ``ffmpeg -ss S -i IN -c copy`` does), or a keyframe lies
    within half a frame of ``start``. With B-frames, a frame after ``end`` that a frame before
    ``end`` references is kept too (at most the codec's reorder depth, usually one frame).
``reencode``
    Frames in ``[start, end)`` are decoded and encoded again as H.264 (+ AAC audio) in an MP4.
    Frame-exact everywhere; used when a copy would start at the wrong frame or the codecs cannot
    be copied into the container.

The first video stream and the first audio stream are exported; subtitles and data streams are
dropped. This module is core code: no UI imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

ExportMethod = Literal["copy", "reencode"]

EDIT_LIST_SUFFIXES = frozenset({".mp4", ".mov", ".m4v"})
REENCODE_SUFFIX = ".mp4"
_MS = Fraction(1, 1000)


class ClipExportError(Exception):
    """A clip cannot be exported; the message is one line meant for the user."""


@dataclass(frozen=True)
class ClipExport:
    """Result of :func:`export_clip`.

    path: the written file. start / end: the exported range in seconds of the *source* video
    (``end`` clamped to the video's duration). method: how it was written.
    """

    path: Path
    start: float
    end: float
    method: ExportMethod


def _stamp(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 3600}-{total % 3600 // 60:02d}-{total % 60:02d}"


def clip_file_name(source: str | Path, start: float, end: float, suffix: str | None = None) -> str:
    """``beach.0-01-05_0-01-12.mp4`` for seconds 65..72 of ``beach.mp4`` (``suffix`` overrides)."""
    source = Path(source)
    return f"{source.stem}.{_stamp(start)}_{_stamp(end)}{suffix or source.suffix.lower()}"


def _free_path(path: Path) -> Path:
    """``path`` itself if it does not exist, else ``name (2).ext``, ``name (3).ext``, ..."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate


def _ticks(seconds: float, time_base: Fraction | None) -> int:
    """``seconds`` in units of ``time_base``, rounded to the nearest tick."""
    if time_base is None:  # FFmpeg always sets it on opened streams
        raise ClipExportError("the video stream has no time base")
    return int(round(Fraction(seconds) / time_base))


def _duration(container: av.container.InputContainer, video: VideoStream) -> float | None:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _frame_seconds(video: VideoStream) -> float:
    rate = video.average_rate or video.guessed_rate or video.base_rate
    return float(1 / rate) if rate else 1 / 30


def _keyframe_before(container: av.container.InputContainer, video: VideoStream, start: float) -> float:
    """Presentation time (s) of the keyframe a decoder must start from to show ``start``."""
    container.seek(_ticks(start, video.time_base), stream=video, backward=True, any_frame=False)
    for packet in container.demux(video):
        if packet.pts is not None and packet.time_base is not None:
            return float(packet.pts * packet.time_base)
    return 0.0


def export_clip(
    source: str | Path,
    start: float,
    end: float,
    out_dir: str | Path,
    *,
    method: ExportMethod | Literal["auto"] = "auto",
) -> ClipExport:
    """Write seconds ``[start, end)`` of ``source`` into a new file in ``out_dir`` (created if needed).

    ``method="auto"`` copies packets when that is frame-exact (see the module docstring) and
    re-encodes otherwise or when copying fails. The file is named by :func:`clip_file_name` and
    never overwrites an existing file. Raises :class:`ClipExportError` for a missing or
    unreadable source, a source without video, or an empty / out-of-range time range.
    """
    source = Path(source)
    if not source.is_file():
        raise ClipExportError(f"video not found: {source}")
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        raise ClipExportError(f"invalid clip range {start:.3f}-{end:.3f} s: need 0 <= start < end")
    out_dir = Path(out_dir).expanduser()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClipExportError(f"cannot create export folder {out_dir}: {exc.strerror or exc}") from exc

    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                raise ClipExportError(f"{source.name} has no video stream")
            video = container.streams.video[0]
            duration = _duration(container, video)
            if duration is not None:
                if start >= duration:
                    raise ClipExportError(
                        f"clip start {start:.2f} s is past the end of {source.name} ({duration:.2f} s)"
                    )
                end = min(end, duration)
            keyframe = _keyframe_before(container, video, start)
    except av.error.FFmpegError as exc:
        raise ClipExportError(f"cannot read {source.name}: {exc}") from exc

    suffix = source.suffix.lower()
    exact_copy = suffix in EDIT_LIST_SUFFIXES or start - keyframe <= _frame_seconds(video) / 2
    if method == "copy" or (method == "auto" and exact_copy):
        target = _free_path(out_dir / clip_file_name(source, start, end))
        try:
            _copy(source, start, end, target, edit_list=suffix in EDIT_LIST_SUFFIXES)
            return ClipExport(target, start, end, "copy")
        except av.error.FFmpegError as exc:
            target.unlink(missing_ok=True)
            if method == "copy":
                raise ClipExportError(f"cannot copy {source.name} without re-encoding: {exc}") from exc
    target = _free_path(out_dir / clip_file_name(source, start, end, REENCODE_SUFFIX))
    try:
        _reencode(source, start, end, target)
    except av.error.FFmpegError as exc:
        target.unlink(missing_ok=True)
        raise ClipExportError(f"cannot export from {source.name}: {exc}") from exc
    return ClipExport(target, start, end, "reencode")


def _copy(source: Path, start: float, end: float, target: Path, *, edit_list: bool) -> None:
    """Stream-copy the first video (+ audio) stream.

    With ``edit_list`` the timeline is shifted so ``start`` becomes 0: packets from the preceding
    keyframe get negative timestamps, which the MP4 muxer turns into an edit list. Otherwise the
    clip starts at the keyframe (the caller checked it is within half a frame of ``start``).
    """
    with av.open(str(source)) as inp, av.open(str(target), mode="w") as out:
        video = inp.streams.video[0]
        audio = inp.streams.audio[0] if inp.streams.audio else None
        shift = start if edit_list else _keyframe_before(inp, video, start)
        inp.seek(_ticks(start, video.time_base), stream=video, backward=True, any_frame=False)
        mapping: dict[int, av.stream.Stream] = {video.index: out.add_stream_from_template(video)}
        if audio is not None:
            mapping[audio.index] = out.add_stream_from_template(audio)
        video_done = False
        audio_done = audio is None
        # Video packets shown at or after `end` are held back: they are written only if a later
        # packet (in decode order) is shown before `end`, since that one may reference them.
        held: list[tuple[av.Packet, int, int]] = []

        def write(packet: av.Packet, pts: int, dts: int) -> None:
            offset = _ticks(shift, packet.time_base)
            packet.pts, packet.dts = pts - offset, dts - offset
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)

        for packet in inp.demux(*[s for s in (video, audio) if s is not None]):
            pts, dts = packet.pts, packet.dts
            if pts is None or dts is None:
                continue  # demuxer flush packet
            tb = packet.time_base
            if packet.stream.index == video.index:
                # Decode order: every frame shown before `end` has dts < end.
                if dts >= _ticks(end, tb):
                    video_done = True
                    if audio_done:
                        break
                    continue
                if video_done:
                    continue
                if pts >= _ticks(end, tb):
                    held.append((packet, pts, dts))
                    continue
                for reference in held:
                    write(*reference)
                held.clear()
            else:
                if pts >= _ticks(end, tb):
                    audio_done = True
                    if video_done:
                        break
                    continue
                if pts < _ticks(start, tb) or audio_done:
                    continue
            write(packet, pts, dts)


def _reencode(source: Path, start: float, end: float, target: Path) -> None:
    """Decode ``[start, end)`` and encode it as H.264 (yuv420p, even size) + AAC in an MP4."""
    with av.open(str(source)) as inp, av.open(str(target), mode="w") as out:
        video = inp.streams.video[0]
        audio: AudioStream | None = inp.streams.audio[0] if inp.streams.audio else None
        rate = video.average_rate or video.guessed_rate or Fraction(30)
        width = video.codec_context.width - video.codec_context.width % 2
        height = video.codec_context.height - video.codec_context.height % 2
        out_video = out.add_stream("libx264", rate=rate)
        out_video.width, out_video.height, out_video.pix_fmt = width, height, "yuv420p"
        out_video.time_base = _MS
        out_video.codec_context.time_base = _MS
        out_audio = None
        if audio is not None and audio.codec_context.sample_rate:
            out_audio = out.add_stream("aac", rate=audio.codec_context.sample_rate)
            out_audio.layout = audio.codec_context.layout.name
        inp.seek(_ticks(start, video.time_base), stream=video, backward=True, any_frame=False)
        eps = _frame_seconds(video) / 1000
        streams = [video] + ([audio] if out_audio is not None and audio is not None else [])
        done = {stream.index: False for stream in streams}
        for packet in inp.demux(*streams):
            if done[packet.stream.index]:
                continue
            for frame in packet.decode():
                if not isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                    continue
                t = frame.time
                if t is None or t < start - eps:
                    continue
                if t >= end - eps:
                    done[packet.stream.index] = True
                    continue
                if isinstance(frame, av.VideoFrame):
                    image = frame.reformat(width=width, height=height, format="yuv420p")
                    image.pts, image.time_base = int(round((t - start) * 1000)), _MS
                    for out_packet in out_video.encode(image):
                        out.mux(out_packet)
                elif out_audio is not None:
                    frame.pts = int(round((t - start) * frame.sample_rate))
                    frame.time_base = Fraction(1, frame.sample_rate)
                    for out_packet in out_audio.encode(frame):
                        out.mux(out_packet)
            if all(done.values()):
                break
        for stream in (out_video, out_audio):
            if stream is not None:
                for out_packet in stream.encode(None):
                    out.mux(out_packet)
