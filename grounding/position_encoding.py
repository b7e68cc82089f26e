"""Sine position encodings: of clip positions along a window, and of (center, width) span anchors."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _sine_features(positions: Tensor, num_feats: int, temperature: float) -> Tensor:
    """``(...)`` float positions -> ``(..., num_feats)`` interleaved sin/cos features (DETR layout)."""
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
    angles = positions.float().unsqueeze(-1) / dim_t
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


class PositionEmbeddingSine(nn.Module):
    """1-D sine embedding of clip positions, normalised to the real length of each window.

    Padding clips do not shift positions: position ``t`` of a window with ``n`` real clips is
    ``(t + 1) / n * 2 pi``, so a window and its zero-padded copy embed identically.
    """

    def __init__(self, *, num_feats: int, temperature: float = 10000.0, normalize: bool = True) -> None:
        super().__init__()
        if num_feats % 2:
            raise ValueError(f"num_feats must be even, got {num_feats}")
        self.num_feats = num_feats
        self.temperature = temperature
        self.normalize = normalize

    def forward(self, mask: Tensor) -> Tensor:
        """``mask`` bool ``(B, L)`` (True = real clip) -> float32 ``(B, L, num_feats)``."""
        positions = mask.cumsum(dim=1, dtype=torch.float32)
        if self.normalize:
            positions = positions / (positions[:, -1:] + 1e-6) * (2 * math.pi)
        return _sine_features(positions, self.num_feats, self.temperature)


def span_sine_embedding(spans: Tensor, num_feats_per_coord: int, temperature: float = 10000.0) -> Tensor:
    """Sine embedding of normalised anchors, as DAB-DETR embeds its box queries.

    Args:
        spans: ``(..., 2)`` float (center, width) in ``[0, 1]``.
        num_feats_per_coord: features per coordinate (``hidden_dim // 2`` so the result is ``hidden_dim``).

    Returns:
        ``(..., 2 * num_feats_per_coord)`` float: center features then width features.
    """
    scaled = spans * (2 * math.pi)
    return torch.cat(
        (
            _sine_features(scaled[..., 0], num_feats_per_coord, temperature),
            _sine_features(scaled[..., 1], num_feats_per_coord, temperature),
        ),
        dim=-1,
    )
