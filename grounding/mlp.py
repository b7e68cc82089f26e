"""The DETR feed-forward head: a stack of linear layers with ReLU between them."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """``num_layers`` linear layers ``input_dim -> hidden_dim -> ... -> output_dim``, ReLU between them.

    Used for span regression heads, anchor position heads and query scaling. Works on any ``(..., input_dim)``
    float tensor and returns ``(..., output_dim)``.
    """

    def __init__(self, *, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MLP needs at least one layer, got {num_layers}")
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(d_in, d_out) for d_in, d_out in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x
