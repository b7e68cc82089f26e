"""`vsearch query` and `vsearch config`: output shapes, exit codes, grounding checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.plugins.synthetic_library import build_color_library
from vsearch.cli import app

VIDEOS = {
    "/v/film.mkv": [(8400.0, "gray"), (40.0, "cyan"), (2000.0, "gray")],
    "/v/park.mp4": [(100.0, "green"), (30.0, "red"), (170.0, "green")],
    "/v/clip.mp4": [(6.0, "cyan")],  # a 3-clip window in the same grounding batch as 75-clip ones
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "library"
    build_color_library(directory, VIDEOS)
    return directory


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def make_checkpoint(run_dir: Path, *, dim: int = 10, encoder_name: str = "test-color") -> Path:
    """A tiny randomly-initialised QD-DETR run dir for features of ``dim`` from ``encoder_name``."""
    from grounding.checkpoint import CheckpointMeta, save_checkpoint
    from grounding.config_tree import override, to_dict
    from grounding.models import build_model, preset

    config = override(preset("qd_detr"), {"model": {"video_dim": dim, "text_dim": dim, "hidden_dim": 16,
                                                    "num_heads": 2, "dim_feedforward": 32}})
    encoder = {"name": encoder_name, "model_id": f"{encoder_name}-v1", "dim": dim, "clip_seconds": 2.0}
    save_checkpoint(run_dir, build_model("qd_detr", config), CheckpointMeta(
        model="qd_detr", config=to_dict(config), video_dim=dim, text_dim=dim, clip_seconds=2.0, encoder=encoder))
    return run_dir


def test_json_has_the_documented_shape(library: Path) -> None:
    result = run("query", "cyan", "--library", str(library), "--json", "--grounding", "none", "--device", "cpu")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["query"] == "cyan"
    first = next(r for r in doc["results"] if r["path"] == "/v/film.mkv")
    for key, kind in [("path", str), ("start", float), ("end", float), ("score", float), ("video_duration", float),
                      ("clip_seconds", float), ("saliency", list), ("saliency_start", float)]:
        assert isinstance(first[key], kind), key
    assert (first["start"], first["end"]) == (8400.0, 8440.0)
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)


def test_table_shows_rank_file_timecodes_and_sparkline(library: Path) -> None:
    result = run("query", "cyan", "--library", str(library), "--path", "*film*")
    assert result.exit_code == 0, result.output
    assert "film.mkv" in result.stdout and "2:20:00–2:20:40" in result.stdout
    assert any(ch in result.stdout for ch in "▁▂▃▄▅▆▇█")


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_query_is_a_usage_error(library: Path, text: str) -> None:
    result = run("query", text, "--library", str(library))
    assert result.exit_code == 2
    assert "query is empty" in result.output


def test_bad_durations_are_usage_errors(library: Path) -> None:
    assert run("query", "red", "--library", str(library), "--min-duration", "9", "--max-duration", "3").exit_code == 2
    assert run("query", "red", "--library", str(library), "--top", "0").exit_code == 2


def test_missing_or_empty_library_is_a_clear_message_and_exit_0(tmp_path: Path) -> None:
    result = run("query", "red", "--library", str(tmp_path / "nowhere"), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"] == []
    assert "vsearch index" in result.stderr
    from indexer.library import Library

    Library.open(tmp_path / "blank").close()  # exists, never indexed
    result = run("query", "red", "--library", str(tmp_path / "blank"))
    assert result.exit_code == 0 and "no videos indexed" in result.stderr


def test_long_query_warns_on_stderr(library: Path) -> None:
    result = run("query", "red " + "word " * 30, "--library", str(library), "--json")
    assert result.exit_code == 0
    assert "truncated" in result.stderr
    assert json.loads(result.stdout)["warnings"]


def test_config_set_get_unset(library: Path, tmp_path: Path) -> None:
    assert "grounding is unset" in run("config", "get", "grounding", "--library", str(library)).stdout
    assert run("config", "set", "grounding", "none", "--library", str(library)).exit_code == 0
    got = run("config", "get", "--library", str(library), "--json")
    assert json.loads(got.stdout) == {"grounding": "none", "encoder_path": None}
    weights = tmp_path / "weights"
    weights.mkdir()
    assert run("config", "set", "encoder_path", str(weights), "--library", str(library)).exit_code == 0
    assert json.loads(run("config", "get", "encoder_path", "--library", str(library), "--json").stdout) == {
        "encoder_path": str(weights)}
    missing = run("config", "set", "grounding", str(tmp_path / "no-run"), "--library", str(library))
    assert missing.exit_code == 1 and "no checkpoint" in missing.stderr and "Traceback" not in missing.output
    assert run("config", "set", "colour", "x", "--library", str(library)).exit_code == 2
    typo = run("config", "set", "grounding", "none", "--library", str(tmp_path / "typo"))
    assert typo.exit_code == 1 and "no library at" in typo.stderr and not (tmp_path / "typo").exists()
    assert run("config", "unset", "grounding", "--library", str(library)).exit_code == 0
    assert "grounding is unset" in run("config", "get", "grounding", "--library", str(library)).stdout


def test_mismatched_checkpoint_is_refused_naming_both(library: Path, tmp_path: Path) -> None:
    other = make_checkpoint(tmp_path / "clip-run", dim=512, encoder_name="clip")
    for args in (("config", "set", "grounding", str(other)), ("query", "red", "--grounding", str(other))):
        result = run(*args, "--library", str(library))
        assert result.exit_code == 1, result.output
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1
        assert "clip (clip-v1, dim 512" in message and "test-color (test-color-v1, dim 10" in message


def test_configured_checkpoint_grounds_all_windows(library: Path, tmp_path: Path) -> None:
    checkpoint = make_checkpoint(tmp_path / "run")
    assert run("config", "set", "grounding", str(checkpoint), "--library", str(library)).exit_code == 0
    try:
        result = run("query", "cyan", "--library", str(library), "--json", "--per-video", "2")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["grounding"] == str(checkpoint.resolve())
        assert doc["results"]
        for moment in doc["results"]:
            assert 0 <= moment["start"] < moment["end"] <= moment["video_duration"]
            assert moment["saliency_start"] <= moment["start"]
            assert moment["end"] <= moment["saliency_start"] + len(moment["saliency"]) * moment["clip_seconds"] + 1e-6
        assert sum(m["path"] == "/v/film.mkv" for m in doc["results"]) <= 2
        assert {"/v/film.mkv", "/v/clip.mp4"} <= {m["path"] for m in doc["results"]}
        # An explicit --grounding none overrides the configured checkpoint.
        free = json.loads(run("query", "cyan", "--library", str(library), "--json", "--grounding", "none").stdout)
        assert free["grounding"] == "none"
    finally:
        run("config", "unset", "grounding", "--library", str(library))


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00:00"), (59.9, "0:00:59"), (3725.4, "1:02:05"), (10800, "3:00:00")])
def test_timecode(seconds: float, text: str) -> None:
    from search.cli import timecode

    assert timecode(seconds) == text


def test_sparkline_keeps_peaks_and_highlights_the_moment() -> None:
    from search.cli import sparkline
    from search.ranking import Moment

    saliency = [0.0] * 75
    saliency[40] = 1.0  # one peak clip at 80-82 s of a window starting at 1000 s
    moment = Moment(path="v", video_id=1, start=1078.0, end=1086.0, score=0.9, video_duration=4000.0,
                    clip_seconds=2.0, saliency=saliency, saliency_start=1000.0, best_time=1080.0)
    line = sparkline(moment, width=15)
    assert len(line.plain) == 15 and line.plain.count("█") == 1 and line.plain.index("█") == 8
    highlighted = [i for i in range(15) if any("bold" in str(span.style) and span.start <= i < span.end
                                               for span in line.spans)]
    assert highlighted == [7, 8]
