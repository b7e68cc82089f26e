"""The SG-DETR ablation study: row parsing, the mean ± std summary, ``vsearch ablation`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grounding.data.synthetic import make_synthetic_dataset
from grounding.models.sg_detr.ablation import METRIC_KEYS, AblationRun, parse_rows, summarize
from vsearch.cli import app


def test_parse_rows() -> None:
    assert parse_rows("abcde") == ("a", "b", "c", "d", "e")
    assert parse_rows("e,a,e") == ("e", "a")
    with pytest.raises(ValueError, match="unknown ablation row 'x'"):
        parse_rows("ax")
    with pytest.raises(ValueError):
        parse_rows("")


def test_summarize_mean_and_sample_std_per_row() -> None:
    def run(row: str, seed: int, value: float) -> AblationRun:
        return AblationRun(row=row, seed=seed, best_epoch=0, metrics={"MR-full-mAP": value}, seconds=1.0, run_dir=Path("."))

    table = summarize([run("a", 0, 10.0), run("a", 1, 14.0), run("e", 0, 20.0)], keys=("MR-full-mAP",))
    assert list(table) == ["a", "e"]
    assert table["a"]["MR-full-mAP"] == pytest.approx((12.0, 2.8284271))
    assert table["e"]["MR-full-mAP"] == (20.0, 0.0)


def test_ablation_command_trains_rows_over_seeds(tmp_path: Path) -> None:
    data = make_synthetic_dataset(tmp_path / "syn", n_videos=6, video_dim=16, text_dim=16, seed=3)
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"model": {"hidden_dim": 16, "encoder": {"ffn_dim": 32}, "decoder": {"ffn_dim": 32}}}))
    args = ["ablation", "--train", str(data.train), "--val", str(data.val), "--video-features", str(data.video_dir),
            "--text-features", str(data.text_dir), "--preset", "tiny", "--config", str(small), "--epochs", "1", "--seeds", "2",
            "--rows", "e", "--out", str(tmp_path / "runs"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["seeds"] == 2 and report["epochs"] == 1
    assert [(r["row"], r["seed"]) for r in report["runs"]] == [("e", 0), ("e", 1)]
    assert set(METRIC_KEYS) <= set(report["table"]["e"])
    for key in METRIC_KEYS:
        values = [r["metrics"][key] for r in report["runs"]]
        assert report["table"]["e"][key]["mean"] == pytest.approx(sum(values) / 2)
    assert (tmp_path / "runs" / "row_e" / "seed_1" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--rows", "az"], "unknown ablation row 'z'"), (["--preset", "nope"], "no preset 'nope'"),
     (["--config", "/nonexistent/cfg.json"], "config file not found")],
)
def test_ablation_bad_input_is_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    data = make_synthetic_dataset(tmp_path / "syn", n_videos=3, video_dim=8, text_dim=8, seed=1)
    args = ["ablation", "--train", str(data.train), "--val", str(data.val), "--video-features", str(data.video_dir),
            "--text-features", str(data.text_dir), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_ablation_missing_annotations_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ablation", "--train", str(tmp_path / "none.jsonl"), "--val", str(tmp_path / "v.jsonl"),
                                      "--video-features", str(tmp_path), "--text-features", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
