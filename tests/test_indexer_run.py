"""Index runs against a real library with the tiny encoder: incremental rules, bad inputs, encoder
binding, plug-ins by import path, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import indexer.indexing as indexing
from indexer.crash_ledger import LEDGER_FILE, MAX_ATTEMPTS, CrashLedger
from indexer.indexing import IndexOptions, run_index
from indexer.library import EncoderMismatchError, Library
from indexer.progress import IndexProgress
from indexer.videogen import Segment, write_video
from tests.indexer_media import write_audio_only, write_frames
from tests.plugins_indexer import first_frame_of

TINY = IndexOptions(encoder="tiny", batch_size=8, decode_workers=2)


def library_state(directory: Path) -> tuple[dict[str, int], int, int]:
    """({path: clip_count} of indexed videos, DuckDB clip rows, FAISS vectors)."""
    with Library.open(directory, readonly=True) as lib:
        stats = lib.stats()
        return {v.path: v.clip_count for v in lib.videos()}, stats.clips, stats.vectors


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    write_video(root / "red.mp4", [Segment(6.0, (220, 20, 20))])
    write_video(root / "green.mkv", [Segment(4.0, (20, 220, 20))])
    write_video(root / "sub" / "blue.webm", [Segment(3.0, (20, 20, 220))])
    return root


def test_incremental_rules(folder: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    first = run_index([folder], library_dir=lib, options=TINY)
    assert (first.indexed, first.skipped, first.failed, first.clips_added) == (3, 0, 0, 3 + 2 + 2)
    videos, clips, vectors = library_state(lib)
    assert clips == vectors == 7 and len(videos) == 3

    again = run_index([folder], library_dir=lib)  # the library remembers its encoder
    assert (again.indexed, again.skipped, again.clips_added) == (0, 3, 0)

    # Changed: new content and length; old clips and vectors are replaced, not added to.
    write_video(folder / "red.mp4", [Segment(8.0, (250, 250, 250))])
    os.utime(folder / "red.mp4", (1_000_000, 1_000_000))
    changed = run_index([folder], library_dir=lib)
    assert (changed.indexed, changed.skipped) == (1, 2)
    videos, clips, vectors = library_state(lib)
    assert videos[str(folder / "red.mp4")] == 4 and clips == vectors == 4 + 2 + 2

    # Touched only: same bytes, new mtime -> recorded, not re-encoded.
    os.utime(folder / "green.mkv", (2_000_000, 2_000_000))
    touched = run_index([folder], library_dir=lib)
    assert (touched.indexed, touched.skipped) == (0, 3)
    assert run_index([folder], library_dir=lib).skipped == 3

    # Moved and renamed: re-linked with the same vectors, nothing encoded.
    with Library.open(lib, readonly=True) as db:
        old = next(v for v in db.videos() if v.path.endswith("green.mkv"))
        old_vectors = db.clip_embeddings([(old.id, 0, old.clip_count)])[0]
    shutil.move(folder / "green.mkv", folder / "sub" / "renamed.mkv")
    moved = run_index([folder], library_dir=lib)
    assert (moved.relinked, moved.indexed, moved.removed) == (1, 0, 0)
    with Library.open(lib, readonly=True) as db:
        new = next(v for v in db.videos() if v.path.endswith("renamed.mkv"))
        np.testing.assert_array_equal(db.clip_embeddings([(new.id, 0, new.clip_count)])[0], old_vectors)
    assert new.id == old.id

    # Deleted under an indexed root: swept. Indexing another root leaves this one alone.
    (folder / "sub" / "blue.webm").unlink()
    other = tmp_path / "other"
    other.mkdir()
    write_video(other / "x.mp4", [Segment(2.0, (1, 2, 3))])
    elsewhere = run_index([other], library_dir=lib)
    assert (elsewhere.indexed, elsewhere.removed) == (1, 0)
    swept = run_index([folder], library_dir=lib)
    assert (swept.removed, swept.indexed) == (1, 0)
    videos, clips, vectors = library_state(lib)
    assert sorted(Path(p).name for p in videos) == ["red.mp4", "renamed.mkv", "x.mp4"]
    assert clips == vectors == 4 + 2 + 1


def test_every_bad_input_is_recorded_and_the_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    write_video(root / "good.mp4", [Segment(4.0, (200, 100, 0))])
    write_video(root / "short.mp4", [Segment(0.6, (0, 100, 200))], fps=10)
    write_video(root / "vfr.mkv", [Segment(4.0, (0, 200, 0))], fps=10, vfr=True)
    write_video(root / "uhd.mp4", [Segment(2.0, (10, 10, 10))], fps=2, size=(3840, 2160))
    write_frames(root / "rotated.mp4", list(range(0, 3000, 100)), rotation=90)
    (root / "zero.mp4").write_bytes(b"")
    (root / "text.avi").write_text("not a video at all\n" * 100)
    (root / "corrupt.mkv").write_bytes(os.urandom(40_000))
    whole = write_video(tmp_path / "whole.mp4", [Segment(6.0, (9, 9, 9))])
    (root / "truncated.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    write_audio_only(root / "podcast.mp4")
    (root / "locked.mov").write_bytes(whole.read_bytes())

    real_fingerprint = indexing.fingerprint

    def fingerprint(path: str) -> str:  # tests run as root: simulate a file without read permission
        if path.endswith("locked.mov"):
            raise PermissionError(13, "Permission denied", path)
        return real_fingerprint(path)

    monkeypatch.setattr(indexing, "fingerprint", fingerprint)
    lib = tmp_path / "lib"
    summary = run_index([root], library_dir=lib, options=TINY)
    reasons = {Path(p).name: e for p, e in summary.failures}
    assert reasons == {
        "zero.mp4": "empty file (0 bytes)",
        "text.avi": reasons["text.avi"], "corrupt.mkv": reasons["corrupt.mkv"],
        "truncated.mp4": reasons["truncated.mp4"],
        "podcast.mp4": "no video stream (audio-only or data file)",
        "locked.mov": "cannot read file: Permission denied",
    }
    for name in ("text.avi", "corrupt.mkv", "truncated.mp4"):
        assert reasons[name].startswith("not a readable video ("), reasons[name]
    assert all("\n" not in e for e in reasons.values())
    assert summary.indexed == 5 and summary.failed == 6
    videos, clips, vectors = library_state(lib)
    counts = {Path(p).name: n for p, n in videos.items()}
    assert counts == {"good.mp4": 2, "short.mp4": 1, "vfr.mkv": 2, "uhd.mp4": 1, "rotated.mp4": 2}
    assert clips == vectors == 8
    with Library.open(lib, readonly=True) as db:
        rotated = next(v for v in db.videos() if v.path.endswith("rotated.mp4"))
        assert (rotated.width, rotated.height) == (96, 128)
        assert {Path(p).name for p, _ in db.stats().failures} == set(reasons)

    # Undecodable files are not retried until they change; an unreadable one is retried every run.
    monkeypatch.setattr(indexing, "fingerprint", real_fingerprint)
    rerun = run_index([root], library_dir=lib)
    assert (rerun.indexed, rerun.failed, rerun.skipped) == (1, 0, 10)


def test_encoder_and_clip_length_are_bound_to_the_library(folder: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    run_index([folder / "sub"], library_dir=lib, options=TINY)
    with pytest.raises(EncoderMismatchError, match="bound to encoder tiny"):
        run_index([folder], library_dir=lib, options=IndexOptions(encoder="tests.plugins_indexer:BarcodeEncoder"))
    with pytest.raises(EncoderMismatchError, match="2 s clips, not 3 s"):
        run_index([folder], library_dir=lib, options=IndexOptions(clip_seconds=3.0))
    videos, clips, vectors = library_state(lib)
    assert len(videos) == 1 and clips == vectors == 2  # nothing was touched


def test_plugin_encoder_by_import_path(folder: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    spec = "tests.plugins_indexer:BarcodeEncoder"
    summary = run_index([folder], library_dir=lib, options=IndexOptions(encoder=spec, clip_seconds=1.5))
    assert summary.indexed == 3
    with Library.open(lib, readonly=True) as db:
        assert (db.identity.spec, db.identity.name, db.identity.dim, db.identity.clip_seconds) == (spec, "barcode", 8, 1.5)
        red = next(v for v in db.videos() if v.path.endswith("red.mp4"))
        rows = db.clip_embeddings([(red.id, 0, red.clip_count)])[0]
    # 6 s at 1.5 s per clip; frame index of each clip's first sample (start + 1.5 / 8 s at 10 fps)
    assert [first_frame_of(r) for r in rows] == [1, 16, 31, 46]
    assert run_index([folder], library_dir=lib).skipped == 3  # later runs reuse the library's plug-in


def test_ctrl_c_stops_after_the_videos_in_flight(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(6):
        write_video(root / f"v{i}.mp4", [Segment(4.0, (i * 40, 0, 0))])

    class CtrlCAfterFirst(IndexProgress):
        sent = False

        def video_done(self, path: str, ok: bool, detail: str) -> None:
            if not self.sent:
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)

    lib = tmp_path / "lib"
    options = IndexOptions(encoder="tiny", batch_size=2, decode_workers=1)
    handler_before = signal.getsignal(signal.SIGINT)
    stopped = run_index([root], library_dir=lib, options=options, progress=CtrlCAfterFirst())
    assert stopped.interrupted and 1 <= stopped.indexed < 6
    videos, clips, vectors = library_state(lib)
    assert len(videos) == stopped.indexed and clips == vectors == 2 * stopped.indexed
    assert signal.getsignal(signal.SIGINT) is handler_before  # restored
    assert not (lib / LEDGER_FILE).exists()  # a stop on purpose counts against no video
    rest = run_index([root], library_dir=lib)
    assert (rest.indexed, rest.skipped, rest.interrupted) == (6 - stopped.indexed, stopped.indexed, False)


def test_a_video_the_indexer_died_on_twice_is_failed_not_retried(folder: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    poison = str(folder / "green.mkv")
    (lib / LEDGER_FILE).write_text(json.dumps({poison: MAX_ATTEMPTS, str(folder / "red.mp4"): 1}))
    summary = run_index([folder], library_dir=lib, options=TINY)
    assert summary.failures == [(poison, f"the indexer died {MAX_ATTEMPTS} times while processing this file "
                                         "(decoder crash or kill); it is retried when the file changes")]
    assert summary.indexed == 2  # one earlier death is not enough to give up on red.mp4
    assert not (lib / LEDGER_FILE).exists()  # everything started was finished
    assert run_index([folder], library_dir=lib).skipped == 3
    os.utime(poison, (3_000_000, 3_000_000))
    assert run_index([folder], library_dir=lib).indexed == 1  # changed: tried again, and it is fine


def test_crash_ledger_counts_only_unfinished_starts(tmp_path: Path) -> None:
    ledger = CrashLedger(tmp_path)
    ledger.started("/v/a.mp4")
    ledger.started("/v/b.mp4")
    ledger.finished("/v/a.mp4")
    assert CrashLedger(tmp_path).attempts("/v/b.mp4") == 1  # persisted: as if the process died now
    assert CrashLedger(tmp_path).attempts("/v/a.mp4") == 0
    ledger.release_unfinished()  # but it ended on purpose
    assert CrashLedger(tmp_path).attempts("/v/b.mp4") == 0 and not (tmp_path / LEDGER_FILE).exists()
    (tmp_path / LEDGER_FILE).write_text("{not json")
    assert CrashLedger(tmp_path).attempts("/v/b.mp4") == 0
