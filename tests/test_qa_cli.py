"""QA: hostile and edge-case input to the user-facing commands, through the real Typer app.

Every case here was a defect found by using vsearch as a user would; each test pins the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.videogen import Segment, write_video
from vsearch.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "a.mp4", [Segment(2.0, (200, 30, 30))])
    return root


@pytest.mark.parametrize("value", ["0", "nan", "inf"])
def test_index_rejects_non_positive_or_non_finite_clip_seconds(value: str, folder: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    code, out, err = invoke("index", str(folder), "--library", str(lib), "--encoder", "tiny", "--clip-seconds", value)
    assert code == 2, out + err
    assert "clip seconds must be positive and finite" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


@pytest.mark.parametrize("which", ["--predictions", "--annotations"])
def test_eval_on_a_binary_file_is_one_line_error(which: str, tmp_path: Path) -> None:
    text = tmp_path / "ok.jsonl"
    text.write_text('{"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 2]]}\n')
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"qid": 1}\n\xff\xfe\x00garbage\n')
    files = {"--predictions": str(text), "--annotations": str(text), which: str(binary)}
    code, out, err = invoke("eval", *[part for item in files.items() for part in item])
    assert code == 2, out + err
    assert f"{binary}: not UTF-8 text" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err
