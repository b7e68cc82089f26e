"""Localisation confidence (SG-DETR §3.6): an IoU head and the detection score S_det.

The IoU head predicts, per decoder query, the IoU of its span with the ground truth (a logit; σ gives
IoU in [0, 1]). It is trained with binary cross-entropy against the soft IoU target, enters the
Hungarian matching cost, and at inference ranks spans by S_det = p^γ · IoU^(1-γ), where p is the
foreground probability of the classification head.
"""

from __future__ import annotations

import torch
from torch import nn


class IoUHead(nn.Module):
    """forward(hidden (..., D)) -> IoU logits (...,). Two-layer MLP, zero-initialised output (IoU 0.5)."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden).squeeze(-1)


def detection_score(probability: torch.Tensor, iou: torch.Tensor, gamma: float) -> torch.Tensor:
    """S_det = p^γ · IoU^(1-γ) element-wise; p and IoU in [0, 1], same shape; γ in [0, 1]."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
    return probability.clamp(min=0).pow(gamma) * iou.clamp(min=0).pow(1.0 - gamma)
