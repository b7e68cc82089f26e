"""Library status (``s``): videos, clips, failures, whether an index run is in progress."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import LoadingIndicator, Static

from tui.backend import StatsReader
from tui.errors import user_message
from tui.timecode import display_path

MAX_FAILURES_SHOWN = 20


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def render_stats(stats: Any) -> Table:
    """A two-column table of every field of a ``LibraryStats`` dataclass; list fields (failures) below.

    Generic over the fields so the screen shows whatever the store reports. Failures are
    ``(path, error)`` pairs; at most ``MAX_FAILURES_SHOWN`` are listed.
    """
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    values = (
        {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
        if dataclasses.is_dataclass(stats)
        else dict(vars(stats))
    )
    listed: list[tuple[str, list[Any]]] = []
    for name, value in values.items():
        if isinstance(value, (list, tuple)) and not (value and isinstance(value[0], (int, float))):
            table.add_row(_label(name), str(len(value)))
            listed.append((name, list(value)))
        else:
            table.add_row(_label(name), _value(value))
    for name, items in listed:
        for item in items[:MAX_FAILURES_SHOWN]:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                path, error = item
                table.add_row(Text(f"  {display_path(str(path))}", style="dim"), Text(str(error), style="red"))
            else:
                table.add_row("", str(item))
        if len(items) > MAX_FAILURES_SHOWN:
            table.add_row("", f"... and {len(items) - MAX_FAILURES_SHOWN} more {_label(name).lower()}")
    return table


class StatusScreen(ModalScreen[None]):
    """Reads the stats in a worker thread (the store may be busy indexing), then shows them."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("s", "dismiss", "Close", show=False),
    ]

    def __init__(self, read_stats: StatsReader) -> None:
        super().__init__()
        self._read_stats = read_stats

    def compose(self) -> ComposeResult:
        with Vertical(id="status-body", classes="modal-body"):
            yield Static(Text("Library status", style="bold"), classes="modal-title")
            yield LoadingIndicator()
            yield Static("", id="status-table")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        try:
            table: Table | Text = render_stats(self._read_stats())
        except Exception as exc:  # noqa: BLE001 - shown in the screen instead of a traceback
            table = Text(f"Cannot read the library: {user_message(exc)}", style="red")
        self.app.call_from_thread(self._show, table)

    def _show(self, table: Table | Text) -> None:
        self.query_one(LoadingIndicator).display = False
        self.query_one("#status-table", Static).update(table)
