"""The query engine's public API: :class:`Searcher` turns a sentence into ranked moments.

Pipeline of :meth:`Searcher.search` (each stage is its own module):

1. encode the query with the library's encoder (pooled vector + token features; an over-long
   query is truncated by the encoder and reported in ``SearchResponse.warnings``);
2. :mod:`search.coarse_retrieval`: FAISS top-k clips -> shortlisted videos -> candidate windows;
3. load the windows' clip embeddings (slices of the store's memory-mapped vector cache) and ground
   all windows in one batch: a trained checkpoint (``grounding.predictor.Grounder``) when one is configured,
   otherwise :mod:`search.training_free`;
4. :mod:`search.ranking`: absolute seconds, seam merging, one combined score, per-video cap.

The CLI (``vsearch query``) and the TUI are thin layers over this class. A ``Searcher`` keeps the
library open read-only (DuckDB is opened per operation, so ``vsearch index`` can write meanwhile;
on an unchanged library a query opens none: the store caches the catalog in process)
and loads the encoder and grounding model lazily on the first query; calls must not overlap.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.store_errors import LibraryError
from search.coarse_retrieval import CandidateWindow, CoarseConfig, CoarseRetriever
from search.grounding_choice import (
    GROUNDING_SETTING,
    TRAINING_FREE,
    GroundingMismatchError,
    is_training_free,
    load_grounder,
)
from search.ranking import Moment, RankingConfig, rank_moments
from search.training_free import TrainingFreeConfig, TrainingFreeGrounder, clip_query_similarity

if TYPE_CHECKING:
    from indexer.encoders.base import Encoder, TextFeatures
    from indexer.encoders.registry import EncoderIdentity
    from indexer.library import Library, LibraryStats, VideoRecord
    from indexer.vector_store import StoreConfig

__all__ = [
    "EmptyLibraryError", "EmptyQueryError", "GroundingMismatchError", "Moment", "SearchConfig",
    "SearchResponse", "Searcher",
]

class EmptyQueryError(ValueError):
    """The query text is empty or only whitespace."""


class EmptyLibraryError(RuntimeError):
    """The library has no indexed clips yet."""


@dataclass(frozen=True)
class SearchConfig:
    """Every knob of the query engine, one dataclass per stage."""

    coarse: CoarseConfig = field(default_factory=CoarseConfig)
    training_free: TrainingFreeConfig = field(default_factory=TrainingFreeConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    model_top_k: int = 10   # spans a grounding checkpoint proposes per window
    store: StoreConfig | None = None   # the library's store knobs (None = defaults; benchmarks override)


@dataclass(frozen=True)
class SearchResponse:
    """Results of one query, best first.

    grounding names the grounding that ran (``"none"`` = training-free, else the checkpoint dir);
    timings_ms holds wall milliseconds per stage (encode, retrieve, load, ground, rank).
    """

    query: str
    results: list[Moment]
    warnings: list[str]
    grounding: str = TRAINING_FREE
    timings_ms: dict[str, float] = field(default_factory=dict)


class Searcher:
    """Searches one library (see the module docstring).

    library_dir: the library (None -> ``--library``/``$VSEARCH_LIBRARY``/platform default);
    grounding: a checkpoint RUN_DIR, ``"none"`` for training-free, or None for the library's
    ``grounding`` setting (training-free when unset); device: ``auto|cpu|cuda[:N]``.
    """

    def __init__(
        self,
        library_dir: Path | None = None,
        *,
        grounding: str | None = None,
        device: str = "auto",
        config: SearchConfig | None = None,
    ) -> None:
        from indexer.paths import resolve_library_dir

        self.config = config or SearchConfig()
        self.device = device
        self.directory = resolve_library_dir(library_dir)
        self._library: Library | None = None
        self._retriever: CoarseRetriever | None = None
        self._catalog_cache: dict[int, VideoRecord] = {}
        self._catalog_source: object = None   # the store's CatalogSnapshot the cache was built from
        self._open_library()
        self._grounding_choice = grounding
        self._encoder: Encoder | None = None
        self._grounder: Any = None
        self._grounding_name: str | None = None
        self._training_free = TrainingFreeGrounder(self.config.training_free)
        self._load_lock = threading.Lock()

    @property
    def library(self) -> Library | None:
        """The open library (None while no library exists at :attr:`directory`)."""
        return self._library

    def status(self) -> LibraryStats:
        """The library's :class:`LibraryStats` (all zero while no library exists yet)."""
        from indexer.library import LibraryStats

        if self._library is None and not self._open_library():
            return LibraryStats(library=str(self.directory), videos_indexed=0, videos_failed=0, clips=0, vectors=0)
        assert self._library is not None
        return self._library.stats()

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self,
        text: str,
        *,
        top: int = 10,
        per_video: int = 3,
        path_glob: str | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
    ) -> SearchResponse:
        """Moments matching ``text``, best first.

        top: results overall; per_video: results per video; path_glob: only videos whose path
        matches (``*`` and ``?``, as ``Library.videos``); min_duration/max_duration: only videos
        this long (seconds). Raises :class:`EmptyQueryError`, :class:`EmptyLibraryError`,
        :class:`GroundingMismatchError`, ``ValueError`` for out-of-range options.
        """
        query = normalise_query(text)
        _check_options(top, per_video, min_duration, max_duration)
        catalog = self._catalog()
        identity = self._require_indexed(catalog)
        self._load_grounder(identity)  # refuse a mismatched checkpoint before loading the encoder
        encoder = self._load_encoder(identity)
        started = time.perf_counter()
        features, notes = encode_query(encoder, query)
        encode_ms = (time.perf_counter() - started) * 1000
        response = self._run(query, features, catalog, identity, top=top, per_video=per_video,
                             path_glob=path_glob, min_duration=min_duration, max_duration=max_duration)
        return SearchResponse(
            query=query, results=response.results, warnings=[*notes, *response.warnings],
            grounding=response.grounding, timings_ms={"encode": encode_ms, **response.timings_ms},
        )

    def search_features(
        self,
        query: str,
        features: TextFeatures,
        *,
        top: int = 10,
        per_video: int = 3,
        path_glob: str | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
    ) -> SearchResponse:
        """:meth:`search` from already encoded text (benchmarks time the engine without the encoder).

        features.pooled float32 ``(dim,)`` in the library's embedding space; features.tokens
        float32 ``(N, text_dim)`` (used by a grounding checkpoint only).
        """
        _check_options(top, per_video, min_duration, max_duration)
        catalog = self._catalog()
        identity = self._require_indexed(catalog)
        return self._run(query, features, catalog, identity, top=top, per_video=per_video,
                         path_glob=path_glob, min_duration=min_duration, max_duration=max_duration)

    def _run(
        self,
        query: str,
        features: TextFeatures,
        catalog: dict[int, VideoRecord],
        identity: EncoderIdentity,
        *,
        top: int,
        per_video: int,
        path_glob: str | None,
        min_duration: float | None,
        max_duration: float | None,
    ) -> SearchResponse:
        """Retrieve, load, ground, rank; ``catalog`` holds every indexed video (maybe cached)."""
        pooled = np.asarray(features.pooled, dtype=np.float32).reshape(-1)
        if pooled.shape[0] != identity.dim:
            raise ValueError(f"query vector has {pooled.shape[0]} dims but the library stores {identity.dim}")
        pooled = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        grounder = self._load_grounder(identity)
        window_clips = int(grounder.meta.max_clips) if grounder is not None and grounder.meta.max_clips else None
        tokens = np.asarray(features.tokens, dtype=np.float32)
        if grounder is not None and (tokens.ndim != 2 or tokens.shape[1] != int(grounder.meta.text_dim)):
            raise GroundingMismatchError(
                f"grounding checkpoint {self._grounding_name} expects text features of dim {grounder.meta.text_dim}, "
                f"the library's encoder gives {tokens.shape[-1]}"
            )
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        filtered = path_glob is not None or min_duration is not None or max_duration is not None
        candidates = self._filter(catalog, path_glob, min_duration, max_duration) if filtered else catalog
        shortlist = self._coarse.shortlist(
            pooled, n_clips=sum(v.clip_count for v in catalog.values()), n_videos=top, videos=candidates,
            filtered=filtered, window_clips=window_clips,
        )
        if shortlist.unknown_hits:  # videos indexed since the catalog was read: read it again
            catalog = self._catalog(refresh=True)
            shortlist = self._coarse.shortlist(
                pooled, n_clips=sum(v.clip_count for v in catalog.values()), n_videos=top, videos=catalog,
                window_clips=window_clips,
            )
        clock = _lap(timings, "retrieve", clock)

        windows, feats = self._load_windows(shortlist.windows)
        clock = _lap(timings, "load", clock)
        similarities = [clip_query_similarity(f, pooled) for f in feats]
        if not windows:
            predictions: list[Any] = []
        elif grounder is None:
            predictions = self._training_free.predict(feats, pooled, float(identity.clip_seconds))
        else:
            predictions = grounder.predict(feats, tokens, top_k=self.config.model_top_k)
        clock = _lap(timings, "ground", clock)

        results = rank_moments(
            windows, predictions, similarities, shortlist.videos,
            top_score=shortlist.top_score, cutoff_score=shortlist.cutoff_score,
            top=top, per_video=per_video, config=self.config.ranking,
        )
        _lap(timings, "rank", clock)
        notes = ["no indexed video matches the path/duration filter"] if filtered and not candidates else []
        return SearchResponse(query=query, results=results, warnings=notes,
                              grounding=self._grounding_name or TRAINING_FREE, timings_ms=timings)

    # -- stages ----------------------------------------------------------------------------------

    @property
    def _lib(self) -> Library:
        if self._library is None:
            raise EmptyLibraryError(f"no videos indexed in {self.directory} yet: run `vsearch index DIR` first")
        return self._library

    @property
    def _coarse(self) -> CoarseRetriever:
        if self._retriever is None:
            raise EmptyLibraryError(f"no videos indexed in {self.directory} yet: run `vsearch index DIR` first")
        return self._retriever

    def _open_library(self) -> bool:
        """(Re)open the library read-only once it exists and is bound to an encoder; True when open.

        A searcher created before the first ``vsearch index`` (the TUI on a fresh install) thus
        starts answering as soon as something is indexed.
        """
        from indexer.catalog_db import DATABASE_FILE
        from indexer.library import Library

        if self._library is not None and self._library.identity is not None:
            return True
        if not (self.directory / DATABASE_FILE).exists():
            return False
        library = Library.open(self.directory, readonly=True, config=self.config.store)
        if self._library is not None:
            self._library.close()
        self._library = library
        self._retriever = CoarseRetriever(library, self.config.coarse)
        self._catalog_cache = {}
        self._catalog_source = None
        return True

    def _catalog(self, *, refresh: bool = False) -> dict[int, VideoRecord]:
        """Every indexed video by id ({} while nothing is indexed).

        The store keeps the catalog in process and re-reads it only when videos were added,
        removed or relinked (``Library.catalog``), so this costs no DuckDB open on an unchanged
        library; the dict is rebuilt only when the store hands out a new snapshot. ``refresh``
        forces a re-read (a shortlisted video vanished under a concurrent index run).
        """
        if not self._open_library() or self._library is None or self._library.identity is None:
            return {}
        snapshot = self._library.catalog(refresh=refresh)
        if snapshot is not self._catalog_source:
            identity = self._library.identity
            self._catalog_cache = {v.id: _with_defaults(v, identity) for v in snapshot.videos}
            self._catalog_source = snapshot
        return self._catalog_cache

    def _require_indexed(self, catalog: dict[int, VideoRecord]) -> EncoderIdentity:
        identity = self._library.identity if self._library is not None else None
        if identity is None or not any(v.clip_count > 0 for v in catalog.values()):
            raise EmptyLibraryError(
                f"no videos indexed in {self.directory} yet: run `vsearch index DIR` first"
            )
        return identity

    def _filter(
        self, catalog: dict[int, VideoRecord], path_glob: str | None, min_duration: float | None,
        max_duration: float | None,
    ) -> dict[int, VideoRecord]:
        """The catalog restricted to the filters (the glob is matched by the store, as ``Library.videos``)."""
        lo = min_duration if min_duration is not None else -math.inf
        hi = max_duration if max_duration is not None else math.inf
        ids = catalog.keys() if path_glob is None else \
            [v.id for v in self._lib.videos(status="indexed", path_glob=path_glob)]
        return {i: catalog[i] for i in ids if i in catalog and lo <= float(catalog[i].duration or 0.0) <= hi}

    def _load_windows(self, windows: list[CandidateWindow]) -> tuple[list[CandidateWindow], list[np.ndarray]]:
        """Clip embeddings per window, one DB round trip; windows whose clips vanished are dropped."""
        if not windows:
            return [], []
        try:
            loaded = self._lib.clip_embeddings([(w.video_id, w.first_clip, w.end_clip) for w in windows])
        except LibraryError:  # a shortlisted video was removed by a concurrent index run: skip it
            present = self._catalog(refresh=True)
            windows = [w for w in windows if w.video_id in present]
            loaded = self._lib.clip_embeddings([(w.video_id, w.first_clip, w.end_clip) for w in windows])
        kept_windows: list[CandidateWindow] = []
        kept_feats: list[np.ndarray] = []
        for window, feats in zip(windows, loaded):
            feats = np.asarray(feats, dtype=np.float32)
            if feats.shape[0] == 0:
                continue
            if feats.shape[0] != window.n_clips:  # video re-indexed shorter meanwhile
                window = CandidateWindow(window.video_id, window.first_clip,
                                         window.first_clip + feats.shape[0], window.best_hit)
            kept_windows.append(window)
            kept_feats.append(feats)
        return kept_windows, kept_feats

    # -- models ----------------------------------------------------------------------------------

    def _load_encoder(self, identity: EncoderIdentity) -> Encoder:
        with self._load_lock:
            if self._encoder is None:
                from indexer.encoders.registry import ENCODER_PATH_SETTING, load_encoder

                weights = self._library.get_setting(ENCODER_PATH_SETTING) if self._library is not None else None
                self._encoder = load_encoder(identity.spec, device=self.device, path=weights)
            return self._encoder

    def _load_grounder(self, identity: EncoderIdentity) -> Any:
        """The checkpoint's ``Grounder``, or None for training-free grounding."""
        with self._load_lock:
            if self._grounding_name is not None:
                return self._grounder
            choice = self._grounding_choice
            if choice is None:
                choice = self._lib.get_setting(GROUNDING_SETTING)
            if is_training_free(choice):
                self._grounder, self._grounding_name = None, TRAINING_FREE
                return None
            assert choice is not None
            grounder = load_grounder(Path(choice), identity, self.device)
            self._grounder, self._grounding_name = grounder, str(choice)
            return grounder


