"""Typed values that cross the store API (re-exported by :mod:`indexer.library`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NewVideo:
    """What the indexer knows about a file it has just encoded (seconds, pixels, bytes)."""

    path: str
    size: int
    mtime: float
    fingerprint: str
    duration: float
    fps: float
    width: int
    height: int


@dataclass(frozen=True)
class VideoRecord:
    """One row of the ``videos`` table; ``status`` is ``"indexed"`` or ``"failed"``."""

    id: int
    path: str
    size: int | None
    mtime: float | None
    fingerprint: str | None
    duration: float | None
    fps: float | None
    width: int | None
    height: int | None
    clip_count: int
    clip_seconds: float | None
    status: str
    error: str | None
    indexed_at: datetime


@dataclass(frozen=True)
class LibraryStats:
    """Counts for ``vsearch status``: ``clips`` are DuckDB rows, ``vectors`` the FAISS ``ntotal``."""

    library: str
    videos_indexed: int
    videos_failed: int
    clips: int
    vectors: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    index_type: str | None = None
    run_in_progress: bool = False


@dataclass(frozen=True)
class ClipMap:
    """Clip id -> (video id, clip index) from each indexed video's contiguous id block.

    Arrays are sorted by ``first_ids``: ``first_ids``, ``counts``, ``video_ids`` all ``(V,)`` int64.
    """

    first_ids: np.ndarray
    counts: np.ndarray
    video_ids: np.ndarray

    def locate(self, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``clip_ids (n,) int64 -> (video_ids (n,) int64, clip_index (n,) int64)``, -1 if unknown."""
        clip_ids = np.asarray(clip_ids, dtype=np.int64).reshape(-1)
        if len(self.first_ids) == 0:
            unknown = np.full(len(clip_ids), -1, np.int64)
            return unknown, unknown.copy()
        slot = np.searchsorted(self.first_ids, clip_ids, side="right") - 1
        safe = np.maximum(slot, 0)
        offset = clip_ids - self.first_ids[safe]
        valid = (slot >= 0) & (offset >= 0) & (offset < self.counts[safe])
        return (np.where(valid, self.video_ids[safe], -1).astype(np.int64),
                np.where(valid, offset, -1).astype(np.int64))


@dataclass(frozen=True)
class CatalogSnapshot:
    """The indexed videos as of one catalog state, kept in process between queries.

    ``stamp`` identifies the state (vector watermark + catalog change counter; None = never reuse);
    ``videos`` ordered by path; ``by_id`` the same records by video id (read-only);
    ``blocks`` video id -> (first clip id, clip count); ``clip_map`` locates clip ids.
    """

    stamp: Any
    videos: tuple[VideoRecord, ...]
    by_id: Mapping[int, VideoRecord]
    blocks: Mapping[int, tuple[int, int]]
    clip_map: ClipMap
