"""The library store: DuckDB catalog (truth) + FAISS vectors (derived), behind one small API.

Layout of a library directory: ``library.duckdb`` (catalog, see :mod:`indexer.catalog`),
``vectors.json`` + ``vectors-*.faiss`` + ``vectors.f16`` (see :mod:`indexer.vector_store`) and
``writer.lock`` (see :mod:`indexer.writer_lock`).

Concurrency: no DuckDB connection outlives one call; reads retry briefly while another process
holds the file. The indexed-video catalog is cached in process (:class:`CatalogSnapshot`) and
re-read only when the catalog's change counter moves, and grounding
windows are sliced from the memory-mapped ``vectors.f16``, so a query on an unchanged library
opens no DuckDB connection at all. A writable open takes the writer lock when it is free; without it the library can
still read and change settings but refuses vector writes.

Crash safety: ``add_videos`` commits a video row, its clip rows and the id counters in one DuckDB
transaction and only then touches FAISS, which any later open catches up from DuckDB.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text

from indexer import catalog as C
from indexer import catalog_writes as W
from indexer.catalog_db import DATABASE_FILE, CatalogDB, raw_connection
from indexer.encoders.registry import EncoderIdentity
from indexer.migrations import migrate, pending_migrations
from indexer.paths import resolve_library_dir
from indexer.records import CatalogSnapshot, ClipMap, LibraryStats, NewVideo, VideoRecord
from indexer.store_errors import EncoderMismatchError, LibraryBusyError, LibraryError
from indexer.vector_store import StoreConfig, VectorStore
from indexer.writer_lock import WriterLock, run_in_progress

__all__ = ["Library", "LibraryStats", "VideoRecord", "NewVideo", "LibraryError", "EncoderMismatchError",
           "LibraryBusyError", "StoreConfig", "CatalogSnapshot"]

VideoBatch = Sequence[tuple[NewVideo, np.ndarray, np.ndarray]]


def _describe(identity: EncoderIdentity) -> str:
    return f"{identity.name} ({identity.model_id}, dim {identity.dim}, {identity.clip_seconds:g} s clips)"


class Library:
    """A vsearch library directory. Use :meth:`open` / :meth:`create_or_open`; a context manager."""

    def __init__(self, directory: Path, db: CatalogDB, identity: EncoderIdentity | None, *,
                 readonly: bool, config: StoreConfig) -> None:
        self.directory = directory
        self.identity = identity
        self.readonly = readonly
        self._db = db
        self._config = config
        self._writer = WriterLock(directory)
        if not readonly:
            self._writer.try_acquire()
        self._store: VectorStore | None = None
        self._snapshot: CatalogSnapshot | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, directory: Path | None = None, *, readonly: bool = False,
             config: StoreConfig | None = None) -> "Library":
        """Open (writable: create and migrate if needed) the library at ``directory``."""
        directory = resolve_library_dir(directory)
        db_path = directory / DATABASE_FILE
        config = config or StoreConfig()
        if readonly:
            if not db_path.exists():
                raise LibraryError(f"no library at {directory} (index some videos first: vsearch index PATH)")
            db = CatalogDB(db_path, readonly=True, retry=config.retry)
            with db.read() as conn:
                if pending_migrations(conn):
                    raise LibraryError(f"library {directory} has an older schema; run `vsearch index` once to upgrade it")
                identity = W.read_identity(conn)
        else:
            if directory.exists() and not directory.is_dir():
                raise LibraryError(f"--library {directory} is a file, not a library directory")
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryError(f"cannot create library directory {directory}: {exc.strerror}") from exc
            db = CatalogDB(db_path, readonly=False, retry=config.retry)
            with db.write() as conn:
                migrate(conn)
                identity = W.read_identity(conn)
        return cls(directory, db, identity, readonly=readonly, config=config)

    @classmethod
    def create_or_open(cls, directory: Path | None, identity: EncoderIdentity, *,
                       config: StoreConfig | None = None) -> "Library":
        """Open writable and bind to ``identity``; another identity -> :class:`EncoderMismatchError`."""
        library = cls.open(directory, config=config)
        try:
            if library.identity is None:
                with library._db.write() as conn:
                    bound = W.read_identity(conn)
                    if bound is None:
                        W.bind_identity(conn, identity)
                        bound = identity
                library.identity = bound
            current = library.identity
            if (current.name, current.model_id, current.dim, float(current.clip_seconds)) != (
                    identity.name, identity.model_id, identity.dim, float(identity.clip_seconds)):
                raise EncoderMismatchError(
                    f"library {library.directory} is bound to encoder {_describe(current)}, "
                    f"not {_describe(identity)}; use that encoder or another --library"
                )
        except BaseException:
            library.close()
            raise
        return library

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._writer.release()
            self._db.dispose()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def db_opens(self) -> int:
        """DuckDB connections this Library has opened so far (benchmarks: opens per query)."""
        return self._db.opens

    # ----------------------------------------------------------------- vectors
    def _vectors(self) -> VectorStore | None:
        """The FAISS side, loaded (and caught up) on first use; None before an encoder is bound."""
        if self.identity is None:
            return None
        with self._lock:
            if self._store is None:
                store = VectorStore(self.directory, self._db, self.identity.dim,
                                    writer=self._writer.held, config=self._config)
                store.open()
                self._store = store
            return self._store

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` clips per query by inner product.

        ``queries`` float32 ``(Q, dim)`` L2-normalised -> ``(scores (Q, k) float32, clip_ids (Q, k)
        int64)``, best first; ``-1`` ids (score ``-inf``) when fewer than ``k`` clips exist.
        """
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        store = self._vectors()
        if store is None:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        if queries.ndim != 2 or queries.shape[1] != store.dim:
            raise ValueError(f"queries must be float32 (Q, {store.dim}), got {queries.shape}")
        return store.search(queries, k)

    def vector_search_params(self) -> dict[str, int | str]:
        """The FAISS index in use: ``{"index_type", "nlist", "nprobe", "vectors"}`` (empty before binding)."""
        store = self._vectors()
        if store is None or store.index is None:
            return {}
        return store.index.search_params()

    def clip_locations(self, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``clip_ids (n,) int64 -> (video_ids (n,) int64, clip_index (n,) int64)``; -1 for unknown ids."""
        return self.catalog().clip_map.locate(clip_ids)

    def clip_embeddings(self, spans: list[tuple[int, int, int]]) -> list[np.ndarray]:
        """Stored embeddings of ``(video_id, first_clip, end_clip_exclusive)`` spans.

        Returns one float32 ``(n_i, dim)`` array per span (clipped to the video's clips). Runs the
        vector cache vouches for are sliced from ``vectors.f16`` (float16-rounded: absolute error
        <= 2**-11 per component); the rest (clips newer than the published watermark, a lost
        cache file) are read exactly from DuckDB through one connection. Unknown video ->
        :class:`LibraryError`.
        """
        if not spans:
            return []
        snapshot = self.catalog()
        wanted = {int(v) for v, _, _ in spans}
        blocks: dict[int, tuple[int, int]] = {v: snapshot.blocks[v] for v in wanted if v in snapshot.blocks}
        if len(blocks) < len(wanted):  # indexed after the snapshot, or not at all: ask DuckDB
            with self._db.read() as conn:
                blocks.update({int(r[0]): (int(r[1] or 0), int(r[2])) for r in conn.execute(
                    select(C.videos.c.id, C.videos.c.first_clip_id, C.videos.c.clip_count)
                    .where(C.videos.c.id.in_(sorted(wanted - blocks.keys())), C.videos.c.status == "indexed"))})
            missing = sorted(wanted - blocks.keys())
            if missing:
                raise LibraryError(f"no indexed video with id {missing[0]}")
        ranges = []
        for video_id, first, end in spans:
            base, count = blocks[int(video_id)]
            lo, hi = base + max(int(first), 0), base + min(int(end), count)
            ranges.append((lo, max(hi, lo)))
        store = self._store
        out = [store.cached_rows(lo, hi) if store is not None else None for lo, hi in ranges]
        behind = [i for i, rows in enumerate(out) if rows is None]
        if behind:
            for i, rows in zip(behind, self._read_ranges([ranges[i] for i in behind])):
                out[i] = rows
        return out  # type: ignore[return-value]

    def _read_ranges(self, ranges: list[tuple[int, int]]) -> list[np.ndarray]:
        """Exact float32 ``(hi - lo, dim)`` embeddings of clip-id ranges, one DuckDB round trip."""
        dim = self.identity.dim if self.identity else 0
        where = " OR ".join(f"(id >= {lo} AND id < {hi})" for lo, hi in ranges if hi > lo) or "FALSE"
        with self._db.read() as conn:
            cols = raw_connection(conn).execute(
                f"SELECT id, embedding FROM clips WHERE {where} ORDER BY id").fetchnumpy()
        ids = np.asarray(cols["id"], dtype=np.int64)
        table = np.stack(cols["embedding"]).astype(np.float32) if len(ids) else np.empty((0, dim), np.float32)
        return [table[np.searchsorted(ids, lo):np.searchsorted(ids, hi)] for lo, hi in ranges]

    def catalog(self, *, refresh: bool = False) -> CatalogSnapshot:
        """The indexed videos, re-read from DuckDB only when the catalog changed (or ``refresh``).

        The snapshot is keyed on the vector watermark and the catalog's change counter (bumped in
        every transaction that changes the ``videos`` table: adds, removals, relinks, failures);
        readers re-check them at most once per ``refresh_interval_s`` and only open DuckDB for
        that when its files changed. The same object is returned while
        nothing changed, so callers may key their own derived caches on its identity.
        """
        # A writer's own writes move its watermark; it must not load FAISS just for this (bulk import).
        store = self._vectors() if self.readonly else self._store
        if store is not None:
            store.maybe_refresh()
        with self._lock:
            stamp = (store.watermark, store.catalog_seq) if store is not None and store.watermark else None
            if not refresh and self._snapshot is not None and stamp is not None and self._snapshot.stamp == stamp:
                return self._snapshot
            with self._db.read() as conn:
                rows = conn.execute(select(C.videos).where(C.videos.c.status == "indexed")
                                    .order_by(C.videos.c.path)).mappings().all()
            records = tuple(self._record(row) for row in rows)
            blocks = {int(r["id"]): (int(r["first_clip_id"]), int(r["clip_count"]))
                      for r in rows if r["first_clip_id"] is not None}
            cols = np.array(sorted((first, count, vid) for vid, (first, count) in blocks.items()),
                            dtype=np.int64).reshape(-1, 3)
            self._snapshot = CatalogSnapshot(
                stamp=stamp, videos=records, by_id=MappingProxyType({v.id: v for v in records}),
                blocks=MappingProxyType(blocks), clip_map=ClipMap(cols[:, 0], cols[:, 1], cols[:, 2]),
            )
            return self._snapshot

    # ----------------------------------------------------------------- catalog reads
    def stats(self) -> LibraryStats:
        store = self._vectors()
        if store is not None:
            store.maybe_refresh()
        with self._db.read() as conn:
            counts = dict(conn.execute(select(C.videos.c.status, func.count()).group_by(C.videos.c.status)).all())
            clips = int(conn.execute(text("SELECT count(*) FROM clips")).scalar_one()) if self.identity else 0
            failures = [(r[0], r[1] or "") for r in conn.execute(
                select(C.videos.c.path, C.videos.c.error).where(C.videos.c.status == "failed")
                .order_by(C.videos.c.path))]
        return LibraryStats(
            library=str(self.directory), videos_indexed=int(counts.get("indexed", 0)),
            videos_failed=int(counts.get("failed", 0)), clips=clips,
            vectors=store.ntotal if store is not None else 0, failures=failures,
            index_type=store.index.spec.type.value if store is not None and store.index is not None else None,
            run_in_progress=run_in_progress(self.directory),
        )

    def videos(self, *, status: str | None = "indexed", path_glob: str | None = None) -> list[VideoRecord]:
        """Videos ordered by path; ``status`` None = all; ``path_glob`` uses shell-style ``*``/``?``.
        ``videos()`` (indexed, no glob) is served from :meth:`catalog`."""
        if status == "indexed" and not path_glob:
            return list(self.catalog().videos)
        query = select(C.videos).order_by(C.videos.c.path)
        if status is not None:
            query = query.where(C.videos.c.status == status)
        if path_glob:
            query = query.where(C.videos.c.path.op("GLOB")(path_glob))
        with self._db.read() as conn:
            return [self._record(row) for row in conn.execute(query).mappings()]

    def video(self, video_id: int) -> VideoRecord:
        with self._db.read() as conn:
            row = conn.execute(select(C.videos).where(C.videos.c.id == int(video_id))).mappings().first()
        if row is None:
            raise LibraryError(f"no video with id {video_id}")
        return self._record(row)

    def _record(self, row: Any) -> VideoRecord:
        return VideoRecord(
            id=int(row["id"]), path=row["path"], size=row["size"], mtime=row["mtime"],
            fingerprint=row["fingerprint"], duration=row["duration"], fps=row["fps"], width=row["width"],
            height=row["height"], clip_count=int(row["clip_count"]),
            clip_seconds=self.identity.clip_seconds if self.identity else None, status=row["status"],
            error=row["error"], indexed_at=row["updated_at"],
        )

    def get_setting(self, key: str) -> str | None:
        with self._db.read() as conn:
            return conn.execute(select(C.settings.c.value).where(C.settings.c.key == key)).scalar_one_or_none()

    def set_setting(self, key: str, value: str | None) -> None:
        """Store a setting (``None`` deletes it); works while another process indexes."""
        with self._db.write() as conn:
            conn.execute(delete(C.settings).where(C.settings.c.key == key))
            if value is not None:
                conn.execute(C.settings.insert().values(key=key, value=value))

    # ----------------------------------------------------------------- writes (indexer)
    def _require_writer(self, *, load_vectors: bool = True) -> VectorStore | None:
        """Take the writer lock (or fail) and return the vector store to keep in step."""
        if self.readonly:
            raise LibraryError(f"library {self.directory} was opened read-only")
        if not self._writer.held and not self._writer.try_acquire():
            pid = self._writer.holder_pid()
            raise LibraryBusyError(f"another process{f' (pid {pid})' if pid else ''} is indexing {self.directory}")
        if self._store is not None and not self._store.writer:
            self._store.close()  # loaded before the lock was ours: reopen as the writer
            self._store = None
        return self._vectors() if load_vectors else self._store

    def add_video(self, video: NewVideo, embeddings: np.ndarray, clip_times: np.ndarray) -> int:
        """Add (or replace, by path) one video with float32 ``(n, dim)`` embeddings and float
        ``(n, 2)`` clip ``[start, end)`` seconds; rows and vectors become visible together."""
        return self.add_videos([(video, embeddings, clip_times)])[0]

    def add_videos(self, batch: VideoBatch, *, defer_vectors: bool = False) -> list[int]:
        """:meth:`add_video` for many videos in one transaction. ``defer_vectors`` (bulk import):
        leave FAISS behind; the next open or :meth:`rebuild_vectors` catches it up."""
        if self.identity is None:
            raise LibraryError("library is not bound to an encoder (use Library.create_or_open)")
        dim = self.identity.dim
        paths = [video.path for video, _, _ in batch]
        if len(set(paths)) != len(paths):
            raise ValueError("add_videos: a batch must not name the same path twice")
        prepared = []
        for video, embeddings, clip_times in batch:
            emb = np.asarray(embeddings, dtype=np.float32)
            times = np.asarray(clip_times, dtype=np.float64)
            if emb.size == 0:
                emb = emb.reshape(0, dim)
            if times.size == 0:
                times = times.reshape(0, 2)
            if (emb.ndim != 2 or emb.shape[1] != dim or times.shape != (len(emb), 2)
                    or not np.isfinite(emb).all() or not np.isfinite(times).all()):
                raise ValueError(f"{video.path}: need finite ({len(times)}, {dim}) embeddings and "
                                 f"({len(times)}, 2) clip times, got {emb.shape} and {times.shape}")
            norms = np.linalg.norm(emb, axis=1, keepdims=True)
            prepared.append((video, emb / np.where(norms > 0, norms, 1), times))
        with self._lock:
            self._require_writer(load_vectors=not defer_vectors)
            with self._db.write() as conn:
                ids, changes = W.insert_videos(conn, prepared, self.identity.name)
            self._snapshot = None
            if not defer_vectors:
                self._replay(changes)
            return ids

    def remove_video(self, video_id: int) -> None:
        """Delete a video, its clips and their vectors (atomically for the catalog)."""
        with self._lock:
            self._require_writer()
            with self._db.write() as conn:
                changes = W.delete_video(conn, int(video_id))
            self._replay(changes)

    def relink_video(self, video_id: int, path: str, size: int, mtime: float) -> None:
        """A moved/renamed file with the same fingerprint: new path, same clips and vectors."""
        with self._lock:
            self._require_writer()
            with self._db.write() as conn:
                changes = W.relink_video(conn, int(video_id), path, size, mtime)
            self._replay(changes)

    def record_failure(self, path: str, size: int | None, mtime: float | None, error: str) -> None:
        """Mark ``path`` failed with a one-line reason (replacing any earlier row of that path)."""
        reason = (error.strip().splitlines() or ["unknown error"])[0][:500]
        with self._lock:
            self._require_writer()
            with self._db.write() as conn:
                changes = W.insert_failure(conn, path, size, mtime, reason,
                                           self.identity.name if self.identity else None)
            self._replay(changes)

    def _replay(self, changes: list[W.VectorChange]) -> None:
        """Apply committed catalog changes to FAISS, in commit order (and drop this process's
        catalog snapshot: a writer does not re-read the change counter)."""
        self._snapshot = None
        store = self._store
        if store is None:
            return
        for change in changes:
            if change.kind == "removed":
                store.removed(change.first_id, change.end_id, change.token)
            else:
                assert change.vectors is not None
                store.added(change.first_id, change.vectors, change.token)

    def rebuild_vectors(self) -> None:
        """Rebuild the FAISS index (type chosen by size) from DuckDB and publish it."""
        with self._lock:
            if self.identity is None:
                return
            self._require_writer(load_vectors=False)
            if self._store is None:
                self._store = VectorStore(self.directory, self._db, self.identity.dim, writer=True,
                                          config=self._config)
            self._store.rebuild(sync=True)
            self._store.persist()

    def wait_for_background_work(self) -> None:
        """Block until a background index rebuild (if any) has been swapped in."""
        if self._store is not None:
            self._store.wait_for_rebuild()
