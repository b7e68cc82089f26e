"""The ranked moments: file name, moment h:mm:ss–h:mm:ss, score; one row each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable

from tui.backend import MomentLike
from tui.timecode import ellipsize, moment_range

MOMENT_WIDTH = len("0:00:00\u20130:00:00")
SCORE_WIDTH = 5
MIN_FILE_WIDTH = 8
MARKER = "\u25b8"  # ▸


class ResultsList(DataTable[Any]):
    """A row-cursor table over the current moments.

    Posts :class:`ResultsList.MomentHighlighted` when the cursor lands on a moment (arrow keys,
    j/k, or new results) and :class:`ResultsList.MomentChosen` on Enter.
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "Play"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class MomentHighlighted(Message):
        """``moment`` is now selected (None: the list is empty)."""

        def __init__(self, moment: MomentLike | None) -> None:
            super().__init__()
            self.moment = moment

    class MomentChosen(Message):
        """The user pressed Enter on ``moment``."""

        def __init__(self, moment: MomentLike) -> None:
            super().__init__()
            self.moment = moment

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=1)
        self.moments: list[MomentLike] = []
        self._file_width = 0
        self._marked: int | None = None  # the row drawn with MARKER

    def on_mount(self) -> None:
        self._build_columns()

    def _wanted_file_width(self) -> int:
        # three columns, each with one cell of padding on both sides
        available = self.scrollable_content_region.width - MOMENT_WIDTH - SCORE_WIDTH - 6
        return max(MIN_FILE_WIDTH, available)

    def _build_columns(self) -> None:
        self._file_width = self._wanted_file_width()
        self.clear(columns=True)
        self.add_column("File", width=self._file_width, key="file")
        self.add_column("Moment", width=MOMENT_WIDTH, key="moment")
        self.add_column(Text("Score", justify="right"), width=SCORE_WIDTH, key="score")
        for index, moment in enumerate(self.moments):
            self.add_row(
                self._file_label(index, marked=index == self._marked),
                moment_range(moment.start, moment.end),
                Text(f"{moment.score:.2f}", justify="right"),
                key=str(index),
            )

    def _file_label(self, index: int, *, marked: bool) -> str:
        """The file cell; the selected row starts with MARKER so it shows without colour too."""
        name = ellipsize(Path(self.moments[index].path).name, self._file_width - 1)
        return f"{MARKER if marked else ' '}{name}"

    def _mark(self, index: int | None) -> None:
        if self._marked is not None and self._marked < len(self.moments):
            self.update_cell(str(self._marked), "file", self._file_label(self._marked, marked=False))
        self._marked = index
        if index is not None and index < len(self.moments):
            self.update_cell(str(index), "file", self._file_label(index, marked=True))

    def show(self, moments: list[MomentLike]) -> None:
        """Replace the rows with ``moments`` (best first) and select the first one."""
        self.moments = list(moments)
        self._marked = 0 if self.moments else None
        self._build_columns()
        if self.moments:
            self.move_cursor(row=0)
        self.post_message(self.MomentHighlighted(self.moments[0] if self.moments else None))

    @property
    def selected(self) -> MomentLike | None:
        """The moment under the cursor."""
        if not self.moments or not 0 <= self.cursor_row < len(self.moments):
            return None
        return self.moments[self.cursor_row]

    def on_resize(self, event: Resize) -> None:
        if self.is_mounted and self._wanted_file_width() != self._file_width:
            row = self.cursor_row
            self._build_columns()
            if self.moments:
                self.move_cursor(row=row, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.selected is not None and self.cursor_row != self._marked:
            self._mark(self.cursor_row)
        self.post_message(self.MomentHighlighted(self.selected))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.selected is not None:
            self.post_message(self.MomentChosen(self.selected))
