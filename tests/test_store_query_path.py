"""The store's query path: a query on an unchanged library opens no DuckDB connection, the
catalog snapshot follows adds, removals and relinks, and grounding windows come from the float16
vector cache with an exact DuckDB fallback whenever the cache cannot vouch for a clip."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.encoders.registry import EncoderIdentity
from indexer.library import Library, LibraryError, NewVideo
from indexer.vector_cache import CACHE_FILE
from indexer.vector_store import StoreConfig

DIM = 16
IDENTITY = EncoderIdentity(spec="tiny", name="tiny", model_id="tiny-random-v1", dim=DIM, clip_seconds=2.0)
EAGER = StoreConfig(refresh_interval_s=0.0)  # readers re-check the library before every call
F16 = {"rtol": 0.0, "atol": 2.0**-11}


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add(lib: Library, name: str, vectors: np.ndarray) -> int:
    n = len(vectors)
    start = np.arange(n, dtype=np.float64) * 2.0
    video = NewVideo(path=f"/videos/{name}", size=100 + n, mtime=1.0, fingerprint=f"fp-{name}",
                     duration=2.0 * n, fps=25.0, width=64, height=48)
    return lib.add_video(video, vectors, np.stack([start, start + 2.0], axis=1))


class OpenCounter:
    """Counts the DuckDB connections a Library opens (wraps ``CatalogDB.read``)."""

    def __init__(self, lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opens = 0
        inner = lib._db.read

        @contextmanager
        def counted() -> Iterator[Any]:
            self.opens += 1
            with inner() as conn:
                yield conn

        monkeypatch.setattr(lib._db, "read", counted)


def query_once(lib: Library, rng: np.random.Generator) -> None:
    """What a query asks of the store: catalog, shortlist, locations, windows."""
    lib.videos(status="indexed")
    _, ids = lib.search_vectors(unit(rng, 1), 8)
    video_ids, clip_index = lib.clip_locations(ids[0])
    spans = [(int(v), max(int(c) - 2, 0), int(c) + 2) for v, c in zip(video_ids, clip_index) if v >= 0]
    assert lib.clip_embeddings(spans)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Library]:
    lib = Library.create_or_open(tmp_path / "lib", IDENTITY)
    rng = np.random.default_rng(0)
    for i in range(3):
        add(lib, f"v{i}.mp4", unit(rng, 12))
    lib._store.persist()  # publish: the cache rows below the watermark become trusted for readers
    yield lib
    lib.close()


def test_steady_state_queries_open_no_connection(writer: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    with Library.open(writer.directory, readonly=True, config=EAGER) as reader:
        query_once(reader, rng)  # first query loads FAISS and the catalog
        counter = OpenCounter(reader, monkeypatch)
        for _ in range(5):
            query_once(reader, rng)
        assert counter.opens == 0
        snapshot = reader.catalog()
        assert reader.catalog() is snapshot  # unchanged library: the same object (callers key caches on it)

        add(writer, "new.mp4", unit(rng, 5))  # a commit changes the database files: one catch-up
        assert {v.path for v in reader.videos()} >= {"/videos/new.mp4"}
        assert 1 <= counter.opens <= 2  # the catch-up read and the catalog re-read
        assert reader.catalog() is not snapshot


def test_snapshot_follows_removals_and_relinks(writer: Library) -> None:
    with Library.open(writer.directory, readonly=True, config=EAGER) as reader:
        before = {v.path: v.id for v in reader.videos()}
        writer.relink_video(before["/videos/v0.mp4"], "/moved/v0.mp4", 112, 2.0)
        writer.remove_video(before["/videos/v1.mp4"])
        assert [v.path for v in writer.videos()] == ["/moved/v0.mp4", "/videos/v2.mp4"]
        after = {v.path: v.id for v in reader.videos()}
        assert after == {"/moved/v0.mp4": before["/videos/v0.mp4"], "/videos/v2.mp4": before["/videos/v2.mp4"]}
        located, _ = reader.clip_locations(np.arange(1, 37, dtype=np.int64))
        assert before["/videos/v1.mp4"] not in located.tolist()
        with pytest.raises(LibraryError, match="no indexed video"):
            reader.clip_embeddings([(before["/videos/v1.mp4"], 0, 4)])

        # Neither a relink alone nor a video without clips moves the vector watermark.
        writer.relink_video(after["/moved/v0.mp4"], "/again/v0.mp4", 112, 3.0)
        assert "/again/v0.mp4" in {v.path for v in reader.videos()}
        add(writer, "still.mp4", np.empty((0, DIM), np.float32))
        assert "/videos/still.mp4" in {v.path for v in reader.videos()}
        assert "/videos/still.mp4" in {v.path for v in writer.videos()}


def test_windows_come_from_the_cache_and_unvouched_clips_from_duckdb(writer: Library) -> None:
    rng = np.random.default_rng(2)
    with Library.open(writer.directory, readonly=True, config=EAGER) as reader:
        first = reader.videos()[0]
        stored = writer._read_ranges([(reader.catalog().blocks[first.id][0],
                                       reader.catalog().blocks[first.id][0] + first.clip_count)])[0]
        cached = reader.clip_embeddings([(first.id, 0, first.clip_count)])[0]
        assert cached.dtype == np.float32 and cached.shape == (12, DIM)
        assert np.allclose(cached, stored, **F16) and not np.array_equal(cached, stored)  # float16 rows

        # Added after the last publish: above the reader's trusted watermark -> exact DuckDB rows.
        fresh = unit(rng, 7)
        vid = add(writer, "fresh.mp4", fresh)
        out = reader.clip_embeddings([(vid, 2, 6), (first.id, 0, 3)])
        np.testing.assert_allclose(out[0], fresh[2:6], rtol=0, atol=1e-6)  # float32 exact, not float16
        assert np.allclose(out[1], stored[:3], **F16)

        # A lost cache file: every window falls back to DuckDB, exactly.
        (writer.directory / CACHE_FILE).unlink()
        with Library.open(writer.directory, readonly=True, config=EAGER) as cold:
            np.testing.assert_array_equal(cold.clip_embeddings([(first.id, 0, first.clip_count)])[0], stored)
