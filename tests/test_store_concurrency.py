"""Two real processes: one adds videos while the other reads stats and searches, both succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from indexer.catalog_db import RetryPolicy
from indexer.encoders.registry import EncoderIdentity
from indexer.library import Library, LibraryBusyError
from indexer.vector_store import StoreConfig

REPO = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from pathlib import Path
    from indexer.encoders.registry import EncoderIdentity
    from indexer.library import Library, NewVideo
    from indexer.vector_store import StoreConfig
    directory = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    with Library.create_or_open(directory, EncoderIdentity("tiny", "tiny", "tiny-v1", 32, 2.0),
                                config=StoreConfig(persist_interval_s=0.2)) as lib:
        Path(sys.argv[2]).write_text("bound")
        while not Path(sys.argv[4]).exists():   # start writing once the reader is reading
            time.sleep(0.01)
        for i in range(24):
            n = int(rng.integers(5, 60))
            x = rng.normal(size=(n, 32)).astype(np.float32)
            t = np.stack([np.arange(n) * 2.0, np.arange(n) * 2.0 + 2.0], 1)
            lib.add_video(NewVideo(f"/v/{i}.mp4", n, 1.0, str(i), 2.0 * n, 25.0, 64, 48), x, t)
            if i % 10 == 9:
                lib.remove_video(lib.videos()[0].id)
            time.sleep(0.01)
    Path(sys.argv[3]).write_text("done")
""")

READER = textwrap.dedent("""
    import json, sys, time, numpy as np
    from pathlib import Path
    from indexer.library import Library
    from indexer.vector_store import StoreConfig
    directory, done, ready = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    rng = np.random.default_rng(1)
    reads, searches, seen, hits, lost = 0, 0, [], 0, 0
    with Library.open(directory, readonly=True, config=StoreConfig(refresh_interval_s=0.0)) as lib:
        lib.stats()
        ready.write_text("reading")
        while True:
            finished = done.exists()
            stats = lib.stats()
            reads += 1
            seen.append(stats.videos_indexed)
            q = rng.normal(size=(2, 32)).astype(np.float32)
            scores, ids = lib.search_vectors(q / np.linalg.norm(q, axis=1, keepdims=True), 5)
            videos, _ = lib.clip_locations(ids[ids >= 0])
            hits += len(videos)
            lost += int((videos < 0).sum())  # only a video removed between the two calls
            searches += 1
            if finished:
                break
        final = lib.stats()
    print(json.dumps({"reads": reads, "searches": searches, "max_seen": max(seen),
                      "distinct": len(set(seen)), "hits": hits, "lost": lost, "clips": final.clips, "vectors": final.vectors}))
""")


@pytest.mark.timeout(120)
def test_reader_process_works_while_writer_process_indexes(tmp_path: Path) -> None:
    directory, bound, done, ready = tmp_path / "lib", tmp_path / "bound", tmp_path / "done", tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(directory), str(bound), str(done), str(ready)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    while not bound.exists():
        assert writer.poll() is None, writer.communicate()[1][-2000:]
        time.sleep(0.01)
    reader = subprocess.run([sys.executable, "-c", READER, str(directory), str(done), str(ready)],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=100)
    _, writer_err = writer.communicate(timeout=100)
    assert writer.returncode == 0, writer_err[-2000:]
    assert reader.returncode == 0, reader.stderr[-2000:]
    report = json.loads(reader.stdout.strip().splitlines()[-1])
    assert report["searches"] >= 3
    assert report["hits"] > 0 and report["lost"] <= 0.1 * report["hits"]
    assert report["distinct"] >= 2, "the reader never saw the library change while it was being written"
    assert report["clips"] == report["vectors"] > 0

    with Library.open(directory, readonly=True) as lib:
        stats = lib.stats()
        assert stats.videos_indexed == 22 and stats.clips == stats.vectors
        assert not stats.run_in_progress


HOLDER = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])          # read-write: every other process is locked out
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


@pytest.mark.timeout(60)
def test_readers_retry_on_the_lock_then_fail_with_a_clear_message(tmp_path: Path) -> None:
    Library.create_or_open(tmp_path / "lib", EncoderIdentity("tiny", "tiny", "tiny-v1", 8, 2.0)).close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def hold(seconds: float) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "lib" / "library.duckdb"),
                                 str(seconds)], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        return proc

    holder = hold(1.0)  # released well within the retry budget: the reader just waits
    with Library.open(tmp_path / "lib", readonly=True, config=StoreConfig(retry=RetryPolicy(total_s=15))) as lib:
        assert lib.stats().videos_indexed == 0
    holder.wait(timeout=30)

    holder = hold(10.0)
    try:
        with pytest.raises(LibraryBusyError, match=r"is busy: another process kept it locked for 1 s; try again"):
            Library.open(tmp_path / "lib", readonly=True, config=StoreConfig(retry=RetryPolicy(total_s=0.6)))
    finally:
        holder.kill()
        holder.wait(timeout=30)
