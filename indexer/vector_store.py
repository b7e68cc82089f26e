"""The FAISS side of the library: a derived index kept in step with DuckDB through a watermark.

Published state (writer only, all files in the library directory):

``vectors-<id>.faiss``  the serialised index (written to a temp name, fsynced, renamed).
``vectors.json``        ``{"file", "spec", "dim", "watermark"}`` replaced atomically after the index
                        file it names is durable; the old index file is deleted afterwards.
``vectors.f16``         :class:`~indexer.vector_cache.VectorCache` rows (fsynced before publishing).

The watermark says which DuckDB state the file reflects: the library's uuid, ``next_clip_id``
(every clip id below it was considered) and ``tombstone_seq`` (every removal up to it applied).
Clip ids are never reused, so catching up is: remove the id blocks of newer tombstones, add the
rows with ``id >= next_clip_id``. Any process catches up in memory when it opens the library and,
throttled, before searches; a count check against DuckDB falls back to a full rebuild. A reader
only opens DuckDB to catch up when the database files changed on disk (size or mtime of
``library.duckdb`` and its WAL), so a query on an idle library opens no connection at all. After a
SIGKILL at any moment the DuckDB rows are the truth and the next open converges to them.

Rebuilds (type change or IVF retraining as the library grows) run in a background thread of the
writer; searches and adds keep using the current index until the new one is swapped in.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, text

from indexer.catalog import META_CATALOG_SEQ
from indexer.catalog_db import CatalogDB, RetryPolicy, raw_connection
from indexer.vector_cache import VectorCache
from indexer.vector_index import IndexPolicy, IndexSpec, IndexType, VectorIndex

log = logging.getLogger(__name__)

STATE_FILE = "vectors.json"


@dataclass(frozen=True)
class Watermark:
    """The DuckDB state an index reflects (see module docstring)."""

    library_uuid: str
    next_clip_id: int
    tombstone_seq: int


@dataclass(frozen=True)
class StoreConfig:
    """Store behaviour (index policy, publish/refresh intervals, DuckDB lock retries); tests
    shrink the thresholds and intervals."""

    policy: IndexPolicy = IndexPolicy()
    persist_interval_s: float = 30.0
    refresh_interval_s: float = 1.0
    chunk_rows: int = 50_000
    background_rebuild: bool = True
    retry: RetryPolicy = RetryPolicy()


def read_token(conn: Connection) -> tuple[Watermark, int]:
    """Current DuckDB watermark and clip row count, read on ``conn``."""
    meta = dict(conn.execute(text(
        "SELECT key, value FROM library_meta WHERE key IN ('library_uuid', 'next_clip_id', 'tombstone_seq')"
    )).all())
    count = int(conn.execute(text("SELECT count(*) FROM clips")).scalar_one())
    return Watermark(meta["library_uuid"], int(meta["next_clip_id"]), int(meta["tombstone_seq"])), count


def read_catalog_seq(conn: Connection) -> int:
    """How many changes of the ``videos`` table were committed (0 before the first)."""
    value = conn.execute(text("SELECT value FROM library_meta WHERE key = :k"),
                         {"k": META_CATALOG_SEQ}).scalar_one_or_none()
    return int(value or 0)


def database_stamp(db_path: Path) -> tuple[tuple[int, int], ...]:
    """``(size, mtime_ns)`` of the DuckDB file and its WAL ((-1, -1) when absent).

    Every commit appends to the WAL or, at a checkpoint, rewrites the database file, so an
    unchanged stamp means no transaction committed since it was taken.
    """
    stamp = []
    for path in (db_path, db_path.with_name(db_path.name + ".wal")):
        try:
            st = path.stat()
            stamp.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            stamp.append((-1, -1))
    return tuple(stamp)


def fetch_vectors(conn: Connection, first_id: int, end_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with ``first_id <= id < end_id``: ``(ids (n,) int64, vectors (n, dim) float32)``."""
    cols = raw_connection(conn).execute(
        "SELECT id, embedding FROM clips WHERE id >= ? AND id < ? ORDER BY id", [first_id, end_id]
    ).fetchnumpy()
    ids = np.asarray(cols["id"], dtype=np.int64)
    if len(ids) == 0:
        return ids, np.empty((0, 0), np.float32)
    return ids, np.stack(cols["embedding"]).astype(np.float32, copy=False)


