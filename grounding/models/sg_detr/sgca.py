"""Saliency-Guided Cross-Attention, SGCA (SG-DETR §3.3, eq. 3-4), with plain cross-attention as a switch.

Video clips (queries) attend to text tokens (keys/values) with ordinary softmax attention; in SGCA the
attention weights of clip i are multiplied by g_i = σ(S_local_i), so clips the local saliency head finds
irrelevant absorb little text. With g = 1 the layer is exactly plain cross-attention (CA), which is what
``guided=False`` computes. Multiplying the weights by a per-query scalar equals scaling the attended
values, so the gate is applied to the per-head output before the output projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grounding.dropout import Dropout


class SaliencyGuidedCrossAttention(nn.Module):
    """Multi-head video-to-text attention whose weights are scaled per clip by a gate in [0, 1].

    forward(video (B, L, D), text (B, N, D), text_mask (B, N) bool True = real token,
            gate (B, L) float in [0, 1] or None = no gating, video_pos (B, L, D) or None) -> (B, L, D).
    """

    def __init__(self, *, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(
        self,
        video: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        gate: torch.Tensor | None = None,
        video_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        query = video if video_pos is None else video + video_pos
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(text)), self._split(self.v_proj(text))
        attended = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=text_mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )  # (B, H, L, D/H)
        if gate is not None:
            attended = attended * gate[:, None, :, None]
        b, _, length, _ = attended.shape
        return self.out_proj(attended.transpose(1, 2).reshape(b, length, -1))


class SGCALayer(nn.Module):
    """Post-norm transformer layer: (guided) cross-attention to text, then FFN, each with a residual.

    forward(video (B, L, D), video_pos (B, L, D), text (B, N, D), text_mask (B, N),
            s_local (B, L) logits) -> (B, L, D). ``guided=False`` ignores ``s_local`` (plain CA).
    """

    def __init__(self, *, dim: int, heads: int, ffn_dim: int, dropout: float, guided: bool) -> None:
        super().__init__()
        self.guided = guided
        self.cross_attention = SaliencyGuidedCrossAttention(dim=dim, heads=heads, dropout=dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.ReLU(), Dropout(dropout), nn.Linear(ffn_dim, dim)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)

    def forward(
        self,
        video: torch.Tensor,
        video_pos: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        s_local: torch.Tensor,
    ) -> torch.Tensor:
        gate = torch.sigmoid(s_local) if self.guided else None
        attended = self.cross_attention(video, text, text_mask, gate=gate, video_pos=video_pos)
        video = self.norm1(video + self.dropout(attended))
        return self.norm2(video + self.dropout(self.ffn(video)))
