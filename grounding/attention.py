"""Multi-head attention on already-projected queries, keys and values.

Conditional / DAB-DETR decoders build their queries and keys by concatenating a content part and a
position part per head, so the query/key width (``2 * d``) differs from the value width (``d``);
``torch.nn.MultiheadAttention`` cannot express that. This module only splits heads, runs
:func:`torch.nn.functional.scaled_dot_product_attention` and applies the output projection.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ProjectedMultiheadAttention(nn.Module):
    """Attention over inputs projected by the caller.

    Args:
        value_dim: width of the values (and of the output).
        num_heads: heads; the query/key and value widths must both be divisible by it.
        dropout: dropout on the attention weights (training only).
    """

    def __init__(self, *, value_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if value_dim % num_heads:
            raise ValueError(f"value_dim {value_dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.dropout = dropout
        self.out_proj = nn.Linear(value_dim, value_dim)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """Attend.

        Args:
            query: float ``(B, Nq, Dqk)``, heads laid out as ``num_heads`` consecutive chunks.
            key: float ``(B, Nk, Dqk)``.
            value: float ``(B, Nk, Dv)``.
            key_mask: optional bool ``(B, Nk)``, True = real key (attended), False = padding.

        Returns:
            float ``(B, Nq, Dv)``.
        """
        batch, n_query, _ = query.shape
        n_key = key.shape[1]
        heads = self.num_heads
        q = query.view(batch, n_query, heads, -1).transpose(1, 2)
        k = key.view(batch, n_key, heads, -1).transpose(1, 2)
        v = value.view(batch, n_key, heads, -1).transpose(1, 2)
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, n_query, -1))
