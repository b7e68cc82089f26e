"""Progress reporting for an index run: a rich progress bar on a terminal, plain log lines otherwise.

The run (:mod:`indexer.indexing`) calls an :class:`IndexProgress`; it never prints by itself, so
scripts using the Python API stay silent (:class:`NullProgress`) and the CLI picks
:func:`make_progress` by whether stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class IndexProgress:
    """Callbacks of an index run; the base class ignores them all."""

    def begin(self, to_encode: int, skipped: int) -> None:
        """``to_encode`` videos will be decoded and encoded; ``skipped`` were unchanged."""

    def video_started(self, path: str, n_clips: int) -> None:
        """A decode worker opened ``path``; it plans ``n_clips`` clips."""

    def clips_encoded(self, path: str, n: int) -> None:
        """``n`` more clips of ``path`` were encoded."""

    def video_done(self, path: str, ok: bool, detail: str) -> None:
        """``path`` was stored (``ok``) or recorded as failed; ``detail`` is clips or the reason."""

    def message(self, text: str) -> None:
        """A one-line notice (relinked file, stop requested...)."""

    def end(self) -> None:
        """The run is over (the summary is printed by the caller)."""


NullProgress = IndexProgress


class _Counter:
    """Videos done, clips encoded and the clip rate since the first clip."""

    def __init__(self) -> None:
        self.videos_done = 0
        self.clips = 0
        self.first_clip_at: float | None = None

    def add_clips(self, n: int) -> None:
        if self.first_clip_at is None:
            self.first_clip_at = time.perf_counter()
        self.clips += n

    @property
    def rate(self) -> float:
        if self.first_clip_at is None:
            return 0.0
        return self.clips / max(time.perf_counter() - self.first_clip_at, 1e-6)


class LogProgress(IndexProgress):
    """One line per finished video and a heartbeat line every ``every`` seconds, on ``stream``."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.total = 0
        self.count = _Counter()
        self._last_line = time.perf_counter()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self._last_line = time.perf_counter()

    def begin(self, to_encode: int, skipped: int) -> None:
        self.total = to_encode
        self._print(f"indexing {to_encode} video(s), {skipped} unchanged")

    def clips_encoded(self, path: str, n: int) -> None:
        self.count.add_clips(n)
        if time.perf_counter() - self._last_line >= self.every:
            self._print(f"... {self.count.videos_done}/{self.total} videos, {self.count.clips} clips, "
                        f"{self.count.rate:.1f} clips/s")

    def video_done(self, path: str, ok: bool, detail: str) -> None:
        self.count.videos_done += 1
        state = "indexed" if ok else "failed"
        self._print(f"[{self.count.videos_done}/{self.total}] {state} {path}: {detail}")

    def message(self, text: str) -> None:
        self._print(text)


class RichProgress(IndexProgress):
    """A rich progress bar: videos done / total, clips, clips/s and ETA (videos advance per clip)."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]indexing"), BarColumn(),
            TextColumn("{task.fields[videos]} videos"), TextColumn("{task.fields[clips]} clips"),
            TextColumn("{task.fields[rate]} clips/s"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.count = _Counter()
        self.total = 0
        self._planned: dict[str, int] = {}
        self._advanced: dict[str, float] = {}
        self._task: Any = None

    def _update(self, advance: float = 0.0) -> None:
        self.progress.update(self._task, advance=advance, videos=f"{self.count.videos_done}/{self.total}",
                             clips=self.count.clips, rate=f"{self.count.rate:.1f}")

    def begin(self, to_encode: int, skipped: int) -> None:
        self.total = to_encode
        if skipped:
            self.console.print(f"{skipped} unchanged video(s) skipped")
        self._task = self.progress.add_task("index", total=max(to_encode, 1), videos="", clips=0, rate="0.0")
        self.progress.start()
        self._update()

    def video_started(self, path: str, n_clips: int) -> None:
        self._planned[path] = max(n_clips, 1)
        self._advanced[path] = 0.0

    def clips_encoded(self, path: str, n: int) -> None:
        self.count.add_clips(n)
        step = min(n / self._planned.get(path, n or 1), 1.0 - self._advanced.get(path, 0.0))
        self._advanced[path] = self._advanced.get(path, 0.0) + step
        self._update(step)

    def video_done(self, path: str, ok: bool, detail: str) -> None:
        self.count.videos_done += 1
        rest = 1.0 - self._advanced.pop(path, 0.0)
        self._planned.pop(path, None)
        if not ok:
            self.progress.console.print(f"[red]failed[/red] {path}: {detail}", markup=True, highlight=False)
        self._update(rest)

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def end(self) -> None:
        if self._task is not None:
            self.progress.stop()


def make_progress(stream: TextIO | None = None) -> IndexProgress:
    """A :class:`RichProgress` when ``stream`` (default stderr) is a terminal, else :class:`LogProgress`."""
    stream = stream or sys.stderr
    if stream.isatty():
        return RichProgress()
    return LogProgress(stream)
