"""FAISS side of the store: size policy, IVF / IVF-PQ with re-ranking, background rebuilds, catch-up."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb
import numpy as np
import pytest

from benchmarks.synthetic_library import SyntheticConfig, SyntheticLibrary
from indexer import vector_index
from indexer.encoders.registry import EncoderIdentity
from indexer.library import Library, NewVideo
from indexer.vector_index import IndexPolicy, IndexSpec, IndexType
from indexer.vector_store import StoreConfig

DIM = 64
IDENTITY = EncoderIdentity(spec="tiny", name="tiny", model_id="tiny-random-v1", dim=DIM, clip_seconds=2.0)
SMALL = IndexPolicy(flat_max=600, pq_min=2500, min_nlist=16, max_nlist=64, train_points_per_list=16,
                    min_nprobe=16, pq_m=16, rerank_candidates=200)


def videos(n_clips: int, seed: int = 0) -> tuple[list[np.ndarray], SyntheticLibrary]:
    generator = SyntheticLibrary(SyntheticConfig(clips=n_clips, dim=DIM, topics=48, mean_clips_per_video=40,
                                                 seed=seed))
    return list(generator.videos()), generator


def fill(library: Library, clips: list[np.ndarray], start: int = 0, *, one_batch: bool = False) -> None:
    items = []
    for i, x in enumerate(clips, start):
        t = np.arange(len(x), dtype=np.float64) * 2.0
        items.append((NewVideo(f"/v/{i:05d}.mp4", len(x), 0.0, str(i), 2.0 * len(x), 25.0, 64, 48),
                      x, np.stack([t, t + 2.0], 1)))
    if one_batch:
        library.add_videos(items)
    else:
        for item in items:
            library.add_video(*item)


def exact_top(directory: Path, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    con = duckdb.connect(str(directory / "library.duckdb"), read_only=True)
    cols = con.execute("SELECT id, embedding FROM clips ORDER BY id").fetchnumpy()
    con.close()
    ids, table = cols["id"].astype(np.int64), np.stack(cols["embedding"])
    scores = queries @ table.T
    order = np.argsort(-scores, axis=1)[:, :k]
    return ids[order], np.take_along_axis(scores, order, 1), ids


def store_ids(library: Library) -> np.ndarray:
    store = library._vectors()
    assert store is not None and store.index is not None
    return np.sort(store.index.ids())


def test_policy_picks_type_by_size_and_retrains_on_growth() -> None:
    policy = IndexPolicy()
    assert policy.choose(10).type == IndexType.FLAT
    assert policy.choose(99_999).type == IndexType.FLAT
    ivf = policy.choose(1_000_000)
    assert ivf.type == IndexType.IVF_FLAT and ivf.nlist == 4096 and ivf.nlist & (ivf.nlist - 1) == 0
    pq = policy.choose(10_000_000)
    assert pq.type == IndexType.IVF_PQ and policy.min_nlist <= pq.nlist <= policy.max_nlist
    assert policy.nprobe(4096, 1_000_000) == 128                 # 1/32 of the lists
    assert policy.nprobe(1024, 100_000) == 256                   # small library: cover ~25k vectors
    assert policy.nprobe(16_384, 10_000_000) == policy.max_nprobe

    flat = IndexSpec(IndexType.FLAT, 0, 1000)
    assert not policy.needs_rebuild(flat, 90_000) and policy.needs_rebuild(flat, 100_000)
    trained = policy.choose(150_000)
    assert not policy.needs_rebuild(trained, 500_000)        # lists still short enough
    assert policy.needs_rebuild(trained, 700_000)            # grew more than 4x
    assert not policy.needs_rebuild(trained, 95_000)         # hysteresis: no flapping at the boundary
    assert policy.needs_rebuild(trained, 70_000)             # halved: back to exact


@pytest.mark.parametrize("kind", ["ivf_flat", "ivf_pq"])
def test_ivf_types_find_what_exact_search_finds(tmp_path: Path, kind: str) -> None:
    n = 1500 if kind == "ivf_flat" else 2600
    clips, generator = videos(n)
    config = StoreConfig(policy=SMALL, background_rebuild=False)
    with Library.create_or_open(tmp_path / "lib", IDENTITY, config=config) as lib:
        fill(lib, clips, one_batch=True)
        assert lib.stats().index_type == kind
        queries = generator.queries(30)
        scores, ids = lib.search_vectors(queries, 10)
        assert lib.stats().vectors == lib.stats().clips == n
    exact_ids, exact_scores, _ = exact_top(tmp_path / "lib", queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact_ids)])
    assert recall >= 0.9, recall
    # Scores are true inner products (IVF-PQ: re-ranked from the float16 copy, not PQ estimates).
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    hit = ids[:, 0] == exact_ids[:, 0]
    assert np.allclose(scores[hit, 0], exact_scores[hit, 0], atol=2e-3)

    # A reader process view of the same files gives the same answers.
    with Library.open(tmp_path / "lib", readonly=True) as reader:
        again_scores, again_ids = reader.search_vectors(queries, 10)
    assert np.array_equal(again_ids, ids) and np.allclose(again_scores, scores, atol=2e-3)


def test_pq_rerank_falls_back_to_duckdb_without_the_vector_cache(tmp_path: Path) -> None:
    clips, generator = videos(2600, seed=3)
    config = StoreConfig(policy=SMALL, background_rebuild=False)
    with Library.create_or_open(tmp_path / "lib", IDENTITY, config=config) as lib:
        fill(lib, clips, one_batch=True)
    queries = generator.queries(5)
    with Library.open(tmp_path / "lib", readonly=True, config=config) as reader:
        expected = reader.search_vectors(queries, 5)
    (tmp_path / "lib" / "vectors.f16").unlink()
    with Library.open(tmp_path / "lib", readonly=True, config=config) as reader:
        assert reader.stats().index_type == "ivf_pq"
        scores, ids = reader.search_vectors(queries, 5)
    assert np.array_equal(ids, expected[1]) and np.allclose(scores, expected[0], atol=2e-3)


def test_growth_past_threshold_rebuilds_in_background_without_blocking(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    clips, generator = videos(1200, seed=1)
    release, training = threading.Event(), threading.Event()
    real_train = vector_index.VectorIndex.train

    def slow_train(self: vector_index.VectorIndex, sample: np.ndarray) -> None:
        training.set()
        assert release.wait(30)
        real_train(self, sample)

    monkeypatch.setattr(vector_index.VectorIndex, "train", slow_train)
    config = StoreConfig(policy=SMALL, refresh_interval_s=0.0)
    with Library.create_or_open(tmp_path / "lib", IDENTITY, config=config) as writer:
        reader = Library.open(tmp_path / "lib", readonly=True, config=config)
        half = next(i for i in range(len(clips)) if sum(len(c) for c in clips[: i + 1]) >= SMALL.flat_max)
        fill(writer, clips[: half + 1])                 # crosses flat_max: training starts in a thread
        assert training.wait(30)
        fill(writer, clips[half + 1:], start=half + 1)  # adds go on while the new index trains
        queries = generator.queries(3)
        _, ids = writer.search_vectors(queries, 5)      # and searches too, on the old flat index
        assert writer.stats().index_type == "flat" and (ids >= 0).all()
        assert reader.stats().index_type == "flat"
        release.set()
        writer.wait_for_background_work()
        stats = writer.stats()
        assert stats.index_type == "ivf_flat" and stats.vectors == stats.clips == 1200
        writer.close()
        # The reader picks up the published IVF index and the rows added since it was built.
        reader_stats = reader.stats()
        assert reader_stats.index_type == "ivf_flat" and reader_stats.vectors == 1200
        assert np.array_equal(store_ids(reader), exact_top(tmp_path / "lib", queries, 1)[2])
        reader.close()


def test_stale_published_index_catches_up_without_rebuilding(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clips, _ = videos(900, seed=2)
    directory = tmp_path / "lib"
    snapshot = tmp_path / "snapshot"
    with Library.create_or_open(directory, IDENTITY) as lib:
        fill(lib, clips[:10])
    snapshot.mkdir()
    for path in directory.glob("vectors*"):
        shutil.copy(path, snapshot / path.name)
    with Library.create_or_open(directory, IDENTITY) as lib:
        fill(lib, clips[10:], start=10, one_batch=True)
        for video in lib.videos()[:5]:
            lib.remove_video(video.id)
        fill(lib, clips[:3])  # re-add some removed paths with new clip ids
    for path in directory.glob("vectors*"):
        path.unlink()
    for path in snapshot.iterdir():  # as if the writer died right after the first publish
        shutil.copy(path, directory / path.name)
    caplog.clear()
    with Library.open(directory, readonly=True) as reader:
        ids = store_ids(reader)
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert np.array_equal(ids, exact_top(directory, np.ones((1, DIM), np.float32), 1)[2])


def test_foreign_or_missing_index_files_are_rebuilt(tmp_path: Path) -> None:
    a, _ = videos(200, seed=4)
    b, _ = videos(300, seed=5)
    with Library.create_or_open(tmp_path / "a", IDENTITY) as lib:
        fill(lib, a, one_batch=True)
    with Library.create_or_open(tmp_path / "b", IDENTITY) as lib:
        fill(lib, b, one_batch=True)
    for path in (tmp_path / "b").glob("vectors*"):
        path.unlink()
    for path in (tmp_path / "a").glob("vectors*"):  # another library's index: uuid differs
        shutil.copy(path, tmp_path / "b" / path.name)
    with Library.open(tmp_path / "b", readonly=True) as lib:
        assert np.array_equal(store_ids(lib), exact_top(tmp_path / "b", np.ones((1, DIM), np.float32), 1)[2])
    for path in (tmp_path / "b").glob("vectors*"):
        path.unlink()
    with Library.open(tmp_path / "b") as lib:
        lib.rebuild_vectors()
        assert lib.stats().vectors == 300
    assert len(list((tmp_path / "b").glob("vectors-*.faiss"))) == 1
