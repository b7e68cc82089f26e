"""QA: hostile and edge-case input to the user-facing commands, through the real Typer app.

Every case here was a defect found by using vsearch as a user would; each test pins the fix.
"""

from __future__ import annotations

import json
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


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """A one-video grounding dataset whose second query is far over the tiny encoder's 32 tokens."""
    root = tmp_path / "dataset"
    (root / "videos").mkdir(parents=True)
    write_video(root / "videos" / "v1.mp4", [Segment(2.0, (30, 30, 200))])
    rows = [{"qid": 1, "query": "blue", "vid": "v1"}, {"qid": 2, "query": "blue " * 100, "vid": "v1"}]
    (root / "ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _extract(dataset: Path, out_video: Path, out_text: Path) -> tuple[int, str, str]:
    return invoke("extract-features", "--annotations", str(dataset / "ann.jsonl"), "--videos",
                  str(dataset / "videos"), "--out-video", str(out_video), "--out-text", str(out_text),
                  "--encoder", "tiny")


def test_extract_features_into_a_file_is_one_line_error(dataset: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    code, out, err = _extract(dataset, a_file, tmp_path / "text")
    assert code == 2, out + err
    assert f"{a_file} is a file, not a folder" in err and "Traceback" not in out + err


def test_extract_features_reports_truncated_queries_once(dataset: Path, tmp_path: Path) -> None:
    code, out, err = _extract(dataset, tmp_path / "video", tmp_path / "text")
    assert code == 0, out + err
    assert (tmp_path / "text" / "qid2.npz").is_file()
    assert "UserWarning" not in err and "Token indices" not in err
    assert err.count("truncated") == 1 and "warning: queries over tiny's token limit were truncated" in err


def test_over_long_query_warns_once_without_transformers_log(folder: Path, tmp_path: Path) -> None:
    lib = str(tmp_path / "lib")
    assert invoke("index", str(folder), "--library", lib, "--encoder", "tiny")[0] == 0
    code, out, err = invoke("query", "red " * 200, "--library", lib, "--json")
    assert code == 0, err
    assert json.loads(out)["results"]
    assert "Token indices" not in err and err.count("truncated for tiny") == 1


@pytest.mark.parametrize("device", ["tpu", "cuda:x", ""])
def test_query_with_a_malformed_device_is_a_usage_error(device: str, folder: Path, tmp_path: Path) -> None:
    # `vsearch index --device tpu` exits 2 (bad option); `vsearch query` used to exit 1 for the same typo.
    code, out, err = invoke("query", "red", "--library", str(tmp_path / "lib"), "--device", device)
    assert code == 2, out + err
    assert "unknown device" in err and "Traceback" not in out + err


def test_query_json_on_a_missing_library_has_the_documented_keys(tmp_path: Path) -> None:
    code, out, err = invoke("query", "red", "--library", str(tmp_path / "nowhere"), "--json")
    assert code == 0, err
    assert set(json.loads(out)) == {"query", "results", "warnings", "grounding"}


def test_predict_with_truncated_weights_is_one_line_error(tmp_path: Path) -> None:
    from grounding.checkpoint import CheckpointMeta, save_checkpoint
    from grounding.config_tree import to_dict
    from grounding.models import build_model, preset

    config = preset("qd_detr", "tiny")
    run = tmp_path / "run"
    save_checkpoint(run, build_model("qd_detr", config),
                    CheckpointMeta(model="qd_detr", config=to_dict(config), video_dim=32, text_dim=32,
                                   clip_seconds=2.0))
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a copy cut short
    annotations = tmp_path / "val.jsonl"
    annotations.write_text('{"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 2]]}\n')
    code, out, err = invoke("predict", "--checkpoint", str(run), "--annotations", str(annotations),
                            "--video-features", str(tmp_path), "--text-features", str(tmp_path),
                            "--out", str(tmp_path / "p.jsonl"))
    assert code == 2, out + err
    assert f"{weights}: not a readable safetensors file" in err and "Traceback" not in out + err


def test_train_refuses_to_overwrite_a_finished_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")  # any earlier run: its weights must survive a repeated command
    (run / "model.safetensors").write_bytes(b"weights")
    annotations = tmp_path / "a.jsonl"
    annotations.write_text('{"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 2]]}\n')
    code, out, err = invoke("train", "--train", str(annotations), "--val", str(annotations), "--video-features",
                            str(tmp_path), "--text-features", str(tmp_path), "--out", str(run))
    assert code == 2, out + err
    assert f"{run} already holds a training run: continue it with --resume" in err
    assert (run / "model.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize("key", ["grounding", "encoder_path"])
def test_config_set_with_an_empty_value_is_a_usage_error(key: str, folder: Path, tmp_path: Path) -> None:
    lib = str(tmp_path / "lib")
    assert invoke("index", str(folder), "--library", lib, "--encoder", "tiny")[0] == 0
    code, out, err = invoke("config", "set", key, "  ", "--library", lib)
    assert code == 2, out + err
    assert f"vsearch config unset {key}" in err
    code, out, _ = invoke("config", "get", key, "--library", lib, "--json")
    assert code == 0 and json.loads(out) == {key: None}  # nothing was stored


def test_bench_index_rejects_negative_long_minutes() -> None:
    code, out, err = invoke("bench", "index", "--long-minutes", "-1")
    assert code == 2 and "--long-minutes" in err


def test_index_with_library_pointing_at_a_file_says_so(folder: Path) -> None:
    not_a_dir = folder / "a.mp4"
    code, out, err = invoke("index", str(folder), "--library", str(not_a_dir), "--encoder", "tiny")
    assert code == 1, out + err
    assert f"--library {not_a_dir} is a file, not a library directory" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err


@pytest.mark.parametrize("which", ["--predictions", "--annotations"])
def test_eval_on_a_directory_says_it_is_one(which: str, tmp_path: Path) -> None:
    text = tmp_path / "ok.jsonl"
    text.write_text('{"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 2]]}\n')
    files = {"--predictions": str(text), "--annotations": str(text), which: str(tmp_path)}
    code, out, err = invoke("eval", *[part for item in files.items() for part in item])
    assert code == 2, out + err
    assert f"{tmp_path}: is a directory, not a JSON Lines file" in err


def test_predict_into_a_directory_is_one_line_error(tmp_path: Path) -> None:
    annotations = tmp_path / "val.jsonl"
    annotations.write_text('{"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 2]]}\n')
    code, out, err = invoke("predict", "--checkpoint", str(tmp_path), "--annotations", str(annotations),
                            "--video-features", str(tmp_path), "--text-features", str(tmp_path), "--out", str(tmp_path))
    assert code == 2, out + err
    assert f"--out {tmp_path} is a directory" in err and "Traceback" not in out + err


@pytest.mark.parametrize("command, out_kind, message", [
    ("train", "file", "is a file, not a run directory"),
    ("ablation", "file", "is a file, not a directory for the runs"),
    ("pseudo-label", "dir", "is a directory: give the JSONL file's path"),
])
def test_wrong_kind_of_out_path_is_one_line_error(command: str, out_kind: str, message: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir() if out_kind == "dir" else out.write_text("not a folder")
    annotations = tmp_path / "a.jsonl"
    annotations.write_text('{"qid": 1, "query": "q", "duration": 10, "vid": "v", "relevant_windows": [[0, 2]]}\n')
    if command == "pseudo-label":
        args = ["--captions", str(annotations), "--features", str(tmp_path), "--encoder", "tiny"]
    else:
        args = ["--train", str(annotations), "--val", str(annotations), "--video-features", str(tmp_path),
                "--text-features", str(tmp_path)]
    code, stdout, err = invoke(command, *args, "--out", str(out))
    assert code == 2, stdout + err
    assert f"--out {out} {message}" in err and "Traceback" not in stdout + err
