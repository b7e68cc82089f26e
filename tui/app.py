"""The vsearch Textual app: wires the widgets, the search worker and the key actions together.

Layout: search box on top, results list (left) and detail pane (right), footer with the keys.
Slow work never runs on the UI thread: searches, thumbnails, status and exports run in thread
workers and report back with messages or ``call_from_thread``.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from time import perf_counter

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer
from textual.worker import get_current_worker

from indexer.clip_export import export_clip
from tui import clipboard, player
from tui.backend import MomentLike, SearchBackend, SearcherFactory, StatsReader
from tui.errors import user_message
from tui.messages import SearchFailed, SearchFinished, SearchStarted
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.status import StatusScreen
from tui.settings import TuiSettings
from tui.timecode import display_path, moment_range, seconds_arg
from tui.widgets.detail_pane import EMPTY_HINT, DetailPane
from tui.widgets.results_list import ResultsList
from tui.widgets.search_box import SearchBox


class VsearchApp(App[None]):
    """``searcher_factory`` builds the search backend on the first search (in a worker thread);
    ``read_stats`` feeds the status screen; ``query`` is searched at start-up when given."""

    CSS_PATH = "app.tcss"
    TITLE = "vsearch"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("slash", "focus_search", "Search"),
        Binding("e", "export", "Export"),
        Binding("y", "copy", "Copy"),
        Binding("s", "status", "Status"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        searcher_factory: SearcherFactory,
        read_stats: StatsReader,
        *,
        settings: TuiSettings | None = None,
        query: str = "",
    ) -> None:
        super().__init__()
        self.settings = settings or TuiSettings()
        self._searcher_factory, self._read_stats = searcher_factory, read_stats
        self._searcher: SearchBackend | None = None
        self._searcher_lock = threading.Lock()  # one search at a time touches the searcher
        self._initial_query = query.strip()
        self._seq = 0
        self._last_query: str | None = None
        self.response_moments: list[MomentLike] = []
        self._empty_hint: str | None = None  # what the detail pane says when nothing is selected

    def compose(self) -> ComposeResult:
        yield SearchBox(self._initial_query, delay=self.settings.search_delay, id="search")
        with Horizontal(id="panes"):
            yield ResultsList(id="results")
            yield DetailPane(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SearchBox).input.focus()
        if self._initial_query:
            self._request_search(self._initial_query, submitted=True)

    def on_unmount(self) -> None:
        # A search still loading a model would make quitting wait; the process is exiting anyway.
        if self._searcher_lock.acquire(timeout=2.0):
            try:
                if self._searcher is not None:
                    self._searcher.close()
            finally:
                self._searcher_lock.release()

    # -- searching -------------------------------------------------------------------------

    def _request_search(self, query: str, *, submitted: bool) -> None:
        query = query.strip()
        if not submitted and (not query or query == self._last_query):
            return  # typing: nothing new to search
        if submitted and query and query == self._last_query:
            self.query_one(ResultsList).focus()
            return
        self._last_query = query
        self._seq += 1
        self.run_search(self._seq, query, focus_results=submitted)

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, seq: int, query: str, focus_results: bool) -> None:
        """Search in a thread; post Started, then Finished or Failed (stale searches stay silent)."""
        worker = get_current_worker()
        with self._searcher_lock:
            if worker.is_cancelled:
                return
            self.post_message(SearchStarted(seq, query, loading_model=self._searcher is None))
            began = perf_counter()
            try:
                if self._searcher is None:
                    self._searcher = self._searcher_factory()
                response = self._searcher.search(query, top=self.settings.top, per_video=self.settings.per_video)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a notification
                self.log.error(f"search {query!r} failed:\n{traceback.format_exc()}")
                self.post_message(SearchFailed(seq, query, user_message(exc)))
                return
        if not worker.is_cancelled:
            self.post_message(SearchFinished(seq, response, perf_counter() - began, focus_results))

    def on_search_box_query_changed(self, event: SearchBox.QueryChanged) -> None:
        self._request_search(event.query, submitted=event.submitted)

    def on_search_box_leave_requested(self) -> None:
        self.query_one(ResultsList).focus()

    def on_search_started(self, event: SearchStarted) -> None:
        if event.seq == self._seq:
            self.query_one(SearchBox).set_busy("loading model\u2026" if event.loading_model else "searching\u2026")

    def on_search_finished(self, event: SearchFinished) -> None:
        if event.seq != self._seq:
            return
        self.query_one(SearchBox).set_busy("")
        found = len(event.response.results)
        self.log.info(f"search {event.response.query!r}: {found} moments in {event.seconds:.3f} s")
        self.response_moments = list(event.response.results)
        self._empty_hint = f"No moments found for \u201c{event.response.query}\u201d."
        results = self.query_one(ResultsList)
        results.show(self.response_moments)
        for warning in event.response.warnings:
            self.notify(warning, severity="warning", markup=False)
        if self.response_moments and event.focus_results:
            results.focus()

    def on_search_failed(self, event: SearchFailed) -> None:
        if event.seq != self._seq:
            return
        self.query_one(SearchBox).set_busy("")
        self._last_query = None  # the same query may work after the user fixes the cause
        self.notify(event.error, title="Search failed", severity="error", timeout=8, markup=False)

    # -- selection -------------------------------------------------------------------------

    def on_results_list_moment_highlighted(self, event: ResultsList.MomentHighlighted) -> None:
        detail = self.query_one(DetailPane)
        if event.moment is None:
            detail.clear(self._empty_hint or EMPTY_HINT)
            return
        same_video = [m for m in self.response_moments if m.video_id == event.moment.video_id]
        detail.show(event.moment, same_video)

    def on_results_list_moment_chosen(self, event: ResultsList.MomentChosen) -> None:
        self.play(event.moment)

    def _selected(self) -> MomentLike | None:
        moment = self.query_one(ResultsList).selected
        if moment is None:
            self.notify("Search and select a moment first.", severity="warning", markup=False)
        return moment

    # -- actions ---------------------------------------------------------------------------

    def play(self, moment: MomentLike) -> None:
        """Start the configured player at ``moment.start``."""
        if not Path(moment.path).is_file():
            missing = f"video not found: {display_path(moment.path)} (moved or deleted since it was indexed?)"
            self.notify(missing, title="Cannot play", severity="error", markup=False)
            return
        try:
            command = player.player_command(moment.path, moment.start, self.settings.player)
            player.launch(command)
        except player.PlayerError as exc:
            self.notify(str(exc), title="Cannot play", severity="error", markup=False)
            return
        name = Path(command.argv[0]).name
        where = f"from {moment_range(moment.start, moment.end)}" if command.seeks else "(this player cannot seek)"
        self.notify(f"{name}: {Path(moment.path).name} {where}", markup=False)

    def action_focus_search(self) -> None:
        self.query_one(SearchBox).input.focus()

    def action_copy(self) -> None:
        moment = self._selected()
        if moment is None:
            return
        text = f"{moment.path}:{seconds_arg(moment.start)}"
        self.copy_to_clipboard(text)  # OSC 52: reaches the local clipboard over SSH where allowed
        self._copy_native(text)

    @work(thread=True, group="clipboard")
    def _copy_native(self, text: str) -> None:
        how = "" if clipboard.copy_native(text) else " (through the terminal)"
        self.notify(f"Copied {display_path(text)}{how}", markup=False)

    def action_status(self) -> None:
        self.push_screen(StatusScreen(self._read_stats))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_export(self) -> None:
        moment = self._selected()
        if moment is None:
            return

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.settings.export_dir = folder
                self._export(moment, folder)

        self.push_screen(ExportScreen(moment, self.settings.export_dir), chosen)

    @work(thread=True, group="export")
    def _export(self, moment: MomentLike, folder: Path) -> None:
        self.notify(f"Exporting {moment_range(moment.start, moment.end)}\u2026", timeout=2, markup=False)
        try:
            result = export_clip(moment.path, moment.start, moment.end, folder)
        except Exception as exc:  # noqa: BLE001 - shown as a notification
            self.notify(user_message(exc), title="Export failed", severity="error", timeout=8, markup=False)
            return
        how = "copied without re-encoding" if result.method == "copy" else "re-encoded"
        self.notify(f"Saved {display_path(result.path)} ({how})", title="Exported", timeout=8, markup=False)
