"""What the TUI needs from the core, as protocols, and the default wiring to ``search.Searcher``.

The app never constructs a searcher itself: it is handed a factory, called lazily in a worker
thread on the first search (loading an encoder can take seconds), so tests inject fakes and the
UI is up before any model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class MomentLike(Protocol):
    """The fields of ``search.searcher.Moment`` the TUI reads (times in seconds; read-only)."""

    @property
    def path(self) -> str: ...
    @property
    def video_id(self) -> int: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def score(self) -> float: ...
    @property
    def video_duration(self) -> float: ...
    @property
    def clip_seconds(self) -> float: ...
    @property
    def saliency(self) -> list[float]: ...  # one value per clip of the window the moment came from
    @property
    def saliency_start(self) -> float: ...  # second at which saliency[0]'s clip starts
    @property
    def best_time(self) -> float: ...  # start of the moment's most salient clip


class ResponseLike(Protocol):
    """``search.searcher.SearchResponse``: ``results`` best first."""

    @property
    def query(self) -> str: ...
    @property
    def results(self) -> Sequence[MomentLike]: ...
    @property
    def warnings(self) -> list[str]: ...


class SearchBackend(Protocol):
    """``search.searcher.Searcher`` as the TUI uses it. Calls come from worker threads, one at a time."""

    def search(self, text: str, *, top: int = 10, per_video: int = 3) -> ResponseLike: ...

    def status(self) -> Any: ...  # indexer.library.LibraryStats (a dataclass)

    def close(self) -> None: ...


SearcherFactory = Callable[[], SearchBackend]
StatsReader = Callable[[], Any]


@dataclass(frozen=True)
class SearchOptions:
    """Per-query options the app passes to ``Searcher.search``."""

    top: int = 20
    per_video: int = 3


def searcher_factory(
    library_dir: Path | None, *, grounding: str | None = None, device: str = "auto"
) -> SearcherFactory:
    """A factory for the real ``search.Searcher`` over ``library_dir`` (imported when first called)."""

    def create() -> SearchBackend:
        from search.searcher import Searcher

        searcher: SearchBackend = Searcher(library_dir, grounding=grounding, device=device)
        return searcher

    return create


def stats_reader(library_dir: Path | None) -> StatsReader:
    """Reads ``LibraryStats`` with a read-only ``Library`` (works while an index run holds the lock)."""

    def read() -> Any:
        from indexer.library import Library

        with Library.open(library_dir, readonly=True) as library:
            return library.stats()

    return read
