"""The TUI over the real stack: generated videos -> `vsearch index` -> the real Searcher, driven by Pilot.

The library is indexed with the deterministic colour encoder plug-in (tests/plugins), so a colour
word finds the segment of that colour and the expected file is known exactly.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import av
import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static
from typer.testing import CliRunner

from indexer.videogen import Segment, frame_index_of, write_video
from tui.app import VsearchApp
from tui.backend import searcher_factory, stats_reader
from tui.screens.export import ExportScreen
from tui.screens.status import StatusScreen
from tui.settings import TuiSettings
from tui.timecode import moment_range
from tui.widgets.results_list import ResultsList
from vsearch.cli import app as cli_app

pytestmark = pytest.mark.anyio
COLOR_ENCODER = "tests.plugins.color_encoder:ColorEncoder"
FPS = 10
RED_IN_A = (10.0, 18.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tui-library")
    videos = root / "videos"
    videos.mkdir()
    blue, red, green, dark_red, yellow = (0, 0, 255), (255, 0, 0), (0, 255, 0), (200, 40, 40), (255, 255, 0)
    write_video(videos / "a.mp4", [Segment(10, blue), Segment(8, red), Segment(12, blue)], fps=FPS, size=(64, 48))
    write_video(videos / "b.mp4", [Segment(6, green), Segment(6, dark_red), Segment(8, green)], fps=FPS, size=(64, 48))
    write_video(videos / "c.mp4", [Segment(20, yellow)], fps=FPS, size=(64, 48))
    result = CliRunner().invoke(
        cli_app,
        ["index", str(videos), "--library", str(root / "library"), "--encoder", COLOR_ENCODER,
         "--device", "cpu", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"] == 3
    return root


def make_app(library_dir: Path, tmp_path: Path, *, grounding: str = "none", query: str = "") -> VsearchApp:
    settings = TuiSettings(export_dir=tmp_path / "exports", search_delay=60.0)
    return VsearchApp(
        searcher_factory(library_dir, grounding=grounding, device="cpu"),
        stats_reader(library_dir),
        settings=settings,
        query=query,
    )


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(100):
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            return


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def notifications(app: VsearchApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_query_finds_the_file_and_selection_drives_the_detail_pane(library: Path, tmp_path: Path) -> None:
    app = make_app(library / "library", tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"red", "enter")
        await settle(pilot)
        results = app.query_one(ResultsList)
        first = results.selected
        assert first is not None and Path(first.path).name == "a.mp4"
        assert overlap((first.start, first.end), RED_IN_A) >= 0.5
        info = str(app.query_one("#detail-info", Static).render())
        assert "a.mp4" in info and str(library / "videos" / "a.mp4") in info.replace("\n", "")
        # the next file is b.mp4 (its dark red segment), then nothing yellow-only ranks above it
        row_b = next(i for i, m in enumerate(results.moments) if Path(m.path).name != "a.mp4")
        assert Path(results.moments[row_b].path).name == "b.mp4"
        for _ in range(row_b):
            await pilot.press("j")
        await settle(pilot)
        assert results.selected is results.moments[row_b]
        info = str(app.query_one("#detail-info", Static).render())
        assert "b.mp4" in info and moment_range(results.selected.start, results.selected.end) in info
        assert overlap((results.selected.start, results.selected.end), (6.0, 12.0)) >= 0.5


async def test_enter_plays_and_e_exports_the_found_moment(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "player-args.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mpv = bin_dir / "mpv"
    mpv.write_text(
        f"#!{sys.executable}\nimport sys, pathlib\npathlib.Path({str(record)!r}).write_text('\\n'.join(sys.argv[1:]))\n"
    )
    mpv.chmod(mpv.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("VSEARCH_PLAYER", raising=False)

    app = make_app(library / "library", tmp_path, query="red")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        moment = app.query_one(ResultsList).selected
        assert moment is not None and Path(moment.path).name == "a.mp4"
        await pilot.press("enter")
        deadline = time.monotonic() + 10
        while not record.exists() and time.monotonic() < deadline:
            await pilot.pause(0.05)
        start_flag, path = record.read_text().splitlines()
        assert path == moment.path
        assert float(start_flag.removeprefix("--start=")) == pytest.approx(moment.start, abs=1e-3)

        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-folder", Input).value = str(tmp_path / "clips")
        await pilot.press("enter")
        await settle(pilot)
    (clip,) = (tmp_path / "clips").iterdir()
    with av.open(str(clip)) as container:
        frames = [frame_index_of(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    first_frame, n_frames = round(moment.start * FPS), round((moment.end - moment.start) * FPS)
    assert frames == list(range(first_frame, first_frame + n_frames))


async def test_status_shows_the_real_library(library: Path, tmp_path: Path) -> None:
    app = make_app(library / "library", tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("escape", "s")
        await settle(pilot)
        assert isinstance(app.screen, StatusScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#status-table", Static).content)
        text = console.export_text()
    rows = {line.split("  ")[0].strip(): line.split("  ", 1)[-1].strip() for line in text.splitlines() if line.strip()}
    assert rows["Videos indexed"] == "3"
    assert rows["Videos failed"] == "0"
    assert rows["Run in progress"] == "no"


async def test_missing_library_is_a_notification(tmp_path: Path) -> None:
    app = make_app(tmp_path / "no-library-here", tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"red", "enter")
        await settle(pilot)
        assert app.query_one(ResultsList).row_count == 0
    (message,) = notifications(app)
    assert "no-library-here" in message and "Traceback" not in message and "\n" not in message


async def test_missing_checkpoint_is_a_notification(library: Path, tmp_path: Path) -> None:
    app = make_app(library / "library", tmp_path, grounding=str(tmp_path / "no-such-run"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"red", "enter")
        await settle(pilot)
        assert app.query_one(ResultsList).row_count == 0
    (message,) = notifications(app)
    assert "no-such-run" in message and "\n" not in message
