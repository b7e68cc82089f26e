"""`vsearch index`, `vsearch status --json` and `vsearch reindex-vectors` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.videogen import Segment, write_video
from vsearch.cli import app

runner = CliRunner()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "clips"
    root.mkdir()
    write_video(root / "a.mp4", [Segment(4.0, (200, 0, 0))])
    write_video(root / "b.mkv", [Segment(3.0, (0, 0, 200))])
    (root / "broken.mp4").write_bytes(b"\x00\x01garbage" * 100)
    return root


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_index_then_status_json_has_the_documented_shape(folder: Path, tmp_path: Path) -> None:
    lib = str(tmp_path / "lib")
    code, out, err = invoke("index", str(folder), "--library", lib, "--encoder", "tiny", "--json")
    assert code == 0, err  # a failed video is reported, not fatal
    summary = json.loads(out)
    assert (summary["indexed"], summary["failed"], summary["clips_added"]) == (2, 1, 2 + 2)
    assert summary["failures"][0]["path"].endswith("broken.mp4")

    code, out, err = invoke("status", "--library", lib, "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["library"] == lib
    assert {k: status["encoder"][k] for k in ("name", "dim", "clip_seconds")} == {
        "name": "tiny", "dim": 32, "clip_seconds": 2.0}
    assert status["videos"] == {"indexed": 2, "failed": 1}
    assert status["clips"] == status["vectors"] == 4
    assert [f["path"] for f in status["failures"]] == [str(folder / "broken.mp4")]
    assert isinstance(status["failures"][0]["error"], str) and status["failures"][0]["error"]
    assert {"library", "encoder", "videos", "clips", "vectors", "failures"} <= set(status)

    code, out, _ = invoke("status", "--library", lib)
    assert code == 0 and "2 indexed, 1 failed" in out and "broken.mp4" in out

    code, out, err = invoke("reindex-vectors", "--library", lib, "--json")
    assert code == 0, err
    assert json.loads(out)["vectors"] == 4

    code, out, _ = invoke("index", str(folder), "--library", lib)
    assert code == 0
    assert "indexed 0, skipped 3, failed 0" in out


def test_human_summary_and_plain_progress_lines(folder: Path, tmp_path: Path) -> None:
    code, out, err = invoke("index", str(folder / "a.mp4"), "--library", str(tmp_path / "lib"), "--encoder", "tiny",
                            "--decoder", "pyav")
    assert code == 0
    assert "indexed 1, skipped 0, failed 0" in out and "clips/s" in out
    assert "indexing 1 video(s)" in err and "[1/1] indexed" in err  # not a TTY: log lines


@pytest.mark.parametrize("args, code, message", [
    (["index", "/definitely/not/here"], 2, "no such file or directory"),
    (["index", "{empty}", "--device", "tpu"], 2, "--device must be one of"),
    (["index", "{empty}", "--encoder", "nonexistent_pkg.mod:Enc"], 2, "cannot import encoder module"),
    (["index", "{empty}", "--clip-seconds", "-2"], 2, "clip seconds must be positive"),
    (["index", "{empty}", "--decoder", "ffmpeg"], 2, "--decoder must be auto, pyav or decord"),
    (["status"], 1, "no library at"),
    (["reindex-vectors"], 1, "no library at"),
])
def test_user_errors_are_one_line(args: list[str], code: int, message: str, tmp_path: Path) -> None:
    exit_code, out, err = invoke(*[a.replace("{empty}", str(tmp_path)) for a in args])
    assert exit_code == code
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err + out


def test_encoder_mismatch_exits_1_with_one_line(folder: Path, tmp_path: Path) -> None:
    lib = str(tmp_path / "lib")
    assert invoke("index", str(folder / "a.mp4"), "--library", lib, "--encoder", "tiny")[0] == 0
    code, _, err = invoke("index", str(folder), "--library", lib, "--encoder", "tests.plugins_indexer:BarcodeEncoder")
    assert code == 1 and "is bound to encoder tiny" in err and len(err.strip().splitlines()) == 1
