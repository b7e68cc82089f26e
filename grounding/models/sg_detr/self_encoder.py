"""The standard transformer encoder that follows the SGCA layers (§3.3), on fused attention.

Its layers are ``torch.nn.TransformerEncoderLayer`` (post-norm, ReLU), so parameter names and
checkpoints are exactly those of ``nn.TransformerEncoder``. Only the forward pass differs: PyTorch's
inference fast path for that layer runs a padding mask through ``aten::_masked_softmax``, which on CPU
cost ~40 % of SG-DETR's whole inference (tiny preset, 20 windows x 75 clips); here every layer calls
:func:`torch.nn.functional.scaled_dot_product_attention` with the padding mask broadcast over heads
and queries, which picks the fused (flash) CPU kernel in training and inference alike; the residual
and feed-forward dropouts use :mod:`grounding.dropout`'s cheaper CPU masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grounding.dropout import dropout


class SelfAttentionEncoder(nn.Module):
    """``layers`` post-norm self-attention layers over the clips.

    Args:
        dim: model width D; heads must divide it.
        heads: attention heads.
        ffn_dim: feed-forward width.
        dropout: dropout of attention weights, residual branches and the feed-forward hidden layer.
        layers: number of layers (3 in the paper).
    """

    def __init__(self, *, dim: int, heads: int, ffn_dim: int, dropout: float, layers: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden_dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, heads, ffn_dim, dropout, batch_first=True) for _ in range(layers)
        )

    def _attention(self, layer: nn.TransformerEncoderLayer, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        attn = layer.self_attn
        qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=keep, dropout_p=attn.dropout if self.training else 0.0
        )
        return attn.out_proj(out.transpose(1, 2).reshape(b, length, d))

    def forward(self, x: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """x float ``(B, L, D)``; video_mask bool ``(B, L)`` True = real clip (padded clips are never
        attended to). Returns ``(B, L, D)``; rows of padded clips hold finite values that callers mask."""
        keep = video_mask[:, None, None, :]
        train = self.training
        for layer in self.layers:
            # the layers' own dropout probabilities, with the cheaper CPU masks of grounding.dropout
            x = layer.norm1(x + dropout(self._attention(layer, x, keep), layer.dropout1.p, train))
            hidden = dropout(layer.activation(layer.linear1(x)), layer.dropout.p, train)
            x = layer.norm2(x + dropout(layer.linear2(hidden), layer.dropout2.p, train))
        return x
