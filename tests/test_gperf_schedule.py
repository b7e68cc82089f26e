"""The shared LR schedule: warmup counted in optimiser steps (SG-DETR §4.4) or epochs, then step decay."""

from __future__ import annotations

import pytest
import torch

from grounding.models.sg_detr.config import PRESETS
from grounding.optim import OptimConfig, lr_factor, set_learning_rate


def test_warmup_in_steps_is_independent_of_epoch_length() -> None:
    config = OptimConfig(lr=5e-4, warmup_steps=45, warmup_start_factor=0.1, lr_milestones=(100, 125), lr_gamma=0.5)
    for steps_per_epoch in (10, 57):
        at = lambda step: lr_factor(step / steps_per_epoch, config, steps_per_epoch=steps_per_epoch)  # noqa: E731
        assert at(0) == pytest.approx(0.1)
        assert at(22.5) == pytest.approx(0.1 + 0.9 * 0.5)
        assert at(45) == pytest.approx(1.0) and at(300) == pytest.approx(1.0)
    assert lr_factor(100.0, config, steps_per_epoch=10) == pytest.approx(0.5)
    assert lr_factor(130.0, config, steps_per_epoch=10) == pytest.approx(0.25)


def test_warmup_in_epochs_still_works_and_steps_take_precedence() -> None:
    by_epoch = OptimConfig(warmup_epochs=2, warmup_start_factor=0.0)
    assert lr_factor(1.0, by_epoch, steps_per_epoch=100) == pytest.approx(0.5)
    both = OptimConfig(warmup_epochs=2, warmup_steps=10, warmup_start_factor=0.0)
    assert lr_factor(0.05, both, steps_per_epoch=100) == pytest.approx(0.5)
    assert lr_factor(5.0, OptimConfig(), steps_per_epoch=3) == 1.0
    with pytest.raises(ValueError, match="warmup"):
        OptimConfig(warmup_steps=-1)


def test_set_learning_rate_writes_every_group() -> None:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.AdamW([{"params": params[:1]}, {"params": params[1:]}], lr=1.0)
    config = OptimConfig(lr=2e-3, warmup_steps=4, warmup_start_factor=0.0)
    lr = set_learning_rate(optimizer, 0.5, config, steps_per_epoch=4)
    assert lr == pytest.approx(1e-3) and all(g["lr"] == pytest.approx(1e-3) for g in optimizer.param_groups)


def test_sg_detr_presets_use_the_papers_45_step_warmup() -> None:
    for name in ("default", "qvhighlights", "charades", "tacos"):
        assert PRESETS[name].optim.warmup_steps == 45, name
    assert PRESETS["default"].optim.lr_milestones == (100, 125) and PRESETS["default"].optim.lr_gamma == 0.5
