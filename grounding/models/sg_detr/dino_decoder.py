"""DINO-style transformer decoder with iterative span refinement (the primary DETR head of SG-DETR §3.5).

Queries carry a content vector and a reference span (centre, width). Each layer turns the reference
into a positional query (sine embedding -> MLP, DAB-DETR), runs masked self-attention among the
queries, cross-attention to the clip features and an FFN, then refines the reference in logit space:
ref' = σ(σ⁻¹(ref) + Δ_l(h)). The next layer sees ref' detached, as in Deformable DETR / DINO, while the
prediction of layer l keeps its gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from grounding.dropout import Dropout
from grounding.mlp import MLP
from grounding.position_encoding import span_sine_embedding
from grounding.span_ops import inverse_sigmoid


class DINODecoderLayer(nn.Module):
    """Post-norm decoder layer. forward(queries (B, Q, D), query_pos (B, Q, D), memory (B, L, D),
    memory_pos (B, L, D), memory_mask (B, L) bool True = real clip, self_mask (Q, Q) bool True = blocked
    or None) -> (B, Q, D)."""

    def __init__(self, *, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))
        self.dropout = Dropout(dropout)

    def forward(
        self,
        queries: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        memory_mask: torch.Tensor,
        self_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        q = queries + query_pos
        attended, _ = self.self_attention(q, q, queries, attn_mask=self_mask, need_weights=False)
        queries = self.norms[0](queries + self.dropout(attended))
        attended, _ = self.cross_attention(
            queries + query_pos, memory + memory_pos, memory, key_padding_mask=~memory_mask, need_weights=False
        )
        queries = self.norms[1](queries + self.dropout(attended))
        return self.norms[2](queries + self.dropout(self.ffn(queries)))


class DINODecoder(nn.Module):
    """forward(queries (B, Q, D), reference (B, Q, 2) normalised (centre, width), memory (B, L, D),
    memory_pos (B, L, D), memory_mask (B, L), self_mask (Q, Q) or None)
    -> (hidden (layers, B, Q, D) after the shared final norm, spans (layers, B, Q, 2) predicted per layer).
    """

    def __init__(self, *, dim: int, heads: int, ffn_dim: int, dropout: float, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DINODecoderLayer(dim=dim, heads=heads, ffn_dim=ffn_dim, dropout=dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.reference_head = MLP(input_dim=dim, hidden_dim=dim, output_dim=dim, num_layers=2)
        self.span_heads = nn.ModuleList(
            MLP(input_dim=dim, hidden_dim=dim, output_dim=2, num_layers=3) for _ in range(layers)
        )
        for head in self.span_heads:
            nn.init.zeros_(head.layers[-1].weight)
            nn.init.zeros_(head.layers[-1].bias)
        self.dim = dim

    def forward(
        self,
        queries: torch.Tensor,
        reference: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        memory_mask: torch.Tensor,
        self_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, spans = [], []
        for layer, span_head in zip(self.layers, self.span_heads):
            query_pos = self.reference_head(span_sine_embedding(reference, self.dim // 2))
            queries = layer(queries, query_pos, memory, memory_pos, memory_mask, self_mask)
            out = self.norm(queries)
            refined = torch.sigmoid(inverse_sigmoid(reference) + span_head(out))
            hidden.append(out)
            spans.append(refined)
            reference = refined.detach()
        return torch.stack(hidden), torch.stack(spans)
