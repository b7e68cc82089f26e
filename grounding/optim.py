"""Optimisation schedule of the grounding trainers: AdamW, gradient clipping, warmup + step decay."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (QD-DETR defaults: AdamW 1e-4, wd 1e-4, clip 0.1, batch 32).

    The learning rate ramps linearly from ``warmup_start_factor * lr`` over ``warmup_steps`` optimiser
    steps (SG-DETR §4.4: 45) or, when that is 0, over ``warmup_epochs`` epochs; then it is multiplied by
    ``lr_gamma`` at each epoch in ``lr_milestones`` (SG-DETR uses both; QD-DETR neither).
    """

    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    batch_size: int = 32
    epochs: int = 200
    warmup_epochs: int = 0
    warmup_steps: int = 0
    warmup_start_factor: float = 0.1
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    seed: int = 2018

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("optim: lr must be > 0, batch_size and epochs >= 1")
        if self.warmup_steps < 0 or self.warmup_epochs < 0:
            raise ValueError("optim: warmup_steps and warmup_epochs must be >= 0")


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of ``model``."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(epoch: float, config: OptimConfig, *, steps_per_epoch: int = 1) -> float:
    """Multiplier of ``config.lr`` at (fractional) ``epoch``, 0-based.

    ``steps_per_epoch`` converts ``epoch`` into the optimiser step count that ``warmup_steps`` is counted in.
    """
    factor = 1.0
    if config.warmup_steps > 0:
        progress = epoch * steps_per_epoch / config.warmup_steps
    elif config.warmup_epochs > 0:
        progress = epoch / config.warmup_epochs
    else:
        progress = 1.0
    if progress < 1.0:
        factor = config.warmup_start_factor + (1.0 - config.warmup_start_factor) * progress
    for milestone in config.lr_milestones:
        if epoch >= milestone:
            factor *= config.lr_gamma
    return factor


def set_learning_rate(optimizer: torch.optim.Optimizer, epoch: float, config: OptimConfig, *,
                      steps_per_epoch: int = 1) -> float:
    """Apply the schedule for ``epoch`` (fractional epochs give a per-step warmup); returns the lr."""
    lr = config.lr * lr_factor(epoch, config, steps_per_epoch=steps_per_epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr

