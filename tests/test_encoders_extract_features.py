"""`vsearch extract-features` on generated videos with the tiny encoder: layout, content, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from grounding.data.features import TEXT_KEY, VIDEO_KEY
from grounding.extract_features import META_FILENAME, ExtractionError, extract_features, read_queries
from indexer.encoders import load_encoder
from indexer.videogen import Segment, write_video
from vsearch.cli import app

RED, GREEN, BLUE = (220, 30, 30), (30, 220, 30), (30, 30, 220)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    videos = root / "videos"
    (videos / "nested").mkdir(parents=True)
    write_video(videos / "vidA_0_6.mp4", [Segment(2, RED), Segment(2, GREEN), Segment(2, BLUE)], fps=8, size=(64, 48))
    write_video(videos / "nested" / "vidB_10_15.mkv", [Segment(5, BLUE)], fps=8, size=(64, 48))
    (videos / "vidBroken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    rows = [
        {"qid": 1, "query": "a red car", "vid": "vidA_0_6", "duration": 6},
        {"qid": 2, "query": "blue sky", "vid": "vidA_0_6", "duration": 6},
        {"qid": 7, "query": "the sea", "vid": "vidB_10_15", "duration": 5},
        {"qid": 8, "query": "broken", "vid": "vidBroken", "duration": 6},
        {"qid": 9, "query": "gone", "vid": "vidMissing", "duration": 6},
    ]
    (root / "ann.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def _run(dataset: Path, out: Path, *extra: str) -> dict:
    result = CliRunner().invoke(app, [
        "extract-features", "--annotations", str(dataset / "ann.jsonl"), "--videos", str(dataset / "videos"),
        "--out-video", str(out / "video"), "--out-text", str(out / "text"), "--encoder", "tiny",
        "--device", "cpu", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_writes_public_layout_with_encoder_features(dataset: Path, tmp_path: Path) -> None:
    summary = _run(dataset, tmp_path)
    assert summary["videos_written"] == 2 and summary["texts_written"] == 5 and summary["clips"] == 3 + 3
    assert summary["missing"] == ["vidMissing"]
    assert [f["vid"] for f in summary["failed"]] == ["vidBroken"]

    feats = np.load(tmp_path / "video" / "vidA_0_6.npz")[VIDEO_KEY]
    assert feats.shape == (3, 32) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    # 5 s video: clips [0,2) [2,4) and the 1 s tail (kept: at least half a clip).
    assert np.load(tmp_path / "video" / "vidB_10_15.npz")[VIDEO_KEY].shape == (3, 32)

    # Each clip of vidA is closest to the tiny encoding of a solid frame of its own colour.
    tiny = load_encoder("tiny", device="cpu")
    solid = np.stack([np.full((2, 48, 64, 3), c, dtype=np.uint8) for c in (RED, GREEN, BLUE)])
    reference = tiny.encode_clips(solid)
    assert (feats @ reference.T).argmax(axis=1).tolist() == [0, 1, 2]

    tokens = np.load(tmp_path / "text" / "qid1.npz")[TEXT_KEY]
    np.testing.assert_allclose(tokens, tiny.encode_text(["a red car"])[0].tokens, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "text").glob("qid*.npz")) == [f"qid{q}.npz" for q in (1, 2, 7, 8, 9)]
    meta = json.loads((tmp_path / "video" / META_FILENAME).read_text())
    assert meta["encoder"]["name"] == "tiny" and meta["encoder"]["clip_seconds"] == 2.0
    assert not list(tmp_path.rglob("*.tmp"))


def test_resume_keeps_finished_files_and_redoes_missing_ones(dataset: Path, tmp_path: Path) -> None:
    _run(dataset, tmp_path)
    first = np.load(tmp_path / "video" / "vidB_10_15.npz")[VIDEO_KEY]
    (tmp_path / "video" / "vidA_0_6.npz").unlink()
    (tmp_path / "text" / "qid7.npz").write_bytes(b"truncated")  # unreadable -> redone
    summary = _run(dataset, tmp_path)
    assert (summary["videos_written"], summary["videos_skipped"]) == (1, 1)
    assert (summary["texts_written"], summary["texts_skipped"]) == (1, 4)
    np.testing.assert_array_equal(np.load(tmp_path / "video" / "vidB_10_15.npz")[VIDEO_KEY], first)
    assert np.load(tmp_path / "text" / "qid7.npz")[TEXT_KEY].shape[1] == 32


def test_refuses_to_mix_clip_lengths(dataset: Path, tmp_path: Path) -> None:
    tiny = load_encoder("tiny", device="cpu")
    kwargs = dict(annotations=dataset / "ann.jsonl", videos=dataset / "videos", out_video=tmp_path / "v",
                  out_text=tmp_path / "t")
    extract_features(tiny, clip_seconds=2.0, **kwargs)
    with pytest.raises(ExtractionError, match="another encoder or clip length"):
        extract_features(tiny, clip_seconds=1.0, **kwargs)


def test_bad_inputs_are_one_line_errors(dataset: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": 1, "vid": "x"}\n')
    result = CliRunner().invoke(app, ["extract-features", "--annotations", str(bad), "--videos", str(tmp_path),
                                      "--out-video", str(tmp_path / "v"), "--out-text", str(tmp_path / "t"),
                                      "--encoder", "tiny", "--device", "cpu"])
    assert result.exit_code == 2 and "needs 'qid', 'query' and 'vid'" in result.output
    result = CliRunner().invoke(app, ["extract-features", "--annotations", str(dataset / "ann.jsonl"),
                                      "--videos", str(tmp_path / "nowhere"), "--out-video", str(tmp_path / "v"),
                                      "--out-text", str(tmp_path / "t"), "--encoder", "tiny", "--device", "cpu"])
    assert result.exit_code == 2 and "videos folder not found" in result.output
    result = CliRunner().invoke(app, ["extract-features", "--annotations", str(dataset / "ann.jsonl"),
                                      "--videos", str(tmp_path), "--out-video", str(tmp_path / "v"),
                                      "--out-text", str(tmp_path / "t"), "--encoder", "nope"])
    assert result.exit_code == 1 and "unknown encoder 'nope'" in result.output


def test_read_queries_rejects_duplicate_qids(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"qid": 1, "query": "a", "vid": "v"}\n{"qid": 1, "query": "b", "vid": "v"}\n')
    with pytest.raises(ValueError, match="qid 1 appears twice"):
        read_queries(path)


def test_default_encoder_is_the_librarys(dataset: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    runner = CliRunner()
    indexed = runner.invoke(app, ["index", str(dataset / "videos" / "nested"), "--library", str(library),
                                  "--encoder", "tiny", "--device", "cpu"])
    assert indexed.exit_code == 0, indexed.output
    result = runner.invoke(app, ["extract-features", "--annotations", str(dataset / "ann.jsonl"),
                                 "--videos", str(dataset / "videos"), "--out-video", str(tmp_path / "v"),
                                 "--out-text", str(tmp_path / "t"), "--library", str(library), "--device", "cpu",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["encoder"] == "tiny"
    assert json.loads((tmp_path / "v" / META_FILENAME).read_text())["encoder"]["spec"] == "tiny"
