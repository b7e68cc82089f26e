"""The decode -> encode pipeline: batching across videos, per-video results, failures, stop, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.pipeline import (ClipsEncoded, EncodedVideo, FailedVideo, IndexPipeline, PipelineConfig, VideoJob,
                              VideoStarted)
from indexer.videogen import Segment, write_video
from tests.plugins_indexer import BarcodeEncoder, first_frame_of

FPS = 10.0


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("pipeline")
    return [
        write_video(root / "a.mp4", [Segment(7.0, (200, 0, 0))], fps=FPS),                   # 4 clips (1 s tail)
        write_video(root / "b.mkv", [Segment(4.0, (0, 200, 0))], fps=FPS, size=(160, 96)),    # 2 clips
        write_video(root / "c.webm", [Segment(11.0, (0, 0, 200))], fps=FPS),                  # 6 clips
        write_video(root / "d.mp4", [Segment(0.8, (90, 90, 0))], fps=FPS),                    # 1 clip
    ]


def run(pipeline: IndexPipeline, paths: list[Path]) -> list[object]:
    return list(pipeline.run([VideoJob(key=i, path=str(p)) for i, p in enumerate(paths)]))


@pytest.mark.parametrize("workers, batch", [(1, 1), (2, 3), (3, 64)])
def test_every_clip_is_encoded_once_and_lands_in_its_video(videos: list[Path], workers: int, batch: int) -> None:
    encoder = BarcodeEncoder()
    pipeline = IndexPipeline(encoder, PipelineConfig(batch_size=batch, decode_workers=workers))
    events = run(pipeline, videos)
    done = {e.job.path: e for e in events if isinstance(e, EncodedVideo)}
    assert set(done) == {str(p) for p in videos}
    expected_clips = {"a.mp4": 4, "b.mkv": 2, "c.webm": 6, "d.mp4": 1}
    for path, result in done.items():
        n = expected_clips[Path(path).name]
        assert result.embeddings.shape == (n, 8) and result.embeddings.dtype == np.float32
        assert result.clip_times.shape == (n, 2) and not result.truncated
        np.testing.assert_allclose(result.clip_times[:, 0], np.arange(n) * 2.0)
        # Each stored row was computed from its own clip's frames: the first of 4 samples sits at
        # start + length / 8.
        firsts = [first_frame_of(row) for row in result.embeddings]
        assert firsts == [int(np.floor((s + (e - s) / 8) * FPS + 1e-6)) for s, e in result.clip_times]
    assert sum(len(s) for s in encoder.seen) == 4 * sum(expected_clips.values())
    assert max(encoder.batch_sizes) <= batch
    # Native-size encoder: a batch never mixes frame shapes (b.mkv is wider).
    assert {s for s in encoder.batch_shapes} == {(96, 128, 3), (96, 160, 3)}
    progress = {}
    for e in events:
        if isinstance(e, ClipsEncoded):
            progress[e.job.path] = progress.get(e.job.path, 0) + e.n
    assert progress == {p: len(r.embeddings) for p, r in done.items()}
    started = [e for e in events if isinstance(e, VideoStarted)]
    assert sorted(e.n_clips for e in started) == [1, 2, 4, 6]


def test_a_bad_file_fails_alone(videos: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    events = run(IndexPipeline(BarcodeEncoder(), PipelineConfig(batch_size=4, decode_workers=2)),
                 [videos[0], bad, videos[1]])
    failed = [e for e in events if isinstance(e, FailedVideo)]
    assert [(Path(e.job.path).name, e.error.split(" (")[0]) for e in failed] == [("bad.mp4", "not a readable video")]
    assert len([e for e in events if isinstance(e, EncodedVideo)]) == 2


def test_stop_finishes_videos_in_flight_and_starts_no_new_one(videos: list[Path]) -> None:
    pipeline = IndexPipeline(BarcodeEncoder(), PipelineConfig(batch_size=2, decode_workers=1))
    events = []
    for event in pipeline.run([VideoJob(key=i, path=str(p)) for i, p in enumerate(videos * 3)]):
        events.append(event)
        if isinstance(event, VideoStarted) and not pipeline.stopping:
            pipeline.stop()
    started = [e.job.key for e in events if isinstance(e, VideoStarted)]
    finished = [e.job.key for e in events if isinstance(e, (EncodedVideo, FailedVideo))]
    assert started == finished and 1 <= len(started) <= 2  # one worker: at most the next video was open
    planned = {e.job.key: e.n_clips for e in events if isinstance(e, VideoStarted)}
    assert all(len(e.embeddings) == planned[e.job.key] for e in events if isinstance(e, EncodedVideo))


def test_an_encoder_error_ends_the_run_and_joins_the_workers(videos: list[Path]) -> None:
    class Broken(BarcodeEncoder):
        def encode_clips(self, frames: np.ndarray) -> np.ndarray:
            raise RuntimeError("CUDA out of memory")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        run(IndexPipeline(Broken(), PipelineConfig(batch_size=2, decode_workers=2)), videos)
    assert threading.active_count() == before


def test_a_wrong_embedding_shape_is_caught(videos: list[Path]) -> None:
    class Wrong(BarcodeEncoder):
        def encode_clips(self, frames: np.ndarray) -> np.ndarray:
            return np.zeros((len(frames), 3), np.float32)

    with pytest.raises(RuntimeError, match=r"expected \(\d+, 8\)"):
        run(IndexPipeline(Wrong(), PipelineConfig(batch_size=2, decode_workers=1)), videos[:1])


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        PipelineConfig(batch_size=0)
    with pytest.raises(ValueError):
        PipelineConfig(clip_seconds=-1)
