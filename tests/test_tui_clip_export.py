"""indexer.clip_export: exported clips decode, start at the right frame and have the right length."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from indexer.clip_export import ClipExportError, clip_file_name, export_clip
from indexer.videogen import Segment, draw_frame, frame_index_of, write_video

FPS = 10
SEGMENTS = [Segment(4, (200, 30, 30)), Segment(4, (30, 200, 30)), Segment(4, (30, 30, 200))]


def _frames(path: Path) -> list[tuple[float, int]]:
    """(presentation time s, barcode frame index) of every decoded frame."""
    with av.open(str(path)) as container:
        return [
            (float(frame.time), frame_index_of(frame.to_ndarray(format="rgb24")))
            for frame in container.decode(container.streams.video[0])
        ]


def _audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate


def _write_with_audio(path: Path, seconds: float, sample_rate: int = 16000) -> Path:
    """H.264 + AAC mp4: frame-index barcodes on video, a 440 Hz tone on audio."""
    ms = Fraction(1, 1000)
    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        video.options = {"preset": "ultrafast", "g": "25"}
        video.time_base = video.codec_context.time_base = ms
        audio = out.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for i in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, (90, 90, 90), 128, 96), format="rgb24")
            frame.pts, frame.time_base = i * 1000 // FPS, ms
            out.mux(video.encode(frame))
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for offset in range(0, tone.size, 1024):
            chunk = tone[offset : offset + 1024][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, offset, Fraction(1, sample_rate)
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # keyframes every FPS frames (1 s): 3.3 s is between keyframes
    return write_video(tmp_path_factory.mktemp("src") / "colours.mp4", SEGMENTS, fps=FPS)


def test_mp4_copy_is_frame_exact_through_an_edit_list(mp4: Path, tmp_path: Path) -> None:
    result = export_clip(mp4, 3.3, 6.7, tmp_path)
    assert result.method == "copy"
    assert result.path == tmp_path / "colours.0-00-03_0-00-07.mp4"
    frames = _frames(result.path)
    assert [index for _, index in frames] == list(range(33, 67))
    assert frames[0][0] == pytest.approx(0.0, abs=1e-3)


def test_reencode_is_frame_exact(mp4: Path, tmp_path: Path) -> None:
    result = export_clip(mp4, 2.0, 5.5, tmp_path, method="reencode")
    assert result.method == "reencode"
    frames = _frames(result.path)
    assert [index for _, index in frames] == list(range(20, 55))
    assert frames[-1][0] == pytest.approx(3.4, abs=1e-3)


def test_mkv_between_keyframes_falls_back_to_reencode(tmp_path: Path) -> None:
    mkv = write_video(tmp_path / "colours.mkv", SEGMENTS, fps=FPS)
    result = export_clip(mkv, 3.3, 4.5, tmp_path / "out")
    assert result.method == "reencode" and result.path.suffix == ".mp4"
    assert [index for _, index in _frames(result.path)] == list(range(33, 45))


def test_mkv_on_a_keyframe_is_copied(tmp_path: Path) -> None:
    mkv = write_video(tmp_path / "colours.mkv", SEGMENTS, fps=FPS)
    result = export_clip(mkv, 4.0, 6.0, tmp_path / "out")
    assert result.method == "copy" and result.path.suffix == ".mkv"
    assert [index for _, index in _frames(result.path)] == list(range(40, 60))


def test_b_frames_copy_keeps_only_needed_frames_past_the_end(tmp_path: Path) -> None:
    """x264 with 3 B-frames: the copy starts exactly; past the end it keeps only the one P-frame
    that the last B-frames reference (frames that nothing references are held back and dropped)."""
    source, ms = tmp_path / "bframes.mp4", Fraction(1, 1000)
    with av.open(str(source), mode="w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"preset": "medium", "bf": "3", "g": "50", "threads": "1"}
        stream.time_base = stream.codec_context.time_base = ms
        for i in range(250):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, (100, 100, 100), 128, 96), format="rgb24")
            frame.pts, frame.time_base = i * 40, ms
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    exact = list(range(83, 153))  # frames shown at 3.32 s ... 6.08 s: pts in [3.3, 6.1)
    copied = [index for _, index in _frames(export_clip(source, 3.3, 6.1, tmp_path / "c", method="copy").path)]
    assert copied[: len(exact)] == exact and len(copied) == len(exact) + 1
    reencoded = export_clip(source, 3.3, 6.1, tmp_path / "r", method="reencode").path
    assert [index for _, index in _frames(reencoded)] == exact


@pytest.mark.parametrize("method", ["copy", "reencode"])
def test_audio_is_cut_to_the_same_range(tmp_path: Path, method: str) -> None:
    source = _write_with_audio(tmp_path / "talk.mp4", 6.0)
    result = export_clip(source, 1.5, 4.0, tmp_path / method, method=method)  # type: ignore[arg-type]
    assert [index for _, index in _frames(result.path)] == list(range(15, 40))
    # AAC works in 1024-sample frames (64 ms at 16 kHz) plus encoder priming
    assert _audio_seconds(result.path) == pytest.approx(2.5, abs=0.15)


def test_end_is_clamped_and_names_never_collide(mp4: Path, tmp_path: Path) -> None:
    first = export_clip(mp4, 10.0, 99.0, tmp_path)
    second = export_clip(mp4, 10.0, 99.0, tmp_path)
    assert first.end == pytest.approx(12.0, abs=0.11)
    assert second.path.name == f"{first.path.stem} (2).mp4"
    assert [index for _, index in _frames(second.path)] == list(range(100, 120))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(5.0, 5.0, "invalid clip range"), (-1.0, 2.0, "invalid clip range"), (30.0, 31.0, "past the end")],
)
def test_bad_ranges_are_one_line_errors(mp4: Path, tmp_path: Path, start: float, end: float, message: str) -> None:
    with pytest.raises(ClipExportError, match=message):
        export_clip(mp4, start, end, tmp_path)


def test_missing_and_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(ClipExportError, match="video not found"):
        export_clip(tmp_path / "nope.mp4", 0, 1, tmp_path)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ClipExportError, match="cannot read junk.mp4"):
        export_clip(junk, 0, 1, tmp_path)


def test_clip_file_name() -> None:
    assert clip_file_name("/v/Beach Day.MOV", 65.2, 3725.0) == "Beach Day.0-01-05_1-02-05.mov"
    assert clip_file_name("/v/a.webm", 0, 2, ".mp4") == "a.0-00-00_0-00-02.mp4"
