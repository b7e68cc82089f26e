"""End to end: generated videos -> `vsearch index` with the colour plug-in -> `vsearch query`.

Also checks that a long-lived Searcher keeps answering while another process writes the library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.videogen import Segment, write_video
from search.ranking import temporal_iou
from search.searcher import Searcher
from tests.plugins.synthetic_library import build_color_library
from vsearch.cli import app

REPO = Path(__file__).resolve().parents[1]
COLOR_ENCODER = "tests.plugins.color_encoder:ColorEncoder"
GRAY, MAGENTA, RED, DARK_RED, BLUE, GREEN = (128, 128, 128), (255, 0, 255), (255, 0, 0), (200, 40, 40), (0, 0, 255), (0, 255, 0)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    videos = root / "videos"
    videos.mkdir()
    # 45 minutes at 1 fps, 32x24: a magenta shot at 41:00-41:30.
    write_video(videos / "long.mp4", [Segment(2460, GRAY), Segment(30, MAGENTA), Segment(210, GRAY)], fps=1, size=(32, 24))
    write_video(videos / "a.mp4", [Segment(10, BLUE), Segment(8, RED), Segment(12, BLUE)], fps=10, size=(64, 48))
    write_video(videos / "b.mp4", [Segment(6, GREEN), Segment(6, DARK_RED), Segment(8, GREEN)], fps=10, size=(64, 48))
    write_video(videos / "tiny.mp4", [Segment(6, GREEN)], fps=10, size=(64, 48))
    result = CliRunner().invoke(app, ["index", str(videos), "--library", str(root / "library"),
                                      "--encoder", COLOR_ENCODER, "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"] == 4
    return root


def query(root: Path, text: str, *extra: str) -> list[dict]:
    result = CliRunner().invoke(app, ["query", text, "--library", str(root / "library"), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


def test_segment_deep_in_a_long_video(indexed: Path) -> None:
    best = query(indexed, "the magenta shot")[0]
    assert Path(best["path"]).name == "long.mp4"
    assert temporal_iou((best["start"], best["end"]), (2460.0, 2490.0)) >= 0.5, best
    assert best["video_duration"] == pytest.approx(2700, abs=2)


def test_competing_segments_in_several_videos(indexed: Path) -> None:
    results = query(indexed, "red")
    assert [Path(r["path"]).name for r in results[:2]] == ["a.mp4", "b.mp4"]
    assert temporal_iou((results[0]["start"], results[0]["end"]), (10.0, 18.0)) >= 0.5
    assert temporal_iou((results[1]["start"], results[1]["end"]), (6.0, 12.0)) >= 0.5
    assert results[0]["score"] > results[1]["score"]


def test_a_six_second_clip_is_found_whole(indexed: Path) -> None:
    results = query(indexed, "green", "--path", "*tiny*")
    assert len(results) == 1 and Path(results[0]["path"]).name == "tiny.mp4"
    assert (results[0]["start"], results[0]["end"]) == (0.0, 6.0)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from indexer.library import Library
    from tests.plugins.synthetic_library import add_color_video, color_identity

    library_dir, count = Path(sys.argv[1]), int(sys.argv[2])
    with Library.create_or_open(library_dir, color_identity()) as library:
        print("writing", flush=True)
        for i in range(count):
            add_color_video(library, f"/new/{i:03d}.mp4", [(20.0, "blue"), (10.0, "yellow"), (30.0, "blue")])
            time.sleep(0.25)
    print("done", flush=True)
""")


def test_searcher_keeps_answering_while_another_process_writes(tmp_path: Path) -> None:
    library_dir = tmp_path / "library"
    build_color_library(library_dir, {"/old/park.mp4": [(100.0, "green"), (30.0, "red"), (170.0, "green")]})
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(library_dir), "12"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        seen_counts: list[int] = []
        with Searcher(library_dir, grounding="none", device="cpu") as searcher:
            while writer.poll() is None:
                response = searcher.search("red")
                assert response.results[0].path == "/old/park.mp4"
                assert temporal_iou((response.results[0].start, response.results[0].end), (100.0, 130.0)) >= 0.5
                seen_counts.append(len({m.path for m in searcher.search("yellow", top=50, per_video=1).results}))
            _, stderr = writer.communicate(timeout=60)
            assert writer.returncode == 0, stderr
            time.sleep(1.1)  # past the store's refresh interval (StoreConfig.refresh_interval_s = 1 s)
            final = searcher.search("yellow", top=50, per_video=1).results
    finally:
        if writer.poll() is None:
            writer.kill()
    assert len({m.path for m in final}) == 12
    assert any(0 < n < 12 for n in seen_counts), seen_counts  # some queries ran mid-write
