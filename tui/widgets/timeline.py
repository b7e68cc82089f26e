"""The whole video as one bar: the selected moment solid, the query's other moments in the video shaded."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from tui.timecode import hms

SELECTED, OTHER, EMPTY = "\u2588", "\u2592", "\u2500"  # █ ▒ ─ : readable without colour too


def timeline_cells(
    duration: float, width: int, selected: tuple[float, float], others: Sequence[tuple[float, float]] = ()
) -> str:
    """One character per ``duration / width`` seconds: SELECTED / OTHER where a moment overlaps, else EMPTY.

    Moments are ``(start, end)`` in seconds; each gets at least one cell, so short moments in
    long videos stay visible. The selected moment wins where moments overlap.
    """
    if width <= 0:
        return ""
    if duration <= 0:
        return SELECTED * width
    cells = [EMPTY] * width

    def span(start: float, end: float) -> range:
        first = min(width - 1, max(0, int(start / duration * width)))
        last = min(width, max(first + 1, math.ceil(end / duration * width - 1e-9)))
        return range(first, last)

    for start, end in others:
        for i in span(start, end):
            cells[i] = OTHER
    for i in span(*selected):
        cells[i] = SELECTED
    return "".join(cells)


class Timeline(Widget):
    """Two lines: the bar from :func:`timeline_cells`, then ``0:00:00`` ... duration under it."""

    COMPONENT_CLASSES = {"timeline--selected", "timeline--other", "timeline--empty"}
    DEFAULT_CSS = """
    Timeline { height: 2; width: 1fr; }
    Timeline > .timeline--selected { color: $accent; text-style: bold; }
    Timeline > .timeline--other { color: $secondary; }
    Timeline > .timeline--empty { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._duration = 0.0
        self._selected: tuple[float, float] | None = None
        self._others: list[tuple[float, float]] = []

    def show(self, duration: float, selected: tuple[float, float], others: Sequence[tuple[float, float]]) -> None:
        """Draw a video of ``duration`` s with the ``selected`` moment and ``others`` (seconds)."""
        self._duration, self._selected, self._others = duration, selected, list(others)
        self.refresh()

    def render(self) -> Text:
        width = self.content_region.width
        if self._selected is None or width <= 0:
            return Text("")
        styles = {
            SELECTED: self.get_component_rich_style("timeline--selected"),
            OTHER: self.get_component_rich_style("timeline--other"),
            EMPTY: self.get_component_rich_style("timeline--empty"),
        }
        text = Text(no_wrap=True, overflow="crop")
        for char in timeline_cells(self._duration, width, self._selected, self._others):
            text.append(char, style=styles[char])
        left, right = hms(0), hms(self._duration)
        text.append("\n" + left + " " * max(1, width - len(left) - len(right)) + right, style="dim")
        return text
