"""The Textual app driven headless by Pilot over an injected searcher (real videos, fake ranking).

The searcher is a fake returning real ``Moment`` s so every screen state is exact (results,
saliency curves, failures);
tests/test_tui_library.py drives the same app over the real Searcher and a real library.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual_image.widget import Image

from indexer.records import LibraryStats
from indexer.videogen import Segment, frame_index_of, write_video
from search.searcher import Moment, SearchResponse
from tui.app import VsearchApp
from tui.screens.export import ExportScreen
from tui.screens.help import HelpScreen
from tui.screens.status import StatusScreen
from tui.settings import TuiSettings
from tui.widgets.results_list import ResultsList
from tui.widgets.search_box import SearchBox
from tui.widgets.timeline import SELECTED, Timeline

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fake_stats() -> LibraryStats:
    return LibraryStats(
        library="/lib", videos_indexed=2, videos_failed=1, clips=12, vectors=12,
        failures=[("/videos/broken.avi", "no video stream")], index_type="flat", run_in_progress=True,
    )


class FakeSearcher:
    """Returns ``results`` (real ``Moment`` s) for any non-empty query; raises like the real Searcher otherwise."""

    def __init__(self, results: list[Moment], error: Exception | None = None) -> None:
        self.results, self.error = results, error
        self.queries: list[str] = []
        self.closed = False

    def search(self, text: str, *, top: int = 10, per_video: int = 3) -> SearchResponse:
        self.queries.append(text)
        if self.error is not None:
            raise self.error
        if not text.strip():
            raise ValueError("the query is empty: describe what you are looking for")
        return SearchResponse(text, self.results[:top], [])

    def status(self) -> LibraryStats:
        return fake_stats()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def videos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two generated videos under a fake $HOME, so on-screen paths read ``~/videos/...`` everywhere."""
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "videos"
    folder.mkdir()
    beach = write_video(
        folder / "beach.mp4",
        [Segment(4, (230, 200, 60)), Segment(6, (30, 80, 230)), Segment(4, (40, 200, 40))],
        fps=10,
    )
    city = write_video(folder / "city.mp4", [Segment(8, (90, 90, 90))], fps=10)
    return {"beach": beach, "city": city}


def moments_for(videos: dict[str, Path]) -> list[Moment]:
    curve = [0.1, 0.2, 0.8, 0.9, 0.85, 0.3, 0.1]
    beach, city = str(videos["beach"]), str(videos["city"])
    return [
        Moment(beach, 1, 4.0, 10.0, 0.87, 14.0, 2.0, curve, 0.0, 6.0),
        Moment(city, 2, 2.0, 4.0, 0.55, 8.0, 2.0, [0.2, 0.6, 0.3, 0.1], 0.0, 2.0),
        Moment(beach, 1, 12.0, 14.0, 0.40, 14.0, 2.0, curve, 0.0, 12.0),
    ]


def make_app(
    searcher: FakeSearcher, tmp_path: Path, query: str = "", player: str | None = None, delay: float = 60.0
) -> VsearchApp:
    """The app over ``searcher``; searches run on Enter only unless ``delay`` is made short."""
    settings = TuiSettings(player=player, export_dir=tmp_path / "exports", search_delay=delay)
    return VsearchApp(lambda: searcher, searcher.status, settings=settings, query=query)


async def settle(pilot: Pilot[Any]) -> None:
    """Let debounce timers fire and every worker (search, thumbnail, export) finish."""
    app = pilot.app
    for _ in range(50):
        await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


def detail_text(app: VsearchApp) -> str:
    return str(app.query_one("#detail-info", Static).render())


