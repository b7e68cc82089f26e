"""DINO-style query selection (Zhang et al. 2022, "mixed query selection") for 1-D spans.

Every clip of the encoder output F_g proposes one span per width in ``proposal_widths``: the anchor
(clip centre, width) refined by an MLP in logit space, scored by a 2-way classifier (index 0 =
moment). The ``num_queries`` best proposals of a window become the decoder's reference spans (detached,
as in DINO); the content queries stay learned embeddings. The selected proposals are also returned with
gradients so the criterion can supervise them like a decoder layer (DINO's encoder loss). With
``enabled=False`` the references are learned static anchors (DAB-DETR).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from grounding.mlp import MLP
from grounding.span_ops import inverse_sigmoid


@dataclass
class SelectedQueries:
    """content (B, Q, D); reference (B, Q, 2) normalised (centre, width), detached;
    proposal_logits (B, Q, 2) and proposal_spans (B, Q, 2) of the selected proposals (None when disabled)."""

    content: torch.Tensor
    reference: torch.Tensor
    proposal_logits: torch.Tensor | None
    proposal_spans: torch.Tensor | None


class QuerySelection(nn.Module):
    """forward(memory (B, L, D), video_mask (B, L) bool) -> :class:`SelectedQueries`.

    Padded clips never win while a window has real proposals left; a window with fewer than
    ``num_queries / len(proposal_widths)`` clips also selects padded proposals, which no target matches.
    """

    def __init__(
        self,
        *,
        dim: int,
        num_queries: int,
        proposal_widths: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4),
        enabled: bool = True,
    ) -> None:
        super().__init__()
        self.enabled = enabled
        self.num_queries = num_queries
        self.content = nn.Embedding(num_queries, dim)
        if enabled:
            self.register_buffer("proposal_widths", torch.tensor(proposal_widths), persistent=False)
            self.memory_proj = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim))
            self.class_head = nn.Linear(dim, 2 * len(proposal_widths))
            self.span_head = MLP(input_dim=dim, hidden_dim=dim, output_dim=2 * len(proposal_widths), num_layers=3)
            nn.init.zeros_(self.span_head.layers[-1].weight)
            nn.init.zeros_(self.span_head.layers[-1].bias)
        else:
            self.static_anchors = nn.Embedding(num_queries, 2)
            nn.init.uniform_(self.static_anchors.weight, -2.0, 2.0)

    def proposals(self, memory: torch.Tensor, video_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All proposals, laid out (clip, width): -> (logits (B, L*P, 2), spans (B, L*P, 2) normalised
        (centre, width))."""
        b, length, _ = memory.shape
        widths = self.proposal_widths
        lengths = video_mask.sum(dim=1, keepdim=True).clamp(min=1).to(memory.dtype)
        centers = (torch.arange(length, device=memory.device, dtype=memory.dtype)[None, :] + 0.5) / lengths
        anchors = torch.stack(
            [centers[:, :, None].expand(-1, -1, len(widths)), widths[None, None, :].expand(b, length, -1)], dim=-1
        )  # (B, L, P, 2)
        hidden = self.memory_proj(memory)
        logits = self.class_head(hidden).view(b, length, len(widths), 2)
        deltas = self.span_head(hidden).view(b, length, len(widths), 2)
        spans = torch.sigmoid(inverse_sigmoid(anchors) + deltas)
        return logits.flatten(1, 2), spans.flatten(1, 2)

    def forward(self, memory: torch.Tensor, video_mask: torch.Tensor) -> SelectedQueries:
        b = memory.shape[0]
        content = self.content.weight.unsqueeze(0).expand(b, -1, -1)
        if not self.enabled:
            reference = torch.sigmoid(self.static_anchors.weight).unsqueeze(0).expand(b, -1, -1)
            return SelectedQueries(content, reference, None, None)
        logits, spans = self.proposals(memory, video_mask)
        valid = video_mask.repeat_interleave(len(self.proposal_widths), dim=1)
        score = logits.softmax(-1)[..., 0].masked_fill(~valid, -1.0)
        k = min(self.num_queries, score.shape[1])
        index = score.topk(k, dim=1).indices  # (B, k)
        gather2 = index.unsqueeze(-1).expand(-1, -1, 2)
        selected_spans = spans.gather(1, gather2)
        return SelectedQueries(
            content=content[:, :k],
            reference=selected_spans.detach(),
            proposal_logits=logits.gather(1, gather2),
            proposal_spans=selected_spans,
        )
