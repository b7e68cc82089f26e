"""Decoding: which frame each sample gets (bar codes), per container, backend, VFR, rotation,
start offsets, B-frames, seeking, resizing, and every kind of unreadable input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.clip_sampler import clip_bounds, sample_times
from indexer.decoding import PyAVReader, VideoDecodeError, decord_available, open_video, probe
from indexer.videogen import Segment, frame_index_of, write_video
from tests.indexer_media import (cfr_times, expected_indices, on_screen, reference_timeline, write_audio_only,
                                 write_frames)

BACKENDS = ["pyav", "auto"]  # auto: decord where it is known to be exact, else PyAV
CONTAINERS = [".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".ts", ".wmv", ".flv"]
FPS = 10.0
SECONDS = 5.0  # two full clips and a 1 s tail (kept: >= half a clip)


def read_indices(path: Path, backend: str, frames_per_clip: int = 4, clip_seconds: float = 2.0,
                 frame_size: int | None = None) -> tuple[np.ndarray, np.ndarray, object]:
    reader = open_video(str(path), backend=backend)
    times = sample_times(clip_bounds(reader.info.duration, clip_seconds), frames_per_clip)
    steps = reader.info.rotation // 90
    clips = list(reader.read_clips(times, frame_size))
    reader.close()
    got = np.array([[frame_index_of(np.rot90(f, -steps)) for f in clip] for clip in clips])
    return got, times, reader


@pytest.fixture(scope="module")
def containers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("containers")
    return {ext: write_video(root / f"v{ext}", [Segment(SECONDS, (30, 160, 220))], fps=FPS) for ext in CONTAINERS}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ext", CONTAINERS)
def test_each_sample_gets_the_frame_on_screen(containers: dict[str, Path], ext: str, backend: str) -> None:
    info = probe(str(containers[ext]))
    assert info.duration == pytest.approx(SECONDS, abs=1e-3)
    assert (info.width, info.height, info.rotation) == (128, 96, 0)
    got, times, _ = read_indices(containers[ext], backend)
    assert times.shape == (3, 4)
    np.testing.assert_array_equal(got, on_screen(reference_timeline(containers[ext]), times))
    if ext not in (".mpg",):  # the MPEG-PS muxer rounds timestamps; elsewhere they are exactly i / fps
        np.testing.assert_array_equal(got, np.floor(times * FPS + 1e-9).astype(int))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mpg", ".ts", ".wmv"])
def test_dense_and_sparse_sampling_match_sequential_decoding(tmp_path: Path, ext: str, backend: str) -> None:
    """Twenty seconds at 25 fps, short GOPs: one sample per clip seeks, eight per clip mostly decode on."""
    path = write_video(tmp_path / f"long{ext}", [Segment(20.0, (40, 90, 200))], fps=25)
    timeline = reference_timeline(path)
    for per_clip in (1, 8):
        got, times, _ = read_indices(path, backend, frames_per_clip=per_clip)
        np.testing.assert_array_equal(got, on_screen(timeline, times))


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_uses_each_frames_own_timestamp(tmp_path: Path, backend: str) -> None:
    # 10 fps in even seconds, 40 fps in odd seconds: a frame-count/fps assumption is off by up to 30 frames.
    times_ms: list[int] = []
    for second in range(6):
        step = 100 if second % 2 == 0 else 25
        times_ms += list(range(second * 1000, (second + 1) * 1000, step))
    path = write_frames(tmp_path / "vfr.mkv", times_ms)
    got, times, _ = read_indices(path, backend)
    np.testing.assert_array_equal(got, expected_indices(times_ms, times))
    assert got[0].tolist() == [2, 7, 20, 40]  # samples at 0.25 0.75 1.25 1.75 s


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts"])
def test_start_offset_and_b_frames(tmp_path: Path, ext: str, backend: str) -> None:
    """Time 0 is the container start (1.5 s of stream time here); B-frames are reordered."""
    times_ms = cfr_times(6.0, 25, start_ms=1500)
    path = write_frames(tmp_path / f"offset{ext}", times_ms, preset="medium")
    info = probe(str(path))
    assert info.origin == pytest.approx(1.5)
    assert info.duration == pytest.approx(6.0, abs=0.05)
    got, times, _ = read_indices(path, backend)
    np.testing.assert_array_equal(got, expected_indices(times_ms, times, start_ms=1500))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied_after_resizing(tmp_path: Path, rotation: int) -> None:
    times_ms = cfr_times(2.0, 10)
    path = write_frames(tmp_path / "phone.mp4", times_ms, size=(128, 96), rotation=rotation)
    info = probe(str(path))
    assert info.rotation == rotation
    assert (info.width, info.height) == ((96, 128) if rotation % 180 else (128, 96))
    reader = open_video(str(path))  # auto: rotated files are read by PyAV
    clip = next(reader.read_clips(np.array([[0.55, 1.25]]), None))
    assert clip.shape == (2, info.height, info.width, 3)
    assert [frame_index_of(np.rot90(f, -rotation // 90)) for f in clip] == [5, 12]
    square = next(open_video(str(path)).read_clips(np.array([[0.55]]), 64))
    assert square.shape == (1, 64, 64, 3)
    reference = np.rot90(next(PyAVReader(str(path), probe(str(path))).read_clips(np.array([[0.55]]), None))[0],
                         -rotation // 90)
    assert np.abs(np.rot90(square[0], -rotation // 90).astype(int).mean(axis=(0, 1))
                  - reference.astype(int).mean(axis=(0, 1))).max() < 12


def test_sparse_samples_seek_over_long_gops_and_stay_exact(tmp_path: Path) -> None:
    times_ms = cfr_times(60.0, 10)
    path = write_frames(tmp_path / "long_gop.mp4", times_ms, gop=50)  # a keyframe every 5 s
    info = probe(str(path))
    reader = PyAVReader(str(path), info)
    samples = np.array([[0.35], [12.34], [27.95], [44.0], [59.95]])
    clips = list(reader.read_clips(samples, 32 * 4))
    assert [frame_index_of(c[0]) for c in clips] == [3, 123, 279, 440, 599]
    assert reader.frames_decoded < 0.4 * len(times_ms)  # decoded GOPs around the samples only


@pytest.mark.skipif(not decord_available(), reason="decord not installed")
@pytest.mark.parametrize("ext, backend", [(".mp4", "decord"), (".mkv", "decord"), (".webm", "decord"),
                                          (".wmv", "pyav"), (".ts", "pyav"), (".mpg", "pyav")])
def test_auto_uses_decord_only_where_it_is_exact(containers: dict[str, Path], ext: str, backend: str) -> None:
    reader = open_video(str(containers[ext]))
    next(reader.read_clips(np.array([[0.5]]), 32))
    assert reader.backend == backend
    if backend == "pyav":
        with pytest.raises(VideoDecodeError, match="decord cannot read this file exactly"):
            open_video(str(containers[ext]), backend="decord")


def test_frames_are_resized_to_the_encoders_square(containers: dict[str, Path]) -> None:
    reader = open_video(str(containers[".mp4"]))
    clip = next(reader.read_clips(np.array([[0.5, 1.0, 1.5]]), 48))
    assert clip.shape == (3, 48, 48, 3) and clip.dtype == np.uint8
    body = clip[:, 20:, :, :].reshape(-1, 3).mean(axis=0)  # below the bar code: the solid colour
    np.testing.assert_allclose(body, (30, 160, 220), atol=12)


def test_very_large_resolution_streams_resized_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "uhd.mp4", [Segment(2.0, (250, 250, 0))], fps=2, size=(3840, 2160))
    got, times, reader = read_indices(path, "pyav", frames_per_clip=2, frame_size=256)
    assert (reader.info.width, reader.info.height) == (3840, 2160)
    np.testing.assert_array_equal(got, np.floor(times * 2 + 1e-9).astype(int))


def test_video_shorter_than_half_a_clip_is_one_clip(tmp_path: Path) -> None:
    path = write_video(tmp_path / "blink.mp4", [Segment(0.6, (0, 0, 255))], fps=10)
    got, times, reader = read_indices(path, "pyav", frames_per_clip=3)
    assert reader.info.duration == pytest.approx(0.6, abs=1e-3)
    assert got.tolist() == [[1, 3, 5]]  # samples at 0.1, 0.3, 0.5 s


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_stream_yields_the_decodable_clips(tmp_path: Path, backend: str) -> None:
    full = write_video(tmp_path / "full.mkv", [Segment(20.0, (90, 90, 90))], fps=FPS)
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    got, times, reader = read_indices(cut, backend)
    assert 0 < len(got) < 10
    np.testing.assert_array_equal(got, np.floor(times[: len(got)] * FPS + 1e-9).astype(int))


def make_bad(kind: str, tmp_path: Path) -> Path:
    if kind == "zero-byte":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif kind == "text":
        path = tmp_path / "notes.mkv"
        path.write_text("this is a shopping list, not a video\n" * 50)
    elif kind == "corrupt":
        path = tmp_path / "corrupt.mp4"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    elif kind == "truncated-mp4":  # the moov index is written last, so a cut file has none
        full = write_video(tmp_path / "whole.mp4", [Segment(4.0, (10, 200, 10))], fps=FPS)
        path = tmp_path / "truncated.mp4"
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif kind == "audio-only":
        path = write_audio_only(tmp_path / "song.mp4")
    elif kind == "directory":
        path = tmp_path / "folder.mp4"
        path.mkdir()
    else:
        raise AssertionError(kind)
    return path


@pytest.mark.parametrize("kind, reason", [
    ("zero-byte", "empty file (0 bytes)"),
    ("text", "not a readable video"),
    ("corrupt", "not a readable video"),
    ("truncated-mp4", "not a readable video"),
    ("audio-only", "no video stream"),
    ("directory", "is a directory"),
])
def test_unreadable_inputs_raise_one_line_reasons(tmp_path: Path, kind: str, reason: str) -> None:
    path = make_bad(kind, tmp_path)
    with pytest.raises(VideoDecodeError) as err:
        open_video(str(path))
    message = str(err.value)
    assert message.startswith(reason), message
    assert "\n" not in message and str(path) not in message


def test_skipped_non_reference_frame_on_screen_at_a_sample_is_reread(tmp_path: Path) -> None:
    """Non-reference frames far from samples are not decoded, unless a frame-rate gap makes one of
    them the frame on screen at a sample: then the read restarts without skipping, still exact."""
    import av

    times_ms, t = [], 0
    for i in range(72):  # 40 ms steps, and a 1 s gap after every sixth frame
        times_ms.append(t)
        t += 1000 if i % 6 == 5 else 40
    path = write_frames(tmp_path / "gaps.mp4", times_ms, preset="medium")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        kept = {frame_index_of(f.to_ndarray(format="rgb24")) for f in container.decode(stream)}
    gap_frames = [i for i in range(71) if i % 6 == 5]  # not the last frame: nothing follows it
    assert any(i not in kept for i in gap_frames), "x264 made every gap frame a reference frame"
    samples = np.array([[times_ms[i] / 1000 + 0.5] for i in gap_frames])
    reader = PyAVReader(str(path), probe(str(path)))
    got = [frame_index_of(clip[0]) for clip in reader.read_clips(samples, None)]
    assert got == gap_frames
    assert reader.skip_fallbacks == 1
