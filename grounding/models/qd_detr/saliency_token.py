"""QD-DETR's input-adaptive saliency predictor (Sec. 3.3).

A learned saliency token (with its own learned position) is prepended to the query-dependent clips
before the self-attention encoder; it leaves the encoder as a summary of this particular video-query
pair. A clip's saliency is the scaled dot product of the projected clip and the projected token, so
the scoring criterion adapts to the input instead of being one fixed linear head.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SaliencyToken(nn.Module):
    """Learned token + position, prepended to a sequence."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.randn(dim))
        self.pos = nn.Parameter(torch.randn(dim))

    def prepend(self, x: Tensor, pos: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, L, d)``, ``(B, L, d)``, bool ``(B, L)`` -> the same with the token first: ``L + 1`` long."""
        batch = x.shape[0]
        x = torch.cat([self.token.expand(batch, 1, -1), x], dim=1)
        pos = torch.cat([self.pos.expand(batch, 1, -1), pos], dim=1)
        mask = torch.cat([mask.new_ones(batch, 1), mask], dim=1)
        return x, pos, mask


class SaliencyHead(nn.Module):
    """``score_t = <W1 clip_t, W2 token> / sqrt(d)``: clips float ``(B, L, d)``, token float ``(B, d)`` ->
    saliency logits float ``(B, L)``."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.clip_proj = nn.Linear(dim, dim)
        self.token_proj = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, clips: Tensor, token: Tensor) -> Tensor:
        return torch.einsum("bld,bd->bl", self.clip_proj(clips), self.token_proj(token)) * self.scale
