"""Everything about the selected moment: where it is, its video's timeline, its frame and saliency."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from tui.backend import MomentLike
from tui.timecode import display_path, hms, moment_range, seconds_arg
from tui.widgets.saliency_plot import SaliencyPlot
from tui.widgets.thumbnail import Thumbnail
from tui.widgets.timeline import Timeline

MOMENT_WIDGETS = ("#detail-timeline", "#detail-others", "#detail-media")
EMPTY_HINT = "Type what you are looking for and press Enter.\n\n/ search   \u2191\u2193 or j/k move   ? help"


class DetailPane(VerticalScroll):
    """Shows one moment and the query's other moments in the same video (``show``), or a hint (``clear``)."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.moment: MomentLike | None = None

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_HINT, id="detail-info")
        yield Timeline(id="detail-timeline")
        yield Static("", id="detail-others")
        with Horizontal(id="detail-media"):
            yield Thumbnail(id="detail-thumbnail")
            yield SaliencyPlot(id="detail-saliency")

    def on_mount(self) -> None:
        self.clear()

    def clear(self, hint: str = EMPTY_HINT) -> None:
        """No moment selected: hide the moment widgets and show ``hint``."""
        self.moment = None
        self.query_one("#detail-info", Static).update(hint)
        for selector in MOMENT_WIDGETS:
            self.query_one(selector).display = False
        self.query_one(Thumbnail).clear()

    def show(self, moment: MomentLike, same_video: Sequence[MomentLike]) -> None:
        """Show ``moment``; ``same_video`` are the query's other moments in its video (any order)."""
        self.moment = moment
        others = sorted((m for m in same_video if m is not moment), key=lambda m: m.start)
        info = Text(no_wrap=False)
        info.append(Path(moment.path).name, style="bold")
        info.append(f"  score {moment.score:.2f}")
        info.append(f"\n{moment_range(moment.start, moment.end)}", style="bold")
        info.append(f" ({seconds_arg(moment.end - moment.start)} s of {hms(moment.video_duration)})")
        info.append(f"\n{display_path(moment.path)}", style="dim")
        self.query_one("#detail-info", Static).update(info)
        for selector in MOMENT_WIDGETS:
            self.query_one(selector).display = True
        self.query_one(Timeline).show(
            moment.video_duration, (moment.start, moment.end), [(m.start, m.end) for m in others]
        )
        listing = Text("also here: " if others else "no other moments in this video", style="dim")
        listing.append_text(
            Text(", ").join(Text(f"{moment_range(o.start, o.end)} ({o.score:.2f})") for o in others)
        )
        self.query_one("#detail-others", Static).update(listing)
        self.query_one(Thumbnail).show(moment.path, moment.best_time)
        self.query_one(SaliencyPlot).show(moment)
        self.scroll_home(animate=False)
