"""Self-attention encoder over ``[saliency token; query-dependent clips]`` (DETR post-norm layers)."""

from __future__ import annotations

from torch import Tensor, nn

from grounding.dropout import Dropout
from grounding.mlp import FeedForward


class EncoderLayer(nn.Module):
    """``x = norm(x + dropout(SelfAttn(q = k = x + pos, v = x)))`` then a feed-forward sub-layer."""

    def __init__(self, *, dim: int, num_heads: int, dim_feedforward: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim=dim, hidden_dim=dim_feedforward, dropout=dropout, activation=activation)

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor) -> Tensor:
        """x, pos float ``(B, S, d)``; mask bool ``(B, S)`` True = real element. Returns ``(B, S, d)``."""
        q = k = x + pos
        attended = self.self_attn(q, k, x, key_padding_mask=~mask, need_weights=False)[0]
        return self.feed_forward(self.norm(x + self.dropout(attended)))


class TransformerEncoder(nn.Module):
    """A stack of :class:`EncoderLayer` (2 in QD-DETR)."""

    def __init__(self, *, num_layers: int, dim: int, num_heads: int, dim_feedforward: int, dropout: float,
                 activation: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(dim=dim, num_heads=num_heads, dim_feedforward=dim_feedforward, dropout=dropout, activation=activation)
            for _ in range(num_layers)
        )

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor) -> Tensor:
        """See :meth:`EncoderLayer.forward`."""
        for layer in self.layers:
            x = layer(x, pos, mask)
        return x
