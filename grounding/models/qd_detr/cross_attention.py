"""Query-dependent video representation: clips attend to the query's tokens (QD-DETR Sec. 3.2).

Each layer is post-norm: ``x = norm(x + dropout(CrossAttn(q = x + pos, k = text, v = text)))`` followed by
a feed-forward sub-layer. Text tokens carry no position embedding (as in the official code), so every
clip reads the query as a bag of contextual tokens and becomes query-dependent before self-attention.
"""

from __future__ import annotations

from torch import Tensor, nn

from grounding.dropout import Dropout
from grounding.mlp import FeedForward


class ClipToTextCrossAttentionLayer(nn.Module):
    """One cross-attention layer: ``(B, L, d)`` clips x ``(B, N, d)`` tokens -> ``(B, L, d)`` clips."""

    def __init__(self, *, dim: int, num_heads: int, dim_feedforward: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim=dim, hidden_dim=dim_feedforward, dropout=dropout, activation=activation)

    def forward(self, clips: Tensor, clip_pos: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        """clips, clip_pos float ``(B, L, d)``; text float ``(B, N, d)``; text_mask bool ``(B, N)`` True = token."""
        attended = self.cross_attn(clips + clip_pos, text, text, key_padding_mask=~text_mask, need_weights=False)[0]
        return self.feed_forward(self.norm(clips + self.dropout(attended)))


class QueryDependentEncoder(nn.Module):
    """A stack of :class:`ClipToTextCrossAttentionLayer` (2 in QD-DETR)."""

    def __init__(self, *, num_layers: int, dim: int, num_heads: int, dim_feedforward: int, dropout: float,
                 activation: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            ClipToTextCrossAttentionLayer(
                dim=dim, num_heads=num_heads, dim_feedforward=dim_feedforward, dropout=dropout, activation=activation
            )
            for _ in range(num_layers)
        )

    def forward(self, clips: Tensor, clip_pos: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        """See :meth:`ClipToTextCrossAttentionLayer.forward`; returns ``(B, L, d)``."""
        for layer in self.layers:
            clips = layer(clips, clip_pos, text, text_mask)
        return clips
