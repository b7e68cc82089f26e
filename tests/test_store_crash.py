"""SIGKILL a real writer process at random moments: reopening always gives FAISS == DuckDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from indexer.library import Library
from indexer.vector_index import IndexPolicy
from indexer.vector_store import StoreConfig

REPO = Path(__file__).resolve().parents[1]
# Tiny thresholds so the writer also crosses flat -> IVF (a background rebuild) while being killed.
POLICY = IndexPolicy(flat_max=200, pq_min=10**9, min_nlist=8, train_points_per_list=8, retrain_growth=2.0)

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from indexer.encoders.registry import EncoderIdentity
    from indexer.library import Library, NewVideo
    from indexer.vector_index import IndexPolicy
    from indexer.vector_store import StoreConfig
    directory, seed = Path(sys.argv[1]), int(sys.argv[2])
    identity = EncoderIdentity("tiny", "tiny", "tiny-random-v1", 16, 2.0)
    config = StoreConfig(policy=IndexPolicy(flat_max=200, pq_min=10**9, min_nlist=8, train_points_per_list=8,
                                            retrain_growth=2.0), persist_interval_s=0.0)
    rng = np.random.default_rng(seed)
    with Library.create_or_open(directory, identity, config=config) as lib:
        for step in range(10_000):
            n = int(rng.integers(1, 30))
            x = rng.normal(size=(n, 16)).astype(np.float32)
            t = np.stack([np.arange(n) * 2.0, np.arange(n) * 2.0 + 2.0], 1)
            name = f"/v/{int(rng.integers(0, 40))}.mp4"   # often an existing path: replace
            lib.add_video(NewVideo(name, n, 1.0, name, 2.0 * n, 25.0, 64, 48), x, t)
            if step % 7 == 3:
                videos = lib.videos()
                lib.remove_video(videos[int(rng.integers(0, len(videos)))].id)
            print(step, flush=True)
""")


def consistency(directory: Path) -> tuple[int, int]:
    """Reopen as the writer and check FAISS ids == DuckDB clip ids; returns (clips, vectors)."""
    with Library.open(directory, config=StoreConfig(policy=POLICY)) as lib:
        store = lib._vectors()
        assert store is not None and store.index is not None
        faiss_ids = np.sort(store.index.ids())
        stats = lib.stats()
    con = duckdb.connect(str(directory / "library.duckdb"), read_only=True)
    db_ids = np.array([r[0] for r in con.execute("SELECT id FROM clips ORDER BY id").fetchall()], dtype=np.int64)
    blocks = con.execute("SELECT count(*) FROM videos v LEFT JOIN clips c ON c.video_id = v.id "
                         "WHERE v.status = 'indexed' AND c.id IS NULL AND v.clip_count > 0").fetchone()[0]
    orphans = con.execute("SELECT count(*) FROM clips c LEFT JOIN videos v ON v.id = c.video_id "
                          "WHERE v.id IS NULL").fetchone()[0]
    con.close()
    assert len(np.unique(faiss_ids)) == len(faiss_ids), "duplicate vectors in FAISS"
    assert np.array_equal(faiss_ids, db_ids), "FAISS ids differ from DuckDB clip ids"
    assert orphans == 0 and blocks == 0
    assert stats.clips == stats.vectors == len(db_ids)
    return stats.clips, stats.vectors


@pytest.mark.timeout(120)
def test_sigkill_at_random_moments_leaves_a_consistent_library(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "lib"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    rng = np.random.default_rng(0)
    seen_ivf = False
    for round_no in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(directory), str(round_no)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
        assert proc.stdout is not None
        target = int(rng.integers(5, 25))
        for line in proc.stdout:  # let it make some progress, then kill mid-flight
            if int(line) >= target:
                break
        time.sleep(float(rng.uniform(0, 0.05)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        caplog.clear()
        clips, _ = consistency(directory)
        assert clips > 0
        # Converged by replaying the watermark delta, not by the count-mismatch fallback rebuild.
        assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
        state = (directory / "vectors.json").read_text()
        seen_ivf |= "ivf_flat" in state
    assert seen_ivf, "the writer never crossed the flat -> IVF threshold"
