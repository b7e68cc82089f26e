"""DAB-DETR decoder for 1-D spans: learnable (center, width) anchors refined layer by layer.

Each query owns an anchor ``(center, width)`` (sigmoid space). Per layer:

1. the anchor is sine-embedded (:func:`span_sine_embedding`) and an MLP turns it into the positional
   query; from the second layer on, the sine embedding is scaled element-wise by an MLP of the content
   (conditional "query scale");
2. with width modulation, the embedding is rescaled by ``predicted width / anchor width`` so attention
   spreads over longer moments for wider anchors;
3. self-attention among queries (content + position), then cross-attention to the clip memory in which
   each head's query is ``[content; anchor sine]`` and each key ``[content; clip position]`` (Conditional
   DETR), then a feed-forward sub-layer;
4. an MLP predicts an offset in logit space and the anchor moves: ``anchor = sigmoid(offset +
   logit(anchor))``. The next layer's final span is predicted relative to it (gradient flows), while its
   positional queries use the detached anchor.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from grounding.dropout import Dropout
from grounding.attention import ProjectedMultiheadAttention
from grounding.mlp import MLP, FeedForward
from grounding.position_encoding import span_sine_embedding
from grounding.span_ops import inverse_sigmoid


def _concat_heads(a: Tensor, b: Tensor, num_heads: int) -> Tensor:
    """``(B, N, d)`` x2 -> ``(B, N, 2d)`` with per-head chunks ``[a_h; b_h]``."""
    batch, n, dim = a.shape
    return torch.cat([a.view(batch, n, num_heads, -1), b.view(batch, n, num_heads, -1)], dim=-1).view(batch, n, 2 * dim)


class DABDecoderLayer(nn.Module):
    """One decoder layer (see the module docstring). ``attend_query_pos``: add the positional query to
    the content query in cross-attention (the first layer always does; later ones only with
    ``keep_query_pos``)."""

    def __init__(self, *, dim: int, num_heads: int, dim_feedforward: int, dropout: float, activation: str,
                 attend_query_pos: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.sa_q_content = nn.Linear(dim, dim)
        self.sa_q_pos = nn.Linear(dim, dim)
        self.sa_k_content = nn.Linear(dim, dim)
        self.sa_k_pos = nn.Linear(dim, dim)
        self.sa_v = nn.Linear(dim, dim)
        self.self_attn = ProjectedMultiheadAttention(value_dim=dim, num_heads=num_heads, dropout=dropout)
        self.sa_dropout = Dropout(dropout)
        self.sa_norm = nn.LayerNorm(dim)

        self.ca_q_content = nn.Linear(dim, dim)
        self.ca_q_pos = nn.Linear(dim, dim) if attend_query_pos else None
        self.ca_k_content = nn.Linear(dim, dim)
        self.ca_k_pos = nn.Linear(dim, dim)
        self.ca_v = nn.Linear(dim, dim)
        self.ca_q_sine = nn.Linear(dim, dim)
        self.cross_attn = ProjectedMultiheadAttention(value_dim=dim, num_heads=num_heads, dropout=dropout)
        self.ca_dropout = Dropout(dropout)
        self.ca_norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim=dim, hidden_dim=dim_feedforward, dropout=dropout, activation=activation)

    def forward(self, tgt: Tensor, memory: Tensor, memory_mask: Tensor, memory_pos: Tensor, query_pos: Tensor,
                query_sine: Tensor) -> Tensor:
        """tgt, query_pos, query_sine float ``(B, Q, d)``; memory, memory_pos ``(B, L, d)``; memory_mask bool
        ``(B, L)`` True = real clip. Returns ``(B, Q, d)``."""
        q = self.sa_q_content(tgt) + self.sa_q_pos(query_pos)
        k = self.sa_k_content(tgt) + self.sa_k_pos(query_pos)
        tgt = self.sa_norm(tgt + self.sa_dropout(self.self_attn(q, k, self.sa_v(tgt))))

        q = self.ca_q_content(tgt)
        k = self.ca_k_content(memory)
        k_pos = self.ca_k_pos(memory_pos)
        if self.ca_q_pos is not None:
            q = q + self.ca_q_pos(query_pos)
            k = k + k_pos
        q = _concat_heads(q, self.ca_q_sine(query_sine), self.num_heads)
        k = _concat_heads(k, k_pos, self.num_heads)
        attended = self.cross_attn(q, k, self.ca_v(memory), key_mask=memory_mask)
        tgt = self.ca_norm(tgt + self.ca_dropout(attended))
        return self.feed_forward(tgt)


class DABDecoder(nn.Module):
    """Stack of :class:`DABDecoderLayer` with anchor refinement (2 layers in QD-DETR)."""

    def __init__(self, *, num_layers: int, dim: int, num_heads: int, dim_feedforward: int, dropout: float,
                 activation: str, modulate_width_attention: bool = True, keep_query_pos: bool = False) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"decoder width must be even, got {dim}")
        self.dim = dim
        self.layers = nn.ModuleList(
            DABDecoderLayer(dim=dim, num_heads=num_heads, dim_feedforward=dim_feedforward, dropout=dropout,
                            activation=activation, attend_query_pos=(i == 0 or keep_query_pos))
            for i in range(num_layers)
        )
        self.query_scale = MLP(input_dim=dim, hidden_dim=dim, output_dim=dim, num_layers=2)
        self.ref_point_head = MLP(input_dim=dim, hidden_dim=dim, output_dim=dim, num_layers=2)
        self.span_refine = MLP(input_dim=dim, hidden_dim=dim, output_dim=2, num_layers=3)
        self.width_head = MLP(input_dim=dim, hidden_dim=dim, output_dim=1, num_layers=2) if modulate_width_attention else None
        self.norm = nn.LayerNorm(dim)

    def forward(self, memory: Tensor, memory_mask: Tensor, memory_pos: Tensor, anchor_logits: Tensor) -> tuple[Tensor, Tensor]:
        """Decode.

        Args:
            memory: float ``(B, L, d)`` clip memory; memory_mask bool ``(B, L)`` True = real clip.
            memory_pos: float ``(B, L, d)`` clip position embeddings.
            anchor_logits: float ``(Q, 2)`` learnable anchors in logit space (center, width).

        Returns:
            ``hidden`` float ``(num_layers, B, Q, d)`` (layer-normed decoder states) and ``references``
            float ``(num_layers, B, Q, 2)``: the sigmoid-space anchor each layer's prediction refines.
        """
        batch = memory.shape[0]
        anchors = anchor_logits.sigmoid().unsqueeze(0).expand(batch, -1, -1)
        tgt = memory.new_zeros(batch, anchor_logits.shape[0], self.dim)
        hidden, references = [], [anchors]
        for i, layer in enumerate(self.layers):
            query_sine = span_sine_embedding(anchors, self.dim // 2)
            query_pos = self.ref_point_head(query_sine)
            if i > 0:
                query_sine = query_sine * self.query_scale(tgt)
            if self.width_head is not None:
                width = self.width_head(tgt).sigmoid()  # (B, Q, 1)
                query_sine = query_sine * (width / anchors[..., 1:2])
            tgt = layer(tgt, memory, memory_mask, memory_pos, query_pos, query_sine)
            hidden.append(self.norm(tgt))
            refined = (self.span_refine(tgt) + inverse_sigmoid(anchors)).sigmoid()
            if i < len(self.layers) - 1:
                references.append(refined)  # the next layer's prediction refines it: gradient flows here
            anchors = refined.detach()  # ... but not through the next layer's positional queries
        return torch.stack(hidden), torch.stack(references)
