"""Ask where to export the selected moment (``e``); the app does the export."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from indexer.clip_export import clip_file_name
from tui.backend import MomentLike
from tui.timecode import display_path, moment_range


class ExportScreen(ModalScreen[Path | None]):
    """A folder prompt prefilled with ``folder``; Enter returns the folder, Escape returns None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, moment: MomentLike, folder: Path) -> None:
        super().__init__()
        self._moment, self._folder = moment, folder

    def compose(self) -> ComposeResult:
        start, end = self._moment.start, self._moment.end
        name = clip_file_name(self._moment.path, start, end)
        with Vertical(id="export-body", classes="modal-body"):
            yield Static(f"Export {moment_range(start, end)} as {name}", classes="modal-title")
            yield Static("into the folder (Enter to export, Escape to cancel):")
            yield Input(display_path(self._folder), id="export-folder")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.notify("Type a folder to export into.", severity="warning")
            return
        self.dismiss(Path(text).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)
