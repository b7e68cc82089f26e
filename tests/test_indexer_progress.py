"""Progress reporting: a rich bar on terminals, plain lines elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from indexer.progress import LogProgress, RichProgress, make_progress


def drive(progress) -> None:
    progress.begin(to_encode=2, skipped=3)
    progress.video_started("/v/a.mp4", 4)
    progress.clips_encoded("/v/a.mp4", 3)
    progress.clips_encoded("/v/a.mp4", 1)
    progress.video_done("/v/a.mp4", True, "4 clips")
    progress.video_started("/v/b.mp4", 2)
    progress.video_done("/v/b.mp4", False, "no video stream (audio-only or data file)")
    progress.message("relinked /v/c.mp4 -> /v/d.mp4")
    progress.end()


def test_plain_lines_name_each_video_and_its_outcome() -> None:
    out = io.StringIO()
    drive(LogProgress(out, every=0.0))
    lines = out.getvalue().splitlines()
    assert lines[0] == "indexing 2 video(s), 3 unchanged"
    assert "[1/2] indexed /v/a.mp4: 4 clips" in lines
    assert "[2/2] failed /v/b.mp4: no video stream (audio-only or data file)" in lines
    assert any(line.startswith("... 0/2 videos, 3 clips") for line in lines)  # heartbeat
    assert lines[-1] == "relinked /v/c.mp4 -> /v/d.mp4"


def test_rich_bar_shows_videos_clips_rate_and_eta() -> None:
    out = io.StringIO()
    progress = RichProgress(console=Console(file=out, force_terminal=True, width=160))
    drive(progress)
    text = out.getvalue()
    assert "2/2 videos" in text and "4 clips" in text and "clips/s" in text and "ETA" in text
    assert "failed" in text and "/v/b.mp4" in text
    assert progress.progress.tasks[0].completed == progress.progress.tasks[0].total == 2


def test_make_progress_picks_plain_lines_off_a_terminal() -> None:
    assert isinstance(make_progress(io.StringIO()), LogProgress)
