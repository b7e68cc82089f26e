"""Query engine: from a sentence to ranked moments across the whole library.

``from search import Searcher`` works; the submodules are imported on first use so that
``vsearch --help`` (which imports :mod:`search.cli`) stays light.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Searcher": "search.searcher",
    "SearchResponse": "search.searcher",
    "SearchConfig": "search.searcher",
    "EmptyQueryError": "search.searcher",
    "EmptyLibraryError": "search.searcher",
    "GroundingMismatchError": "search.grounding_choice",
    "Moment": "search.ranking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
