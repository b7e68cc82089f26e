"""The TUI's pure parts: player commands, clipboard tool choice, time formats, timeline cells, stats, errors, frames."""

from __future__ import annotations

import io
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from indexer.videogen import Segment, frame_index_of, write_video
from tui import clipboard
from tui.errors import user_message
from tui.frame_grab import FrameGrabError, grab_frame
from tui.player import PlayerError, player_command
from tui.screens.status import render_stats
from tui.timecode import display_path, ellipsize, hms, moment_range, seconds_arg
from tui.widgets.timeline import EMPTY, OTHER, SELECTED, timeline_cells


def _executable(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def only_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty temp folder (tests add fake programs to it); no $VSEARCH_PLAYER."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("VSEARCH_PLAYER", raising=False)
    return folder


# -- player -----------------------------------------------------------------------------------


def test_known_players_get_their_start_flag() -> None:
    assert player_command("/v/a b.mp4", 12.5, "mpv --fs").argv == ["mpv", "--fs", "--start=12.5", "/v/a b.mp4"]
    assert player_command("/v/a.mp4", 3, "/opt/vlc/vlc").argv == ["/opt/vlc/vlc", "--start-time=3", "/v/a.mp4"]
    assert player_command("/v/a.mp4", 3, "ffplay -autoexit").argv == ["ffplay", "-autoexit", "-ss", "3", "/v/a.mp4"]
    assert player_command("/v/a.mp4", 3, "mpv").seeks


def test_templates_fill_path_and_start() -> None:
    command = player_command("/v/a.mp4", 61.25, "celluloid '--mpv-start={start}' {path}")
    assert command.argv == ["celluloid", "--mpv-start=61.25", "/v/a.mp4"] and command.seeks
    unknown = player_command("/v/a.mp4", 5, "totem")
    assert unknown.argv == ["totem", "/v/a.mp4"] and not unknown.seeks


def test_env_var_is_used_and_explicit_spec_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSEARCH_PLAYER", "vlc")
    assert player_command("/v/a.mp4", 1).argv == ["vlc", "--start-time=1", "/v/a.mp4"]
    assert player_command("/v/a.mp4", 1, "mpv").argv[0] == "mpv"


def test_auto_detection_prefers_mpv_then_vlc_then_the_opener(only_bin: Path) -> None:
    if sys.platform != "linux":
        pytest.skip("the opener fallback checked here is xdg-open")
    with pytest.raises(PlayerError, match="no video player found"):
        player_command("/v/a.mp4", 1)
    opener = _executable(only_bin, "xdg-open")
    assert player_command("/v/a.mp4", 1).argv == [str(opener), "/v/a.mp4"]
    vlc = _executable(only_bin, "vlc")
    assert player_command("/v/a.mp4", 1).argv == [str(vlc), "--start-time=1", "/v/a.mp4"]
    mpv = _executable(only_bin, "mpv")
    assert player_command("/v/a.mp4", 1).argv == [str(mpv), "--start=1", "/v/a.mp4"]


def test_bad_player_specs_are_one_line_errors() -> None:
    with pytest.raises(PlayerError, match="cannot parse player command"):
        player_command("/v/a.mp4", 1, "mpv 'unterminated")
    with pytest.raises(PlayerError, match="empty"):
        player_command("/v/a.mp4", 1, "   ")


# -- clipboard --------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="X11/Wayland tool selection")
def test_clipboard_tool_follows_the_display_server(only_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _executable(only_bin, "xclip")
    _executable(only_bin, "wl-copy")
    assert clipboard.native_copy_command() is None  # e.g. over SSH: the app falls back to OSC 52
    monkeypatch.setenv("DISPLAY", ":0")
    assert clipboard.native_copy_command() == [str(only_bin / "xclip"), "-selection", "clipboard"]
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert clipboard.native_copy_command() == [str(only_bin / "wl-copy")]


@pytest.mark.skipif(sys.platform != "linux", reason="X11 tool selection")
def test_copy_native_pipes_the_text(only_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "clip.txt"
    script = only_bin / "xclip"
    script.write_text(
        f"#!{sys.executable}\nimport sys, pathlib\npathlib.Path({str(out)!r}).write_text(sys.stdin.read())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    assert clipboard.copy_native("/v/a.mp4:12.5")
    assert out.read_text() == "/v/a.mp4:12.5"
    script.write_text("#!/bin/sh\nexit 1\n")
    assert not clipboard.copy_native("x")


# -- time and path formats --------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00:00"), (65.9, "0:01:05"), (3725, "1:02:05"), (-3, "0:00:00")])
def test_hms(seconds: float, text: str) -> None:
    assert hms(seconds) == text


def test_moment_range_rounds_the_end_up() -> None:
    assert moment_range(4.0, 10.0) == "0:00:04\u20130:00:10"
    assert moment_range(4.2, 9.1) == "0:00:04\u20130:00:10"


def test_seconds_arg_and_ellipsize() -> None:
    assert [seconds_arg(x) for x in (0, 12, 12.5, 1 / 3)] == ["0", "12", "12.5", "0.333"]
    assert ellipsize("holiday-2024.mp4", 8) == "holiday\u2026" and ellipsize("a.mp4", 8) == "a.mp4"


def test_display_path_contracts_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert display_path(tmp_path / "videos" / "a.mp4") == os.path.join("~", "videos", "a.mp4")
    assert display_path("/elsewhere/a.mp4") == "/elsewhere/a.mp4"


# -- timeline ---------------------------------------------------------------------------------


def test_timeline_marks_moments_where_they_are() -> None:
    cells = timeline_cells(100.0, 10, (20.0, 40.0), [(80.0, 90.0)])
    assert cells == EMPTY * 2 + SELECTED * 2 + EMPTY * 4 + OTHER + EMPTY


def test_short_moments_stay_visible_and_selected_wins() -> None:
    cells = timeline_cells(3600.0, 20, (1800.0, 1802.0), [(1799.0, 1803.0), (3599.0, 3600.0)])
    assert cells.count(SELECTED) == 1 and cells[10] == SELECTED
    assert cells[-1] == OTHER
    assert timeline_cells(0.0, 4, (0.0, 1.0)) == SELECTED * 4  # unknown duration
    assert timeline_cells(10.0, 0, (0.0, 1.0)) == ""


# -- status and errors ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stats:
    library: str
    videos_indexed: int
    run_in_progress: bool
    index_type: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)


def _text(renderable: object) -> str:
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_render_stats_lists_fields_and_failures() -> None:
    failures = [(f"/v/bad{i}.avi", "moov atom not found") for i in range(25)]
    text = _text(render_stats(_Stats("/lib", 7, True, None, failures)))
    rows = [line.split() for line in text.splitlines()]
    for row in (["Videos", "indexed", "7"], ["Run", "in", "progress", "yes"], ["Index", "type", "-"]):
        assert row in rows
    for row in (["Failures", "25"],):
        assert row in rows
    assert "/v/bad0.avi" in text and "moov atom not found" in text
    assert "/v/bad19.avi" in text and "/v/bad20.avi" not in text and "and 5 more failures" in text


def test_user_message() -> None:
    own = type("EmptyQueryError", (ValueError,), {"__module__": "search.searcher"})
    assert user_message(own("type what you\nare looking for")) == "type what you are looking for"
    missing = FileNotFoundError(2, "No such file or directory", "/x.mp4")
    assert user_message(missing) == "No such file or directory: /x.mp4"
    assert user_message(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"
    assert user_message(RuntimeError()) == "RuntimeError"


# -- frames -----------------------------------------------------------------------------------


def test_grab_frame_returns_the_frame_at_that_second(tmp_path: Path) -> None:
    segments = [Segment(3, (250, 10, 10)), Segment(3, (10, 10, 250))]
    video = write_video(tmp_path / "v.mp4", segments, fps=10, size=(640, 480))
    image = grab_frame(str(video), 4.25)
    assert image.size == (320, 240)
    frame = np.asarray(image.resize((640, 480)))
    assert frame_index_of(frame) == 43  # first frame at or after 4.25 s
    assert frame[300:, :, 2].mean() > 200  # the blue segment
    last = grab_frame(str(video), 99.0)  # past the end: the last frame
    assert frame_index_of(np.asarray(last.resize((640, 480)))) == 59


def test_grab_frame_errors(tmp_path: Path) -> None:
    with pytest.raises(FrameGrabError, match="video not found"):
        grab_frame(str(tmp_path / "none.mp4"), 1.0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(FrameGrabError, match="cannot decode junk.mp4"):
        grab_frame(str(junk), 1.0)


# -- command line -----------------------------------------------------------------------------


def test_cli_builds_the_app_from_its_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tui.app import VsearchApp
    from vsearch.cli import app

    started: list[VsearchApp] = []
    monkeypatch.setattr(VsearchApp, "run", lambda self: started.append(self))
    result = CliRunner().invoke(app, [
        "tui", "a red boat", "--library", str(tmp_path / "lib"), "--player", "mpv --fs",
        "--export-dir", str(tmp_path / "out"), "--top", "5",
    ])
    assert result.exit_code == 0, result.output
    (tui,) = started
    assert tui._initial_query == "a red boat"
    assert (tui.settings.player, tui.settings.export_dir, tui.settings.top) == ("mpv --fs", tmp_path / "out", 5)
    result = CliRunner().invoke(app, ["tui", "--top", "0"])
    assert result.exit_code != 0 and "--top" in result.output
