"""The Library API: adds, replacement, removal, relinks, failures, settings, lookups, encoder binding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.encoders.registry import EncoderIdentity
from indexer.library import EncoderMismatchError, Library, LibraryBusyError, LibraryError, NewVideo

DIM = 16
IDENTITY = EncoderIdentity(spec="tiny", name="tiny", model_id="tiny-random-v1", dim=DIM, clip_seconds=2.0)


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def new_video(name: str, n: int) -> NewVideo:
    return NewVideo(path=f"/videos/{name}", size=1000 + n, mtime=1.5, fingerprint=f"fp-{name}",
                    duration=2.0 * n, fps=25.0, width=64, height=48)


def times(n: int) -> np.ndarray:
    start = np.arange(n, dtype=np.float64) * 2.0
    return np.stack([start, start + 2.0], axis=1)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    lib = Library.create_or_open(tmp_path / "lib", IDENTITY)
    yield lib
    lib.close()


def test_add_search_and_locate_round_trip(library: Library) -> None:
    rng = np.random.default_rng(0)
    embeddings = {name: unit(rng, n) for name, n in [("a.mp4", 7), ("b.mp4", 3), ("c.mp4", 12)]}
    ids = {name: library.add_video(new_video(name, len(e)), e, times(len(e))) for name, e in embeddings.items()}

    target = embeddings["c.mp4"][9]
    scores, clip_ids = library.search_vectors(target[None], 5)
    assert scores.shape == (1, 5) and scores.dtype == np.float32 and clip_ids.dtype == np.int64
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(scores[0]) <= 1e-6)
    video_ids, clip_index = library.clip_locations(clip_ids[0])
    assert (video_ids[0], clip_index[0]) == (ids["c.mp4"], 9)

    # Inner products equal the brute-force ones over everything stored.
    everything = np.concatenate(list(embeddings.values()))
    assert np.allclose(scores[0], np.sort(everything @ target)[::-1][:5], atol=1e-5)

    stats = library.stats()
    assert (stats.videos_indexed, stats.clips, stats.vectors, stats.index_type) == (3, 22, 22, "flat")
    assert stats.run_in_progress  # this Library holds the writer lock


def test_more_k_than_clips_pads_with_minus_one(library: Library) -> None:
    rng = np.random.default_rng(1)
    library.add_video(new_video("x.mp4", 2), unit(rng, 2), times(2))
    scores, ids = library.search_vectors(unit(rng, 3), 4)
    assert ids.shape == (3, 4) and np.all(ids[:, 2:] == -1) and np.all(np.isneginf(scores[:, 2:]))
    video_ids, clip_index = library.clip_locations(np.array([-1, 999], dtype=np.int64))
    assert video_ids.tolist() == [-1, -1] and clip_index.tolist() == [-1, -1]


def test_clip_embeddings_spans_match_and_are_clipped(library: Library) -> None:
    rng = np.random.default_rng(2)
    a, b = unit(rng, 10), unit(rng, 4)
    va = library.add_video(new_video("a.mp4", 10), a, times(10))
    vb = library.add_video(new_video("b.mp4", 4), b, times(4))
    out = library.clip_embeddings([(va, 2, 5), (vb, 0, 4), (va, 8, 20), (va, 3, 4)])
    assert [x.shape for x in out] == [(3, DIM), (4, DIM), (2, DIM), (1, DIM)]
    # Served from the float16 vector cache: each component within float16 rounding of the stored value.
    f16 = dict(rtol=0, atol=2.0**-11)
    assert np.allclose(out[0], a[2:5], **f16) and np.allclose(out[1], b, **f16) and np.allclose(out[2], a[8:], **f16)
    assert out[0].dtype == np.float32
    with pytest.raises(LibraryError, match="no indexed video with id 999"):
        library.clip_embeddings([(999, 0, 1)])


def test_readding_a_path_replaces_its_clips_and_vectors(library: Library) -> None:
    rng = np.random.default_rng(3)
    old = unit(rng, 6)
    first = library.add_video(new_video("a.mp4", 6), old, times(6))
    new = unit(rng, 4)
    second = library.add_video(new_video("a.mp4", 4), new, times(4))
    assert second != first
    stats = library.stats()
    assert (stats.videos_indexed, stats.clips, stats.vectors) == (1, 4, 4)
    _, ids = library.search_vectors(old[0][None], 4)
    assert set(library.clip_locations(ids[0])[0].tolist()) == {second}
    with pytest.raises(LibraryError):
        library.video(first)


def test_remove_relink_and_failures(library: Library) -> None:
    rng = np.random.default_rng(4)
    keep = library.add_video(new_video("keep.mp4", 3), unit(rng, 3), times(3))
    gone = library.add_video(new_video("gone.mp4", 5), unit(rng, 5), times(5))
    library.remove_video(gone)
    library.relink_video(keep, "/videos/moved/keep.mp4", 1003, 9.0)
    library.record_failure("/videos/broken.mp4", 10, 2.0, "moov atom not found\nTraceback ...")
    library.record_failure("/videos/broken.mp4", 11, 3.0, "still broken")  # replaces, no duplicate

    stats = library.stats()
    assert (stats.videos_indexed, stats.videos_failed, stats.clips, stats.vectors) == (1, 1, 3, 3)
    assert stats.failures == [("/videos/broken.mp4", "still broken")]
    record = library.video(keep)
    assert (record.path, record.size, record.mtime, record.clip_count) == ("/videos/moved/keep.mp4", 1003, 9.0, 3)
    assert record.clip_seconds == 2.0 and record.fingerprint == "fp-keep.mp4"
    assert [v.path for v in library.videos(status=None)] == ["/videos/broken.mp4", "/videos/moved/keep.mp4"]
    assert [v.path for v in library.videos(status="failed")] == ["/videos/broken.mp4"]
    assert [v.path for v in library.videos(path_glob="*/moved/*")] == ["/videos/moved/keep.mp4"]
    with pytest.raises(LibraryError):
        library.remove_video(gone)

    # A failed file that later indexes replaces its failure row.
    library.add_video(new_video("broken.mp4", 2), unit(rng, 2), times(2))
    assert library.stats().videos_failed == 0


def test_settings_round_trip(library: Library) -> None:
    assert library.get_setting("grounding") is None
    library.set_setting("grounding", "/runs/sg")
    library.set_setting("grounding", "/runs/qd")
    assert library.get_setting("grounding") == "/runs/qd"
    library.set_setting("grounding", None)
    assert library.get_setting("grounding") is None


def test_bad_inputs_are_rejected(library: Library) -> None:
    with pytest.raises(ValueError, match="embeddings"):
        library.add_video(new_video("a.mp4", 3), np.ones((3, DIM - 1), np.float32), times(3))
    with pytest.raises(ValueError, match="finite"):
        library.add_video(new_video("a.mp4", 2), np.full((2, DIM), np.nan, np.float32), times(2))
    with pytest.raises(ValueError, match=r"\(Q, 16\)"):
        library.search_vectors(np.ones((1, 8), np.float32), 3)
    assert library.stats().videos_indexed == 0


def test_encoder_identity_is_persisted_and_enforced(tmp_path: Path) -> None:
    Library.create_or_open(tmp_path / "lib", IDENTITY).close()
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        assert lib.identity == IDENTITY
    other = EncoderIdentity(spec="clip", name="clip", model_id="openai/clip-vit-base-patch32", dim=512,
                            clip_seconds=2.0)
    with pytest.raises(EncoderMismatchError) as err:
        Library.create_or_open(tmp_path / "lib", other)
    message = str(err.value)
    assert "tiny-random-v1" in message and "openai/clip-vit-base-patch32" in message and "\n" not in message
    with pytest.raises(EncoderMismatchError, match="1 s clips"):
        Library.create_or_open(tmp_path / "lib", EncoderIdentity("tiny", "tiny", "tiny-random-v1", DIM, 1.0))


def test_readonly_open_of_missing_library_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no library at"):
        Library.open(tmp_path / "nothing", readonly=True)
    assert not (tmp_path / "nothing").exists()


def test_unbound_library_answers_empty(tmp_path: Path) -> None:
    with Library.open(tmp_path / "fresh") as lib:
        assert lib.identity is None
        stats = lib.stats()
        assert (stats.videos_indexed, stats.clips, stats.vectors, stats.index_type) == (0, 0, 0, None)
        scores, ids = lib.search_vectors(np.ones((2, 4), np.float32), 3)
        assert ids.shape == (2, 3) and np.all(ids == -1)


def test_second_writer_is_refused_but_reads_and_settings_work(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    with Library.create_or_open(tmp_path / "lib", IDENTITY) as writer:
        writer.add_video(new_video("a.mp4", 3), unit(rng, 3), times(3))
        with Library.open(tmp_path / "lib") as second:
            second.set_setting("grounding", "none")
            assert second.stats().vectors == 3
            with pytest.raises(LibraryBusyError, match="is indexing"):
                second.add_video(new_video("b.mp4", 2), unit(rng, 2), times(2))
        assert writer.get_setting("grounding") == "none"