def rendered(widget: Static) -> str:
    """What a Static shows, as plain text (its content may be any Rich renderable)."""
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def notifications(app: VsearchApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_enter_searches_and_selecting_updates_the_detail_pane(videos: dict[str, Path], tmp_path: Path) -> None:
    searcher = FakeSearcher(moments_for(videos))
    app = make_app(searcher, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"yellow sand", "enter")
        await settle(pilot)
        assert searcher.queries == ["yellow sand"]
        table = app.query_one(ResultsList)
        assert app.focused is table
        assert table.row_count == 3
        assert [str(c) for c in table.get_row_at(0)] == ["\u25b8beach.mp4", "0:00:04\u20130:00:10", "0.87"]
        assert "beach.mp4" in detail_text(app) and "0:00:04\u20130:00:10" in detail_text(app)
        assert "~/videos/beach.mp4" in detail_text(app)
        others = str(app.query_one("#detail-others", Static).render())
        assert "0:00:12\u20130:00:14" in others  # the query's other moment in the same video
        bar = app.query_one(Timeline).render().plain.splitlines()[0]
        width = len(bar)
        assert bar.index(SELECTED) == int(4 / 14 * width)  # moment drawn at its place in the video
        assert app.query_one(Image).image is not None  # the frame was decoded

        await pilot.press("j")
        await settle(pilot)
        assert "city.mp4" in detail_text(app) and "0:00:02\u20130:00:04" in detail_text(app)
        marked = [str(table.get_row_at(i)[0]) for i in range(3)]
        assert marked == [" beach.mp4", "\u25b8city.mp4", " beach.mp4"]  # visible without colour
        assert "no other moments" in str(app.query_one("#detail-others", Static).render())
        await pilot.press("down")
        await settle(pilot)
        assert "0:00:12\u20130:00:14" in detail_text(app)
        await pilot.press("k", "k")
        await settle(pilot)
        assert "0:00:04\u20130:00:10" in detail_text(app)


async def test_typing_searches_after_a_pause_only_once(videos: dict[str, Path], tmp_path: Path) -> None:
    searcher = FakeSearcher(moments_for(videos))
    app = make_app(searcher, tmp_path, delay=1.5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"blue water")
        assert searcher.queries == []  # nothing while typing
        await pilot.pause(2.0)
        await settle(pilot)
        assert searcher.queries == ["blue water"]
        assert app.query_one(ResultsList).row_count == 3
        assert isinstance(app.focused, Input)  # typing keeps the focus in the box
        await pilot.press("enter")  # same query: just move to the results
        await settle(pilot)
        assert searcher.queries == ["blue water"] and app.focused is app.query_one(ResultsList)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)


async def test_initial_query_is_searched_at_start(videos: dict[str, Path], tmp_path: Path) -> None:
    searcher = FakeSearcher(moments_for(videos))
    app = make_app(searcher, tmp_path, query="green grass")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert searcher.queries == ["green grass"]
        assert app.query_one(ResultsList).selected is not None
    assert searcher.closed


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (type("EmptyLibraryError", (RuntimeError,), {"__module__": "search.searcher"})(
            "the library has no indexed videos yet: run `vsearch index DIR` first"), "no indexed videos"),
        (FileNotFoundError(2, "No such file or directory", "/ckpt/model.safetensors"), "/ckpt/model.safetensors"),
        (KeyError("boom"), "KeyError: 'boom'"),
    ],
)
async def test_search_errors_are_notifications(tmp_path: Path, error: Exception, expected: str) -> None:
    searcher = FakeSearcher([], error=error)
    app = make_app(searcher, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"anything", "enter")
        await settle(pilot)
        assert any(expected in message for message in notifications(app))
        assert app.query_one(ResultsList).row_count == 0
        assert str(app.query_one("#spinner").render()) == ""  # spinner stopped
        searcher.error = None  # the user fixed the cause: the same query runs again
        searcher.results = []
        await pilot.press("enter")
        await settle(pilot)
        assert len(searcher.queries) == 2
        assert "No moments found" in detail_text(app)


async def test_factory_failure_is_a_notification_and_retried(tmp_path: Path) -> None:
    calls: list[int] = []

    def factory() -> FakeSearcher:
        calls.append(1)
        raise type("LibraryError", (Exception,), {"__module__": "indexer.library"})(
            f"no library at {tmp_path}/lib: run `vsearch index DIR` first")

    app = VsearchApp(factory, fake_stats, settings=TuiSettings(export_dir=tmp_path, search_delay=60))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"cat", "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
    assert len(calls) == 2
    assert any(m.startswith("no library at") for m in notifications(app))


