"""Local saliency head (SG-DETR §3.2): sentence token by attention pooling, S_local by scaled cosine.

A pooling encoder of ``pooling_layers`` attention-pooling layers condenses the projected text tokens into
one sentence token F_sent; every clip then gets S_local = α · cos(F_sent, F_v) + β with learnable α, β.
S_local is a logit: σ(S_local) is the clip's relevance to the query, which SGCA uses as a gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grounding.dropout import Dropout


class AttentionPoolingLayer(nn.Module):
    """One pooling step: a single query token attends over the text tokens, then a residual FFN.

    Shapes: ``query`` (B, 1, D), ``tokens`` (B, N, D), ``token_mask`` bool (B, N) True = real token
    -> (B, 1, D).
    """

    def __init__(self, *, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.ReLU(), Dropout(dropout), nn.Linear(ffn_dim, dim)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        pooled, _ = self.attention(query, tokens, tokens, key_padding_mask=~token_mask, need_weights=False)
        query = self.norm1(query + self.dropout(pooled))
        return self.norm2(query + self.dropout(self.ffn(query)))


class LocalSaliencyHead(nn.Module):
    """Sentence token + per-clip local saliency logits.

    forward(video (B, L, D) float, video_mask (B, L) bool, text (B, N, D) float, text_mask (B, N) bool)
    -> (s_local (B, L) float logits, padded clips set to 0; sentence (B, D) float).
    Every sample needs at least one real text token.
    """

    def __init__(
        self,
        *,
        dim: int,
        heads: int,
        ffn_dim: int,
        dropout: float,
        pooling_layers: int = 2,
        init_alpha: float = 10.0,
        init_beta: float = 0.0,
    ) -> None:
        super().__init__()
        self.sentence_query = nn.Parameter(torch.randn(1, 1, dim) * dim**-0.5)
        self.pooling = nn.ModuleList(
            AttentionPoolingLayer(dim=dim, heads=heads, ffn_dim=ffn_dim, dropout=dropout)
            for _ in range(pooling_layers)
        )
        self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))
        self.beta = nn.Parameter(torch.tensor(float(init_beta)))

    def sentence_token(self, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """F_sent (B, D) from text (B, N, D) and text_mask (B, N).

        In eval mode one query shared by the batch (``text`` and ``text_mask`` both stride-0 views over
        the batch, as :class:`grounding.predictor.Grounder` passes them) is pooled once.
        """
        batch = text.shape[0]
        if not self.training and batch > 1 and text.stride(0) == 0 and text_mask.stride(0) == 0:
            return self.sentence_token(text[:1], text_mask[:1]).expand(batch, -1)
        query = self.sentence_query.expand(text.shape[0], -1, -1)
        for layer in self.pooling:
            query = layer(query, text, text_mask)
        return query.squeeze(1)

    def forward(
        self,
        video: torch.Tensor,
        video_mask: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sentence = self.sentence_token(text, text_mask)
        cosine = torch.einsum(
            "bld,bd->bl", F.normalize(video, dim=-1), F.normalize(sentence, dim=-1)
        )
        s_local = self.alpha * cosine + self.beta
        return s_local.masked_fill(~video_mask, 0.0), sentence
