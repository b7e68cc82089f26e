"""Global saliency module / Saliency Amplifier (SG-DETR §3.4, eq. 6-8).

    F_l      = F + F · σ(S_local)          (eq. 6)  amplify clips the local head finds relevant
    S_global = S_local + Linear(F_l)       (eq. 7)  refine the saliency with full video context
    F_g      = F + F · σ(S_global)         (eq. 8)  the features the detection heads see

When the module is switched off (ablation rows a-c) the detector sees F and S_global = S_local.
"""

from __future__ import annotations

import torch
from torch import nn


class SaliencyAmplifier(nn.Module):
    """forward(features (B, L, D), s_local (B, L) logits, video_mask (B, L) bool)
    -> (F_g (B, L, D), s_global (B, L) logits; padded clips get 0 saliency and zero features).
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.refine = nn.Linear(dim, 1)

    def forward(
        self, features: torch.Tensor, s_local: torch.Tensor, video_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keep = video_mask.unsqueeze(-1).to(features.dtype)
        amplified = features + features * torch.sigmoid(s_local).unsqueeze(-1)
        s_global = (s_local + self.refine(amplified).squeeze(-1)).masked_fill(~video_mask, 0.0)
        global_features = features + features * torch.sigmoid(s_global).unsqueeze(-1)
        return global_features * keep, s_global
