"""Real processes: a reader works while an indexer writes, and SIGKILL mid-run then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.crash_ledger import LEDGER_FILE
from indexer.indexing import IndexOptions, run_index
from indexer.library import Library
from indexer.videogen import Segment, write_video

ROOT = Path(__file__).resolve().parents[1]
N_VIDEOS = 8
CLIPS_PER_VIDEO = 3


def vsearch(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "vsearch", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def committed(lib: Path) -> dict[str, int]:
    """Indexed videos (path -> clip count) as a reader sees them now; {} before the catalog exists."""
    if not (lib / "library.duckdb").exists():
        return {}
    with Library.open(lib, readonly=True) as db:
        return {v.path: v.clip_count for v in db.videos()}


def test_reader_during_indexing_then_sigkill_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(N_VIDEOS):
        write_video(videos / f"v{i}.mp4", [Segment(2.0 * CLIPS_PER_VIDEO, (30 * i, 80, 160))])
    lib = tmp_path / "lib"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VSEARCH_TEST_SECONDS_PER_CLIP": "0.5"}
    command = ("index", str(videos), "--library", str(lib), "--encoder", "tests.plugins_indexer:SlowTinyEncoder",
               "--batch-size", "1", "--decode-workers", "1", "--json")

    writer = vsearch(*command, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(committed(lib)) < 1:
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline, "the indexer stored nothing in time"
            time.sleep(0.2)

        # Another process reads while the indexer keeps writing.
        reader = vsearch("status", "--library", str(lib), "--json", env=env)
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        status = json.loads(out)
        assert status["run_in_progress"] is True
        assert status["encoder"]["name"] == "slow-tiny" and status["encoder"]["clip_seconds"] == 2.0
        assert 1 <= status["videos"]["indexed"] < N_VIDEOS
        assert status["clips"] == status["vectors"] == CLIPS_PER_VIDEO * status["videos"]["indexed"]

        assert writer.poll() is None, "the indexer finished before it could be killed"
        writer.send_signal(signal.SIGKILL)  # somewhere inside a video: decoding, encoding or storing
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL

    survivors = committed(lib)
    assert 1 <= len(survivors) < N_VIDEOS
    assert set(survivors.values()) == {CLIPS_PER_VIDEO}  # whole videos only
    in_flight = json.loads((lib / LEDGER_FILE).read_text())  # what the killed run was working on
    assert in_flight and set(in_flight.values()) == {1} and not set(in_flight) & set(survivors)

    # The same command again (in this process: a second interpreter start-up is slow on a loaded box).
    monkeypatch.setenv("VSEARCH_TEST_SECONDS_PER_CLIP", "0")
    summary = run_index([videos], library_dir=lib, options=IndexOptions(
        encoder="tests.plugins_indexer:SlowTinyEncoder", batch_size=1, decode_workers=1))
    assert (summary.indexed, summary.skipped, summary.failed) == (
        N_VIDEOS - len(survivors), len(survivors), 0)  # only what the kill interrupted is redone

    assert not (lib / LEDGER_FILE).exists()  # one death is no reason to give up on a video
    with Library.open(lib, readonly=True) as db:
        stats = db.stats()
        rows = db.videos()
        embeddings = db.clip_embeddings([(v.id, 0, v.clip_count) for v in rows])
    assert stats.videos_indexed == N_VIDEOS and stats.videos_failed == 0
    assert stats.clips == stats.vectors == N_VIDEOS * CLIPS_PER_VIDEO
    assert len({v.path for v in rows}) == N_VIDEOS
    assert [len(e) for e in embeddings] == [CLIPS_PER_VIDEO] * N_VIDEOS
