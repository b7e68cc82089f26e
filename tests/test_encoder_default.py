"""Which encoder a new library gets when none is named."""

from __future__ import annotations

import pytest
import torch

from indexer.encoders.registry import CPU_DEFAULT_ENCODER, DEFAULT_ENCODER, default_encoder_spec, normalize_encoder_path


def test_internvideo2_where_a_gpu_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_encoder_spec("auto") == DEFAULT_ENCODER == "internvideo2"
    assert default_encoder_spec("cpu") == CPU_DEFAULT_ENCODER == "clip"


def test_clip_on_a_cpu_only_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_encoder_spec("auto") == "clip"


def test_encoder_path_is_made_absolute_only_when_it_exists(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "weights").mkdir()
    monkeypatch.chdir(tmp_path)
    assert normalize_encoder_path("weights") == str(tmp_path / "weights")
    assert normalize_encoder_path("OpenGVLab/InternVideo2-Stage2_1B-224p-f4") == "OpenGVLab/InternVideo2-Stage2_1B-224p-f4"