def normalise_query(text: str) -> str:
    """The query with surrounding whitespace removed; :class:`EmptyQueryError` when nothing is left."""
    query = (text or "").strip()
    if not query:
        raise EmptyQueryError("the query is empty: describe the moment to find, e.g. 'a dog catching a frisbee'")
    return query


def encode_query(encoder: Encoder, query: str) -> tuple[TextFeatures, list[str]]:
    """``encoder.encode_text([query])[0]`` and the warnings the encoder raised (e.g. truncation).

    Encoders that truncate silently are caught too when they expose ``max_text_tokens`` and a
    HF ``tokenizer``: the query's token count is compared with the limit.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features = encoder.encode_text([query])[0]
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    limit = getattr(encoder, "max_text_tokens", None)
    tokenizer = getattr(encoder, "tokenizer", None)
    if not notes and limit and callable(tokenizer):
        n_tokens = len(tokenizer(query, truncation=False)["input_ids"])
        if n_tokens > int(limit):
            notes.append(f"query longer than {limit} tokens ({n_tokens}); truncated for {encoder.name}")
    return features, notes


def _with_defaults(video: VideoRecord, identity: EncoderIdentity | None) -> VideoRecord:
    """Fill ``clip_seconds``/``duration`` of a record that lacks them (ranking needs both)."""
    from dataclasses import replace

    clip_seconds = video.clip_seconds or (identity.clip_seconds if identity else 0.0)
    duration = video.duration if video.duration is not None else video.clip_count * clip_seconds
    if (clip_seconds, duration) == (video.clip_seconds, video.duration):
        return video
    return replace(video, clip_seconds=clip_seconds, duration=duration)


def _check_options(top: int, per_video: int, min_duration: float | None, max_duration: float | None) -> None:
    if top < 1 or per_video < 1:
        raise ValueError("top and per_video must be at least 1")
    if (min_duration is not None and min_duration < 0) or (max_duration is not None and max_duration < 0):
        raise ValueError("durations must be >= 0 seconds")
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise ValueError(f"min duration {min_duration:g} s is longer than max duration {max_duration:g} s")


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = (now - since) * 1000
    return now
