"""The DETR feed-forward head: a stack of linear layers with ReLU between them."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from grounding.dropout import Dropout


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


def build_activation(name: str, *, channels: int = 1) -> nn.Module:
    """Activation module by name: ``relu``, ``gelu`` or ``prelu`` (QD-DETR's transformer uses PReLU with
    one learned slope per layer; ``channels`` > 1 learns one slope per channel)."""
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    if name == "prelu":
        return nn.PReLU(num_parameters=channels)
    raise ValueError(f"unknown activation {name!r}; use relu, gelu or prelu")


class FeedForward(nn.Module):
    """Transformer feed-forward sub-layer with its residual and post-norm:
    ``norm(x + dropout(W2 dropout(act(W1 x))))``, ``(..., dim)`` -> ``(..., dim)``."""

    def __init__(self, *, dim: int, hidden_dim: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, dim)
        self.activation = build_activation(activation)
        self.dropout = Dropout(dropout)
        self.residual_dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        update = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.norm(x + self.residual_dropout(update))
