"""FAISS index over clip embeddings, and the policy that picks its type by library size.

All index types search by inner product on L2-normalised float32 vectors and use the clip ids of
the catalog as FAISS ids, so a hit maps straight back to a ``clips`` row.

Policy (:class:`IndexPolicy`, sizes in clips):

==============  ==========================  ==================================================
size            type                        why
==============  ==========================  ==================================================
< 100k          ``flat`` (IDMap2 + FlatIP)  exact; one query scans <= 200 MB (5-30 ms here)
100k .. 3M      ``ivf_flat``                k-means coarse quantizer, nlist ~ 4 sqrt(N); only
                                            nlist/32 lists are scanned; full float32 kept so
                                            scores of scanned vectors are exact (4 B/dim/clip)
>= 3M           ``ivf_pq``                  product-quantised codes (``pq_m`` bytes per clip)
                                            so 10M clips fit in RAM; the top candidates are
                                            re-ranked exactly from the stored vectors
==============  ==========================  ==================================================

An IVF index is retrained when the library grows ``retrain_growth`` times past the size it was
trained for (its lists would get too long), and the type changes when a threshold is crossed;
both happen in the background (see :mod:`indexer.vector_store`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import faiss
import numpy as np


class IndexType(str, Enum):
    FLAT = "flat"
    IVF_FLAT = "ivf_flat"
    IVF_PQ = "ivf_pq"


@dataclass(frozen=True)
class IndexSpec:
    """What to build: type, number of inverted lists (0 for flat) and the size it is sized for."""

    type: IndexType
    nlist: int
    trained_for: int


@dataclass(frozen=True)
class IndexPolicy:
    """Index-type thresholds and IVF parameters (sizes in clips)."""

    flat_max: int = 100_000
    pq_min: int = 3_000_000
    nlist_per_sqrt: float = 4.0
    min_nlist: int = 256
    max_nlist: int = 16_384
    train_points_per_list: int = 32
    nprobe_fraction: float = 1 / 32
    min_scanned: int = 25_000      # small libraries scan more lists: short lists miss the shortlist tail
    min_nprobe: int = 16
    max_nprobe: int = 512
    pq_m: int = 64
    rerank_candidates: int = 1024   # IVF-PQ: re-rank max(rerank_factor * k, rerank_candidates) candidates
    rerank_factor: float = 2.0
    retrain_growth: float = 4.0

    def choose(self, n: int) -> IndexSpec:
        """The index a library of ``n`` clips should have."""
        if n < self.flat_max:
            return IndexSpec(IndexType.FLAT, 0, n)
        nlist = int(self.nlist_per_sqrt * math.sqrt(n))
        nlist = 1 << int(round(math.log2(max(nlist, 1))))
        nlist = int(min(max(nlist, self.min_nlist), self.max_nlist))
        kind = IndexType.IVF_PQ if n >= self.pq_min else IndexType.IVF_FLAT
        return IndexSpec(kind, nlist, n)

    def needs_rebuild(self, built: IndexSpec, n: int) -> bool:
        """True when a library of ``n`` clips has outgrown (or shrunk below) the ``built`` index."""
        wanted = self.choose(n)
        if wanted.type != built.type:
            # Hysteresis: only go back down when the library halves, so a boundary is not flapped on.
            smaller = _rank(wanted.type) < _rank(built.type)
            return not smaller or n < built.trained_for // 2
        return built.type != IndexType.FLAT and n > self.retrain_growth * max(built.trained_for, 1)

    def nprobe(self, nlist: int, n: int) -> int:
        """Lists scanned per query: ``nlist * nprobe_fraction``, but enough lists to cover about
        ``min_scanned`` of the ``n`` vectors, within ``[min_nprobe, max_nprobe]``."""
        by_size = math.ceil(nlist * self.min_scanned / max(n, 1))
        wanted = max(round(nlist * self.nprobe_fraction), by_size, self.min_nprobe)
        return int(min(wanted, self.max_nprobe, nlist))

    def train_size(self, spec: IndexSpec) -> int:
        """Training sample size: ~32 points per list; PQ codebooks (256 codes) want >= 10k points."""
        if spec.type == IndexType.FLAT:
            return 0
        size = spec.nlist * self.train_points_per_list
        return max(size, 40 * 256) if spec.type == IndexType.IVF_PQ else size


def _rank(kind: IndexType) -> int:
    return (IndexType.FLAT, IndexType.IVF_FLAT, IndexType.IVF_PQ).index(kind)


class VectorIndex:
    """A FAISS index of ``dim``-dimensional vectors keyed by int64 clip ids.

    ``add`` takes float32 ``(n, dim)`` L2-normalised vectors with int64 ``(n,)`` ids; ``search``
    returns ``(scores (Q, k) float32, ids (Q, k) int64)`` with ``-1`` ids (and ``-inf`` scores)
    where fewer than ``k`` vectors exist. For ``ivf_pq`` the scores are approximate and callers
    re-rank (see :class:`indexer.vector_store.VectorStore`).
    """

    def __init__(self, index: faiss.Index, spec: IndexSpec, policy: IndexPolicy) -> None:
        self.index = index
        self.spec = spec
        self.policy = policy

    @classmethod
    def create(cls, spec: IndexSpec, dim: int, policy: IndexPolicy) -> "VectorIndex":
        """An empty index; IVF types still need :meth:`train`."""
        if spec.type == IndexType.FLAT:
            index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            quantizer = faiss.IndexFlatIP(dim)
            if spec.type == IndexType.IVF_FLAT:
                index = faiss.IndexIVFFlat(quantizer, dim, spec.nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                if dim % policy.pq_m:
                    raise ValueError(f"dim {dim} is not divisible by pq_m {policy.pq_m}")
                index = faiss.IndexIVFPQ(quantizer, dim, spec.nlist, policy.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
            index.own_fields = True
            quantizer.this.disown()
        return cls(index, spec, policy)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def is_trained(self) -> bool:
        return bool(self.index.is_trained)

    def train(self, sample: np.ndarray) -> None:
        """Train the coarse quantizer (and PQ codebooks) on float32 ``(n, dim)`` vectors."""
        if self.spec.type == IndexType.FLAT:
            return
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        if len(sample) < self.spec.nlist:
            raise ValueError(f"need at least {self.spec.nlist} training vectors, got {len(sample)}")
        ivf = faiss.extract_index_ivf(self.index)
        ivf.cp.niter = 10
        ivf.cp.max_points_per_centroid = self.policy.train_points_per_list
        # FAISS warns below 39 points per centroid; ~32 is within its own guidance (30-256).
        ivf.cp.min_points_per_centroid = min(ivf.cp.min_points_per_centroid, max(len(sample) // self.spec.nlist, 1))
        self.index.train(sample)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(ids):
            raise ValueError(f"expected ({len(ids)}, {self.dim}) vectors, got {vectors.shape}")
        self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove_ranges(self, ranges: list[tuple[int, int]]) -> int:
        """Remove every id in the half-open ``[first, end)`` ranges; returns how many were present."""
        spans = [(int(a), int(b)) for a, b in ranges if b > a]
        if not spans:
            return 0
        if len(spans) == 1:
            return int(self.index.remove_ids(faiss.IDSelectorRange(*spans[0])))
        # One pass over the index for all ranges (flat removal compacts the whole array per call).
        ids = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in spans])
        return int(self.index.remove_ids(faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids))))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (Q, {self.dim}) float32, got {queries.shape}")
        if self.spec.type != IndexType.FLAT:
            faiss.extract_index_ivf(self.index).nprobe = self.policy.nprobe(self.spec.nlist, self.ntotal)
        if self.ntotal == 0 or k <= 0:
            return (np.full((len(queries), max(k, 0)), -np.inf, np.float32),
                    np.full((len(queries), max(k, 0)), -1, np.int64))
        scores, ids = self.index.search(queries, k)
        scores[ids < 0] = -np.inf
        return scores, ids

    def search_params(self) -> dict[str, int | str]:
        nprobe = self.policy.nprobe(self.spec.nlist, self.ntotal) if self.spec.type != IndexType.FLAT else 0
        return {"index_type": self.spec.type.value, "nlist": self.spec.nlist, "nprobe": int(nprobe),
                "vectors": self.ntotal}

    def ids(self) -> np.ndarray:
        """All int64 ids in the index (order unspecified); used for consistency checks."""
        if self.spec.type == IndexType.FLAT:
            return faiss.vector_to_array(faiss.downcast_index(self.index).id_map).astype(np.int64)
        invlists = faiss.extract_index_ivf(self.index).invlists
        parts = []
        for list_no in range(invlists.nlist):
            size = invlists.list_size(list_no)
            if size:
                ptr = invlists.get_ids(list_no)
                parts.append(faiss.rev_swig_ptr(ptr, size).copy())
                invlists.release_ids(list_no, ptr)
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, spec: IndexSpec, policy: IndexPolicy) -> "VectorIndex":
        return cls(faiss.read_index(str(path)), spec, policy)
