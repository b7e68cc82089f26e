"""The `cpu` presets: a far cheaper network per query, trained with the paper's recipe."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from grounding.models import build_model, preset


def _flops_per_query(model_name: str, preset_name: str, windows: int = 2, clips: int = 75) -> int:
    config = preset(model_name, preset_name)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, video_dim=32, text_dim=32))
    model = build_model(model_name, config).eval()
    video = torch.randn(windows, clips, 34)
    text = torch.randn(1, 8, 32).expand(windows, -1, -1)
    counter = FlopCounterMode(display=False)
    with counter:
        outputs = model(video, torch.ones(windows, clips, dtype=torch.bool), text, torch.ones(windows, 8, dtype=torch.bool))
    assert outputs["pred_spans"].shape[:2] == outputs["pred_logits"].shape[:2]
    return counter.get_total_flops()


@pytest.mark.parametrize("model_name", ["qd_detr", "sg_detr"])
def test_cpu_preset_costs_a_small_fraction_of_the_paper_size(model_name: str) -> None:
    torch.manual_seed(0)
    assert _flops_per_query(model_name, "cpu") < 0.1 * _flops_per_query(model_name, "default")


@pytest.mark.parametrize("model_name", ["qd_detr", "sg_detr"])
def test_cpu_preset_trains_with_the_paper_recipe(model_name: str) -> None:
    cpu, default = preset(model_name, "cpu"), preset(model_name, "default")
    assert cpu.optim == default.optim and cpu.loss == default.loss and cpu.matcher == default.matcher
    assert cpu.model.hidden_dim == 64 < default.model.hidden_dim
    assert cpu.model.dropout == default.model.dropout and cpu.model.input_dropout == default.model.input_dropout
