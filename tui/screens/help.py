"""The key reference (``?``)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, str]] = [
    ("/", "focus the search box"),
    ("Enter (in the box)", "search now, then move to the results"),
    ("\u2191 \u2193  j k", "move through the results"),
    ("Enter", "play from the moment's start"),
    ("e", "export the moment as a clip file"),
    ("y", "copy path:start to the clipboard"),
    ("s", "library status"),
    ("?", "this help"),
    ("q", "quit (Ctrl+C too)"),
]

NOTES = (
    "Searches also run by themselves when you stop typing for a moment. "
    "The player is --player or $VSEARCH_PLAYER, else mpv, else vlc, else the system opener."
)


class HelpScreen(ModalScreen[None]):
    """A modal table of keys; Escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="help-body", classes="modal-body"):
            yield Static(Text("vsearch keys", style="bold"), classes="modal-title")
            yield Static(table)
            yield Static(NOTES, classes="modal-note")
