"""The query input: searches as you type (debounced) and at once on Enter."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input

from tui.widgets.spinner import Spinner


class SearchBox(Horizontal):
    """An ``Input`` plus a spinner.

    Posts :class:`SearchBox.QueryChanged` ``delay`` seconds after the last keystroke (so a
    search runs when the user pauses, not on every key) and immediately, with ``submitted=True``,
    on Enter. ``down`` / ``escape`` post :class:`SearchBox.LeaveRequested` to hand focus to the results.
    """

    BINDINGS = [
        Binding("down", "leave", "Results", show=False),
        Binding("escape", "leave", "Results", key_display="esc"),
    ]

    class QueryChanged(Message):
        """The query to search for; ``submitted`` is True when the user pressed Enter."""

        def __init__(self, query: str, submitted: bool) -> None:
            super().__init__()
            self.query, self.submitted = query, submitted

    class LeaveRequested(Message):
        """The user wants to move from the query to the results."""

    def __init__(self, query: str = "", *, delay: float = 0.4, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial, self._delay = query, delay
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Input(self._initial, placeholder="Describe a moment, e.g. a dog catching a frisbee", id="query")
        yield Spinner(id="spinner")

    @property
    def input(self) -> Input:
        return self.query_one("#query", Input)

    @property
    def value(self) -> str:
        return self.input.value

    def set_busy(self, label: str) -> None:
        """Show ``label`` next to a spinner; an empty label hides it."""
        self.query_one(Spinner).label = label

    def _cancel_debounce(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._cancel_debounce()
        query = event.value
        self._debounce = self.set_timer(
            self._delay, lambda: self.post_message(self.QueryChanged(query, submitted=False))
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._cancel_debounce()
        self.post_message(self.QueryChanged(event.value, submitted=True))

    def action_leave(self) -> None:
        self.post_message(self.LeaveRequested())