def fetch_vectors_by_ids(conn: Connection, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the given clip ids, id-sorted: ``(ids (n,) int64, vectors (n, dim) float32)``."""
    wanted = np.unique(np.asarray(ids, dtype=np.int64)).tolist()
    cols = raw_connection(conn).execute(
        "SELECT id, embedding FROM clips WHERE id IN (SELECT unnest(?::BIGINT[])) ORDER BY id", [wanted]
    ).fetchnumpy()
    found = np.asarray(cols["id"], dtype=np.int64)
    if len(found) == 0:
        return found, np.empty((0, 0), np.float32)
    return found, np.stack(cols["embedding"]).astype(np.float32, copy=False)


class VectorStore:
    """FAISS index + float16 cache of one library, caught up from DuckDB.

    ``search(queries (Q, dim) float32, k) -> (scores (Q, k) float32, ids (Q, k) int64)``; ids are
    clip ids, ``-1`` where fewer than ``k`` clips exist.
    """

    def __init__(self, directory: Path, db: CatalogDB, dim: int, *, writer: bool, config: StoreConfig) -> None:
        self.directory = directory
        self.db = db
        self.dim = dim
        self.writer = writer
        self.config = config
        self.cache = VectorCache(directory, dim, writable=writer)
        self.index: VectorIndex | None = None
        self.watermark: Watermark | None = None
        self.catalog_seq = 0   # catalog changes seen at the last catch-up (see read_catalog_seq)
        self._db_stamp: tuple[tuple[int, int], ...] | None = None
        self._lock = threading.RLock()
        self._state_mtime = 0.0
        self._last_refresh = 0.0
        self._last_persist = time.monotonic()
        self._persist_cost_s = 0.0
        self._dirty = False
        self._builder: threading.Thread | None = None
        self._builder_error: BaseException | None = None
        self._publish_lock = threading.Lock()

    # ----------------------------------------------------------------- open / catch up
    def open(self) -> None:
        """Load the published index if it matches this library, then catch up from DuckDB."""
        loaded = self._load_published()
        stamp = database_stamp(self.db.path)
        with self.db.read() as conn:
            token, _ = read_token(conn)
        if not loaded or self.watermark is None or self.watermark.library_uuid != token.library_uuid:
            self.rebuild(sync=True)
        else:
            self.catch_up()
        self._db_stamp = stamp

    def _load_published(self) -> bool:
        state_path = self.directory / STATE_FILE
        for _ in range(3):  # the writer may replace the file between reading the state and opening it
            try:
                state = json.loads(state_path.read_text())
                if int(state["dim"]) != self.dim:
                    return False
                spec = IndexSpec(IndexType(state["spec"]["type"]), int(state["spec"]["nlist"]),
                                 int(state["spec"]["trained_for"]))
                index_path = self.directory / state["file"]
                try:
                    index = VectorIndex.load(index_path, spec, self.config.policy)
                except RuntimeError:  # FAISS reports a missing file as RuntimeError
                    if index_path.exists():
                        raise
                    continue  # replaced by a newer publish in the meantime: read the state again
            except FileNotFoundError:
                if not state_path.exists():
                    return False
                continue
            except (ValueError, KeyError, RuntimeError) as exc:
                log.warning("ignoring unreadable vector index state (%s); rebuilding from DuckDB", exc)
                return False
            with self._lock:
                self.index = index
                self.watermark = Watermark(**state["watermark"])
                self.cache.set_trusted(self.watermark.next_clip_id)
                self._state_mtime = state_path.stat().st_mtime
            return True
        return False

    def catch_up(self) -> bool:
        """Apply DuckDB changes newer than the watermark; returns True when something changed."""
        with self._lock:
            assert self.index is not None and self.watermark is not None
            with self.db.read() as conn:
                token, count = read_token(conn)
                self.catalog_seq = read_catalog_seq(conn)
                if token == self.watermark:
                    consistent = self.index.ntotal == count
                    changed = False
                else:
                    changed = True
                    self._apply_delta(conn, self.index, self.watermark, token)
                    self.watermark = token
                    self._dirty = True
                    consistent = self.index.ntotal == count
            if not consistent:
                log.warning("FAISS holds %d vectors but DuckDB %d clips; rebuilding", self.index.ntotal, count)
                self.rebuild(sync=True)
                return True
            return changed

    def _apply_delta(self, conn: Connection, index: VectorIndex, since: Watermark, token: Watermark) -> None:
        ranges = [(int(a), int(b)) for a, b in conn.execute(
            text("SELECT first_id, end_id FROM clip_tombstones WHERE seq > :s AND seq <= :t ORDER BY seq"),
            {"s": since.tombstone_seq, "t": token.tombstone_seq},
        )]
        index.remove_ranges(ranges)
        step = self.config.chunk_rows
        for first in range(since.next_clip_id, token.next_clip_id, step):
            ids, vectors = fetch_vectors(conn, first, min(first + step, token.next_clip_id))
            if len(ids) == 0:
                continue
            index.add(ids, vectors)
            self._remember(ids, vectors)

    def _remember(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Put vectors into the cache file (writer) or the in-memory overflow (reader)."""
        if self.writer:
            # Rows of one chunk are id-sorted; write each contiguous run in one call.
            breaks = np.flatnonzero(np.diff(ids) != 1) + 1
            for run_ids, run in zip(np.split(ids, breaks), np.split(vectors, breaks)):
                self.cache.write(int(run_ids[0]), run)
        elif self.index is not None and self.index.spec.type == IndexType.IVF_PQ:
            self.cache.add_overflow(ids, vectors)

    def maybe_refresh(self) -> None:
        """Reader side: pick up a swapped-in index file and DuckDB changes, at most once per interval."""
        now = time.monotonic()
        if self.writer or now - self._last_refresh < self.config.refresh_interval_s:
            return
        self._last_refresh = now
        try:
            mtime = (self.directory / STATE_FILE).stat().st_mtime
        except FileNotFoundError:
            mtime = self._state_mtime
        if mtime != self._state_mtime:
            self._state_mtime = mtime
            state = json.loads((self.directory / STATE_FILE).read_text())
            if self.index is not None and state["spec"]["type"] != self.index.spec.type.value:
                self._load_published()
            elif self.watermark is not None and state["watermark"]["library_uuid"] == self.watermark.library_uuid:
                # the writer made more cache rows durable: the overflow below them can go
                self.cache.set_trusted(max(self.cache.trusted_rows, int(state["watermark"]["next_clip_id"])))
        # Stamp before reading: a commit landing during the catch-up changes the next stamp.
        stamp = database_stamp(self.db.path)
        if stamp != self._db_stamp:
            self.catch_up()
            self._db_stamp = stamp

    # ----------------------------------------------------------------- writer updates
    def added(self, first_id: int, vectors: np.ndarray, token: Watermark) -> None:
        """Writer: clips ``first_id ..`` were committed, moving DuckDB to ``token``."""
        with self._lock:
            assert self.index is not None and self.watermark is not None
            if (self.watermark.next_clip_id >= token.next_clip_id
                    and self.watermark.tombstone_seq >= token.tombstone_seq):
                return  # a rebuild or catch-up already read these rows from DuckDB
            if self.watermark.next_clip_id != first_id or self.watermark.tombstone_seq != token.tombstone_seq:
                self.catch_up()
                return
            ids = np.arange(first_id, first_id + len(vectors), dtype=np.int64)
            self.cache.write(first_id, vectors)
            self.index.add(ids, vectors)
            self.watermark = token
            self._dirty = True
        self._after_write()

    def removed(self, first_id: int, end_id: int, token: Watermark) -> None:
        """Writer: clip ids ``[first_id, end_id)`` were deleted, moving DuckDB to ``token``."""
        with self._lock:
            assert self.index is not None and self.watermark is not None
            if (self.watermark.next_clip_id >= token.next_clip_id
                    and self.watermark.tombstone_seq >= token.tombstone_seq):
                return
            if (self.watermark.tombstone_seq + 1 != token.tombstone_seq
                    or self.watermark.next_clip_id != token.next_clip_id):
                self.catch_up()
                return
            self.index.remove_ranges([(first_id, end_id)])
            self.watermark = token
            self._dirty = True
        self._after_write()

    def _after_write(self) -> None:
        if self._builder_error is not None:
            error, self._builder_error = self._builder_error, None
            raise RuntimeError(f"background index rebuild failed: {error}") from error
        assert self.index is not None
        if self._builder is None and self.config.policy.needs_rebuild(self.index.spec, self.index.ntotal):
            self.rebuild(sync=not self.config.background_rebuild)
        interval = max(self.config.persist_interval_s, 20 * self._persist_cost_s)
        if self._dirty and time.monotonic() - self._last_persist >= interval:
            self.persist()

    # ----------------------------------------------------------------- build / rebuild
    def rebuild(self, *, sync: bool) -> None:
        """Build the index the policy wants from DuckDB and swap it in (``sync=False``: in a thread)."""
        if sync:
            self._build_and_swap()
            return
        if self._builder is not None and self._builder.is_alive():
            return

        def run() -> None:
            try:
                self._build_and_swap()
            except BaseException as exc:  # surfaced on the next write
                log.exception("background index rebuild failed")
                self._builder_error = exc
            finally:
                self._builder = None

        self._builder = threading.Thread(target=run, name="vsearch-index-rebuild", daemon=True)
        self._builder.start()

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def _build_and_swap(self) -> None:
        with self.db.read() as conn:
            token, count = read_token(conn)
        spec = self.config.policy.choose(count)
        index = VectorIndex.create(spec, self.dim, self.config.policy)
        if spec.type != IndexType.FLAT:
            with self.db.read() as conn:
                sample = raw_connection(conn).execute(
                    f"SELECT embedding FROM clips USING SAMPLE reservoir({self.config.policy.train_size(spec)} ROWS)"
                    " REPEATABLE (7)"
                ).fetchnumpy()["embedding"]
            index.train(np.stack(sample).astype(np.float32))
        # Bulk copy in chunks, each with its own short connection so other processes get turns.
        # Tombstones up to token.tombstone_seq are already reflected in the rows read afterwards.
        step = self.config.chunk_rows
        for first in range(1, token.next_clip_id, step):
            with self.db.read() as conn:
                ids, vectors = fetch_vectors(conn, first, min(first + step, token.next_clip_id))
            if len(ids):
                index.add(ids, vectors)
                if self.writer:
                    self._remember(ids, vectors)
        built_at = token
        if self.writer:
            self.cache.flush()
            self._publish(index, built_at)
        else:  # the cache file was not vouched for by this build (e.g. another library's leftovers)
            self.cache.set_trusted(0)
        with self._lock:
            with self.db.read() as conn:
                now, _ = read_token(conn)
                if now != built_at:
                    self._apply_delta(conn, index, built_at, now)
            self.index, self.watermark = index, now
            self._dirty = now != built_at

    # ----------------------------------------------------------------- persistence
    def persist(self) -> None:
        """Writer: publish the current index and watermark atomically (no-op when already published)."""
        if not self.writer or not self._dirty:
            return
        with self._lock:
            assert self.index is not None and self.watermark is not None
            started = time.monotonic()
            self.cache.flush()
            self._publish(self.index, self.watermark)
            self._dirty = False
            self._last_persist = time.monotonic()
            self._persist_cost_s = self._last_persist - started

    def _publish(self, index: VectorIndex, watermark: Watermark) -> None:
        with self._publish_lock:
            self._publish_locked(index, watermark)

    def _publish_locked(self, index: VectorIndex, watermark: Watermark) -> None:
        name = f"vectors-{uuid.uuid4().hex[:12]}.faiss"
        tmp = self.directory / f".{name}.tmp"
        index.save(tmp)
        _fsync(tmp)
        os.replace(tmp, self.directory / name)
        state = {"file": name, "dim": self.dim, "watermark": asdict(watermark),
                 "spec": {"type": index.spec.type.value, "nlist": index.spec.nlist,
                          "trained_for": index.spec.trained_for}}
        state_tmp = self.directory / f".{STATE_FILE}.{os.getpid()}.tmp"
        state_tmp.write_text(json.dumps(state))
        _fsync(state_tmp)
        os.replace(state_tmp, self.directory / STATE_FILE)
        _fsync(self.directory)
        self.cache.set_trusted(max(self.cache.trusted_rows, watermark.next_clip_id))
        self._state_mtime = (self.directory / STATE_FILE).stat().st_mtime
        self.remove_stale_files(keep=name)

    def remove_stale_files(self, keep: str) -> None:
        for path in self.directory.glob("vectors-*.faiss"):
            if path.name != keep:
                path.unlink(missing_ok=True)
        for path in self.directory.glob(".vectors-*.faiss.tmp"):
            path.unlink(missing_ok=True)

    # ----------------------------------------------------------------- search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.maybe_refresh()
        with self._lock:
            assert self.index is not None
            if self.index.spec.type != IndexType.IVF_PQ:
                return self.index.search(queries, k)
            policy = self.config.policy
            candidates = max(int(policy.rerank_factor * k), policy.rerank_candidates, k)
            _, cand = self.index.search(queries, candidates)
            return self._rerank(queries, cand, k)

    def _rerank(self, queries: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products of the PQ candidates from the stored vectors; top ``k`` per query."""
        flat = cand.reshape(-1)
        vectors, found = self.cache.get(np.where(flat < 0, 0, flat))
        missing = ~found & (flat >= 0)
        if missing.any():  # cache file lost or behind: fall back to DuckDB for those rows
            with self.db.read() as conn:
                ids, rows = fetch_vectors_by_ids(conn, flat[missing])
            pos = np.flatnonzero(missing)
            where = np.searchsorted(ids, flat[pos])
            ok = where < len(ids)
            ok[ok] = ids[where[ok]] == flat[pos[ok]]
            vectors[pos[ok]] = rows[where[ok]]
        scores = np.einsum("qcd,qd->qc", vectors.reshape(*cand.shape, self.dim), queries.astype(np.float32))
        scores[cand < 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out_scores = np.take_along_axis(scores, top, 1).astype(np.float32)
        out_ids = np.take_along_axis(cand, top, 1)
        if out_ids.shape[1] < k:
            pad = k - out_ids.shape[1]
            out_scores = np.pad(out_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            out_ids = np.pad(out_ids, ((0, 0), (0, pad)), constant_values=-1)
        return out_scores, out_ids

    def cached_rows(self, first_id: int, end_id: int) -> np.ndarray | None:
        """Float32 ``(end_id - first_id, dim)`` vectors of a clip-id run from ``vectors.f16``, or
        None when the cache cannot vouch for all of them (the caller reads DuckDB instead)."""
        with self._lock:
            return self.cache.read_range(first_id, end_id)

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else self.index.ntotal

    def close(self) -> None:
        self.wait_for_rebuild()
        if self.writer and self._dirty:
            self.persist()
        self.cache.close()


def _fsync(path: Path) -> None:
    """fsync a file or a directory (so a rename inside it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
