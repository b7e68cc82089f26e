"""The moment's most salient frame, decoded with PyAV off the UI thread.

Drawn by textual-image: Sixel or the Kitty graphics protocol where the terminal has one,
coloured half-blocks in other terminals, grey-level Unicode blocks when output is not a terminal.
"""

from __future__ import annotations

from PIL import Image as PILImage
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_image.widget import Image

from tui.errors import user_message
from tui.frame_grab import grab_frame
from tui.timecode import hms


class Thumbnail(Vertical):
    """An image of the frame at ``best_time`` of a video, with a caption; "no preview" on failure."""

    DEFAULT_CSS = """
    Thumbnail { width: 15; height: auto; padding-right: 1; }
    Thumbnail > Image { width: 100%; height: auto; }
    Thumbnail > Static { width: 100%; height: 1; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._wanted: tuple[str, float] | None = None

    def compose(self) -> ComposeResult:
        yield Image(id="frame")
        yield Static("", id="caption")

    def show(self, path: str, seconds: float) -> None:
        """Decode and show the frame at ``seconds`` of ``path`` (the newest request wins)."""
        if self._wanted == (path, seconds):
            return
        self._wanted = (path, seconds)
        self.query_one("#caption", Static).update(f"frame {hms(seconds)}")
        self._load(path, seconds)

    def clear(self) -> None:
        self._wanted = None
        self.query_one(Image).image = None
        self.query_one("#caption", Static).update("")

    @work(thread=True, exclusive=True, group="thumbnail")
    def _load(self, path: str, seconds: float) -> None:
        try:
            image: PILImage.Image | None = grab_frame(path, seconds)
            caption = f"frame {hms(seconds)}"
        except Exception as exc:  # noqa: BLE001 - any decode failure becomes a caption, not a crash
            image, caption = None, f"no preview: {user_message(exc)}"
        self.app.call_from_thread(self._apply, path, seconds, image, caption)

    def _apply(self, path: str, seconds: float, image: PILImage.Image | None, caption: str) -> None:
        if self._wanted != (path, seconds):
            return  # the selection moved on while decoding
        self.query_one(Image).image = image
        self.query_one("#caption", Static).update(caption)
