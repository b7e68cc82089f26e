"""Contrastive denoising queries (DN-DETR / DINO) for 1-D spans, and the decoder's attention mask.

In training, each ground-truth span of a window is copied into ``groups`` groups, each holding one
positive and one negative noisy copy. Both ends of a span move by r·λ·width/2 in a random direction,
with r ~ U(0, 1) for positives (trained to reconstruct the span and be classified as a moment) and
r ~ U(1, 2) for negatives (trained as "no moment"). Denoising queries skip Hungarian matching: each
knows its target. The attention mask keeps the matching queries blind to the denoising queries (which
carry ground truth), the groups blind to each other, and the Co-DETR extra queries in their own group.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grounding.span_ops import span_cw_to_se, span_se_to_cw


@dataclass
class DenoisingQueries:
    """Layout per window: ``groups`` blocks of [M positives, M negatives], M = most spans in the batch.

    reference float (B, N, 2) noisy normalised (centre, width); target_index long (B, N) index of the
    span a query reconstructs; positive bool (B, N); valid bool (B, N) False for slots of padded spans.
    """

    reference: torch.Tensor
    target_index: torch.Tensor
    positive: torch.Tensor
    valid: torch.Tensor
    groups: int

    @property
    def num_queries(self) -> int:
        return self.reference.shape[1]


def make_denoising_queries(
    spans: list[torch.Tensor], *, groups: int, noise: float, generator: torch.Generator | None = None
) -> DenoisingQueries | None:
    """Noisy copies of the ground truth; ``spans`` holds one float (M_b, 2) normalised (centre, width) per
    window. Returns None when there is nothing to denoise (no groups or no spans in the batch)."""
    most = max((len(s) for s in spans), default=0)
    if groups <= 0 or most == 0:
        return None
    device = spans[0].device
    b = len(spans)
    target = torch.zeros(b, most, 2, device=device)
    valid_span = torch.zeros(b, most, dtype=torch.bool, device=device)
    for i, s in enumerate(spans):
        target[i, : len(s)] = s
        valid_span[i, : len(s)] = True
    # (B, groups, 2 [pos, neg], M, 2)
    se = span_cw_to_se(target)[:, None, None].expand(-1, groups, 2, -1, -1)
    half_width = (target[..., 1] / 2)[:, None, None, :, None]
    magnitude = torch.rand(se.shape, generator=generator, device=device)
    magnitude[:, :, 1] += 1.0  # negatives: r in [1, 2)
    sign = torch.randint(0, 2, se.shape, generator=generator, device=device) * 2.0 - 1.0
    noisy = (se + sign * magnitude * half_width * noise).clamp(0.0, 1.0)
    noisy = torch.stack([noisy.min(-1).values, noisy.max(-1).values], dim=-1)
    reference = span_se_to_cw(noisy)
    reference[..., 1] = reference[..., 1].clamp(min=1e-3)

    positive = torch.zeros(b, groups, 2, most, dtype=torch.bool, device=device)
    positive[:, :, 0] = True
    target_index = torch.arange(most, device=device).expand(b, groups, 2, -1)
    valid = valid_span[:, None, None, :].expand(-1, groups, 2, -1)
    return DenoisingQueries(
        reference=reference.reshape(b, -1, 2),
        target_index=target_index.reshape(b, -1),
        positive=positive.reshape(b, -1),
        valid=valid.reshape(b, -1),
        groups=groups,
    )


def decoder_attention_mask(
    num_denoising: int, denoising_groups: int, num_matching: int, num_extra: int, device: torch.device
) -> torch.Tensor | None:
    """Self-attention mask of the query sequence [denoising | matching | extra]: bool (Q, Q), True = blocked.

    Denoising group g sees itself and the matching queries; matching queries see only themselves; extra
    (Co-DETR) queries see only themselves. Returns None when there are only matching queries.
    """
    if num_denoising == 0 and num_extra == 0:
        return None
    total = num_denoising + num_matching + num_extra
    blocked = torch.ones(total, total, dtype=torch.bool, device=device)
    match = slice(num_denoising, num_denoising + num_matching)
    blocked[match, match] = False
    if num_denoising:
        size = num_denoising // denoising_groups
        for g in range(denoising_groups):
            rows = slice(g * size, (g + 1) * size)
            blocked[rows, rows] = False
            blocked[rows, match] = False
    if num_extra:
        extra = slice(num_denoising + num_matching, total)
        blocked[extra, extra] = False
    return blocked
