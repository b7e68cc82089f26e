"""Typed messages the search worker posts to the app (from its thread; ``post_message`` is thread-safe)."""

from __future__ import annotations

from textual.message import Message

from tui.backend import ResponseLike


class SearchStarted(Message):
    """Search number ``seq`` for ``query`` began (the first one also loads the searcher)."""

    def __init__(self, seq: int, query: str, loading_model: bool) -> None:
        super().__init__()
        self.seq, self.query, self.loading_model = seq, query, loading_model


class SearchFinished(Message):
    """Search ``seq`` returned ``response`` after ``seconds`` of wall time.

    ``focus_results``: the user pressed Enter, so the results list should take the focus."""

    def __init__(self, seq: int, response: ResponseLike, seconds: float, focus_results: bool) -> None:
        super().__init__()
        self.seq, self.response, self.seconds = seq, response, seconds
        self.focus_results = focus_results


class SearchFailed(Message):
    """Search ``seq`` raised; ``error`` is the one-line text shown to the user."""

    def __init__(self, seq: int, query: str, error: str) -> None:
        super().__init__()
        self.seq, self.query, self.error = seq, query, error
