"""A one-line activity indicator: an animated spinner and a label while busy, blank otherwise."""

from __future__ import annotations

from time import monotonic

from rich.spinner import Spinner as RichSpinner
from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget


class Spinner(Widget):
    """Shows ``label`` with a spinner while ``label`` is not empty."""

    DEFAULT_CSS = """
    Spinner { width: auto; height: 1; }
    """

    label: reactive[str] = reactive("", layout=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spinner = RichSpinner("dots")
        self._timer: Timer | None = None

    def watch_label(self, label: str) -> None:
        if label and self._timer is None:
            self._timer = self.set_interval(1 / 12, self.refresh)
        elif not label and self._timer is not None:
            self._timer.stop()
            self._timer = None

    def render(self) -> Text:
        if not self.label:
            return Text("")
        frame = self._spinner.render(monotonic())
        text = frame if isinstance(frame, Text) else Text(str(frame))
        return Text.assemble(text, " ", self.label)
