"""`vsearch bench grounding` / `bench train` run end to end and print the keys issue 8 asks for."""

from __future__ import annotations

import json

import pytest

from typer.testing import CliRunner

from vsearch.cli import app


def test_bench_grounding_json_keys() -> None:
    result = CliRunner().invoke(app, ["bench", "grounding", "--model", "qd_detr", "--preset", "tiny", "--windows", "3",
                                      "--clips", "12", "--tokens", "4", "--dim", "16", "--repeats", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"p50_ms", "p95_ms", "windows", "clips_per_window"} <= set(data)
    assert (data["windows"], data["clips_per_window"], data["tokens"]) == (3, 12, 4)
    assert 0 < data["p50_ms"] <= data["p95_ms"] and data["speedup_p50"] > 0
    assert data["fp32_p50_ms"] == data["p50_ms"] and data["bf16_p50_ms"] > 0
    assert data["bf16_speedup"] == round(data["fp32_p50_ms"] / data["bf16_p50_ms"], 2)
    assert data["gflop_per_query"] > 0 and data["achieved_gflops"] > 0


def test_bench_train_json_keys_and_stages() -> None:
    result = CliRunner().invoke(app, ["bench", "train", "--model", "qd_detr", "--preset", "tiny", "--batch-size", "4",
                                      "--clips", "16", "--tokens", "4", "--video-dim", "16", "--text-dim", "16",
                                      "--steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"samples_per_s", "batch_size", "clips", "tokens"} <= set(data)
    assert (data["batch_size"], data["clips"], data["tokens"]) == (4, 16, 4)
    assert set(data["stage_ms"]) == {"collate", "forward", "criterion", "backward", "optimizer"}
    assert data["samples_per_s"] > 0
    assert data["bf16_samples_per_s"] > 0
    assert data["bf16_speedup"] == pytest.approx(data["bf16_samples_per_s"] / data["samples_per_s"], rel=0.03)


def test_bench_unknown_model_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["bench", "grounding", "--model", "nope", "--json"])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output