def _fake_mpv(folder: Path, record: Path) -> None:
    """An executable named mpv that writes its arguments to ``record``."""
    folder.mkdir()
    script = folder / "mpv"
    script.write_text(
        f"#!{sys.executable}\nimport sys, pathlib\npathlib.Path({str(record)!r}).write_text('\\n'.join(sys.argv[1:]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


async def test_enter_plays_the_moment_with_the_player(
    videos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "mpv-args.txt"
    _fake_mpv(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("VSEARCH_PLAYER", raising=False)
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="sand")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # second result: city.mp4 from 2 s
        deadline = time.monotonic() + 10
        while not record.exists() and time.monotonic() < deadline:
            await pilot.pause(0.05)
    assert record.read_text().splitlines() == ["--start=2", str(videos["city"])]
    assert any(m.startswith("mpv: city.mp4 from 0:00:02") for m in notifications(app))


async def test_missing_player_is_a_notification(
    videos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="sand", player="/nonexistent/player")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
    assert any(m.startswith("cannot start /nonexistent/player") for m in notifications(app))


async def test_playing_a_vanished_video_is_a_notification(videos: dict[str, Path], tmp_path: Path) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="sand", player="mpv")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        videos["beach"].unlink()
        await pilot.press("enter")
        await settle(pilot)
    assert any(m.startswith("video not found: ~/videos/beach.mp4") for m in notifications(app))


async def test_e_exports_a_playable_clip_of_the_moment(videos: dict[str, Path], tmp_path: Path) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="sand")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        folder = app.screen.query_one("#export-folder", Input)
        assert folder.value == str(tmp_path / "exports").replace(str(tmp_path), "~", 1)
        folder.value = str(tmp_path / "picked")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
    clip = tmp_path / "picked" / "beach.0-00-04_0-00-10.mp4"
    with av.open(str(clip)) as container:
        frames = [frame_index_of(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert frames == list(range(40, 100))  # 4 s .. 10 s at 10 fps: 6 s exactly
    assert any("Saved ~/picked/beach.0-00-04_0-00-10.mp4" in m for m in notifications(app))


async def test_export_can_be_cancelled_and_needs_a_selection(videos: dict[str, Path], tmp_path: Path) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "e")  # nothing searched yet
        await settle(pilot)
        assert any("select a moment first" in m for m in notifications(app))
        await pilot.press("slash", *"sand", "enter")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
    assert not (tmp_path / "exports").exists()


async def test_y_copies_path_and_start(
    videos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="sand")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == f"{videos['beach']}:4"
    assert any("Copied ~/videos/beach.mp4:4 (through the terminal)" in m for m in notifications(app))


async def test_status_help_and_quit(videos: dict[str, Path], tmp_path: Path) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "s")
        await settle(pilot)
        assert isinstance(app.screen, StatusScreen)
        shown = rendered(app.screen.query_one("#status-table", Static))
        for expected in ("Videos indexed", "Run in progress", "yes", "/videos/broken.avi", "no video stream"):
            assert expected in shown
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_status_failure_is_shown_not_raised(tmp_path: Path) -> None:
    def broken() -> Any:
        raise OSError(13, "Permission denied", "/lib/catalog.duckdb")

    app = VsearchApp(lambda: FakeSearcher([]), broken, settings=TuiSettings(export_dir=tmp_path, search_delay=60))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "s")
        await settle(pilot)
        shown = rendered(app.screen.query_one("#status-table", Static))
    assert "Cannot read the library: Permission denied: /lib/catalog.duckdb" in shown


async def test_stale_results_never_replace_newer_ones(videos: dict[str, Path], tmp_path: Path) -> None:
    """A slow first search finishing after a second one must not overwrite the second's results."""
    moments = moments_for(videos)

    class SlowFirst(FakeSearcher):
        def search(self, text: str, *, top: int = 10, per_video: int = 3) -> SearchResponse:
            self.queries.append(text)
            if text == "first":
                time.sleep(0.5)
                return SearchResponse(text, moments[:1], [])
            return SearchResponse(text, moments, [])

    searcher = SlowFirst(moments)
    app = make_app(searcher, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one(SearchBox)
        box.post_message(SearchBox.QueryChanged("first", submitted=True))
        await pilot.pause(0.1)  # "first" is now sleeping inside the searcher
        box.post_message(SearchBox.QueryChanged("second", submitted=True))
        await settle(pilot)
        await pilot.pause(0.6)
        await settle(pilot)
        assert searcher.queries[-1] == "second"  # a cancelled search never runs after a newer one
        assert app.query_one(ResultsList).row_count == 3


async def test_spinner_shows_while_searching(videos: dict[str, Path], tmp_path: Path) -> None:
    release = threading.Event()
    moments = moments_for(videos)

    class Blocking(FakeSearcher):
        def search(self, text: str, *, top: int = 10, per_video: int = 3) -> SearchResponse:
            release.wait(10)
            return SearchResponse(text, moments, [])

    app = make_app(Blocking(moments), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"sand", "enter")
        spinner = app.query_one("#spinner")
        for _ in range(100):
            await pilot.pause(0.02)
            if "loading model" in str(spinner.render()):
                break
        assert "loading model\u2026" in str(spinner.render())
        assert spinner.content_region.height >= 1 and spinner.content_region.width > len("loading model")
        release.set()
        await settle(pilot)
        assert str(spinner.render()) == "" and app.query_one(ResultsList).row_count == 3


def test_main_screen_snapshot(snap_compare: Any, videos: dict[str, Path], tmp_path: Path) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="yellow sand")
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_wide_screen_snapshot(snap_compare: Any, videos: dict[str, Path], tmp_path: Path) -> None:
    app = make_app(FakeSearcher(moments_for(videos)), tmp_path, query="yellow sand")

    async def second_result(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(140, 36), run_before=second_result)


def test_help_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(FakeSearcher([]), tmp_path)
    assert snap_compare(app, terminal_size=SIZE, press=["escape", "question_mark"])
