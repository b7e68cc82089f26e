"""The per-clip saliency curve of the window a moment came from, with the moment's bounds marked."""

from __future__ import annotations

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tui.backend import MomentLike
from tui.timecode import moment_range


class SaliencyPlot(PlotextPlot):
    """A plotext line plot: x = time in the video (s), y = the grounding model's saliency.

    Clip ``i`` of ``moment.saliency`` covers ``saliency_start + i * clip_seconds`` onwards and is
    plotted at its centre. Vertical lines mark ``moment.start`` and ``moment.end``.
    """

    DEFAULT_CSS = """
    SaliencyPlot { height: 9; width: 1fr; }
    """

    _window = ""  # the plotted window's time range, shown in the title

    def show(self, moment: MomentLike | None) -> None:
        """Plot ``moment.saliency`` (or say there is none)."""
        plt = self.plt
        plt.clear_figure()
        self._window = ""
        if moment is None or not moment.saliency:
            plt.title("saliency: none for this moment")
            self.refresh()
            return
        step = moment.clip_seconds or 1.0
        xs = [moment.saliency_start + (i + 0.5) * step for i in range(len(moment.saliency))]
        plt.plot(xs, [float(v) for v in moment.saliency], marker="braille")
        plt.vertical_line(moment.start, color="red")
        plt.vertical_line(moment.end, color="red")
        lo, hi = moment.saliency_start, moment.saliency_start + step * len(moment.saliency)
        plt.xlim(lo, hi)
        # the window's time range goes in the title: plotext's tick labels shift by a cell
        # between renders at the same size, and this plot is narrow anyway
        plt.xticks([])
        self._window = moment_range(lo, hi)
        self.refresh()

    def render(self) -> RenderResult:
        if self._window:
            # the y axis takes ~6 cells; plotext drops a title wider than the plot area
            long_title = f"saliency {self._window}"
            self.plt.title(long_title if len(long_title) <= self.size.width - 8 else self._window)
        return super().render()
