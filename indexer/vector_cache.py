"""Float16 copy of every clip embedding in clip-id order, for exact re-ranking of IVF-PQ candidates.

``vectors.f16`` is a headerless file of ``float16`` rows of ``dim`` values; row ``i`` holds clip id
``i`` (ids start at 1, row 0 is unused; rows of removed clips are left as garbage and never read
because FAISS no longer returns those ids). It is derived data: the writer appends a video's rows
after the video's DuckDB transaction commits, fsyncs before the FAISS state that vouches for them
is published, and rewrites rows from DuckDB when it catches up after a crash.

Rows are trusted only below ``trusted_rows`` (the ``next_clip_id`` watermark of the published
state); vectors of newer clips live in a small in-memory overflow filled by the catch-up, so a
reader never reads a row the writer may still be writing. Reading 1,000 random rows from the page
cache takes well under a millisecond; reading them from DuckDB would cost a file open per query.
A video's clips are one contiguous id block, so :meth:`read_range` serves the query engine's
grounding windows as plain slices of the map.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CACHE_FILE = "vectors.f16"


class VectorCache:
    """Random access to stored vectors by clip id: ``get(ids (n,) int64) -> (n, dim) float32``."""

    def __init__(self, directory: Path, dim: int, *, writable: bool) -> None:
        self.path = directory / CACHE_FILE
        self.dim = dim
        self.writable = writable
        self.row_bytes = dim * 2
        self.trusted_rows = 0
        self._map: np.memmap | None = None
        self._map_rows = 0
        self._extra_ids = np.empty(0, np.int64)
        self._extra = np.empty((0, dim), np.float32)
        self._fd: int | None = None

    def set_trusted(self, rows: int) -> None:
        """Rows below ``rows`` are complete on disk (after :meth:`flush` by the writer)."""
        self.trusted_rows = rows
        keep = self._extra_ids >= rows
        self._extra_ids, self._extra = self._extra_ids[keep], self._extra[keep]

    def write(self, first_id: int, vectors: np.ndarray) -> None:
        """Store float32 ``(n, dim)`` vectors as rows ``first_id .. first_id + n - 1``."""
        if not self.writable:
            raise RuntimeError("vector cache opened read-only")
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        data = np.ascontiguousarray(vectors, dtype=np.float16).tobytes()
        os.pwrite(self._fd, data, first_id * self.row_bytes)

    def add_overflow(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Keep float32 ``vectors`` of clips at or above the trusted watermark in memory."""
        keep = ids >= self.trusted_rows
        if keep.any():
            self._extra_ids = np.concatenate([self._extra_ids, ids[keep]])
            self._extra = np.concatenate([self._extra, vectors[keep].astype(np.float32)])
            order = np.argsort(self._extra_ids, kind="stable")
            self._extra_ids, self._extra = self._extra_ids[order], self._extra[order]

    def flush(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def rows_on_disk(self) -> int:
        try:
            return self.path.stat().st_size // self.row_bytes
        except FileNotFoundError:
            return 0

    def get(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids``: ``(vectors (n, dim) float32, found (n,) bool)``; missing rows are 0."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(ids), self.dim), np.float32)
        found = np.zeros(len(ids), bool)
        # The writer wrote every row itself (same page cache), so it trusts the whole file.
        limit = self.rows_on_disk() if self.writable else self.trusted_rows
        on_disk = (ids > 0) & (ids < limit)
        if on_disk.any():
            need = int(ids[on_disk].max()) + 1
            if self._map is None or self._map_rows < need:
                self._remap()
            on_disk &= ids < self._map_rows
            if self._map is not None and on_disk.any():
                out[on_disk] = self._map[ids[on_disk]]
                found[on_disk] = True
        if len(self._extra_ids):
            pos = np.searchsorted(self._extra_ids, ids)
            pos = np.minimum(pos, len(self._extra_ids) - 1)
            hit = (self._extra_ids[pos] == ids) & ~found
            out[hit] = self._extra[pos[hit]]
            found |= hit
        return out, found

    def read_range(self, first_id: int, end_id: int) -> np.ndarray | None:
        """Rows ``first_id <= id < end_id`` as float32 ``(end_id - first_id, dim)``, or None when
        any of them is not trusted yet (newer than the published watermark, or the file is short).

        Values are the float16-rounded embeddings: absolute error <= 2**-11 per component of an
        L2-normalised vector.
        """
        if end_id <= first_id:
            return np.empty((0, self.dim), np.float32)
        if first_id <= 0:
            return None
        limit = self.rows_on_disk() if self.writable else self.trusted_rows
        if end_id <= limit:
            if self._map is None or self._map_rows < end_id:
                self._remap()
            if self._map is not None and end_id <= self._map_rows:
                return np.array(self._map[first_id:end_id], dtype=np.float32)
            return None
        # Above the watermark only the reader's overflow (IVF-PQ catch-up) may hold the whole run.
        pos = int(np.searchsorted(self._extra_ids, first_id))
        n = end_id - first_id
        if pos + n <= len(self._extra_ids) and self._extra_ids[pos + n - 1] == end_id - 1 \
                and self._extra_ids[pos] == first_id:
            return self._extra[pos:pos + n].copy()
        return None

    def _remap(self) -> None:
        rows = self.rows_on_disk()
        self._map = np.memmap(self.path, np.float16, "r", shape=(rows, self.dim)) if rows else None
        self._map_rows = rows

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._map = None
        self._map_rows = 0
