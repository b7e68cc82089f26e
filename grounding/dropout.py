"""Dropout with a cheaper CPU mask.

``torch.nn.functional.dropout`` draws its CPU mask with ``bernoulli_``, about 15 ns per element: at
QVHighlights shapes the masks of the feed-forward and residual dropouts were a fifth of a QD-DETR
training step. Here the mask comes from 15-bit random integers (``randint`` into int16, ~3 ns per
element) compared to ``round(p * 2**15)``, so the drop probability is ``p`` rounded to a multiple of
``2**-15`` and the survivors are scaled by the exact ``1 / (1 - p_effective)``. Other devices use
``torch.nn.functional.dropout`` unchanged. Masks come from the global torch generator, so runs stay
deterministic for a seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 1 << 15


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Zero each element of ``x`` with probability ~``p`` and rescale the rest (identity when not training)."""
    if not training or p <= 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training=True)
    threshold = round(p * _LEVELS)
    keep = torch.randint(0, _LEVELS, x.shape, dtype=torch.int16) >= threshold
    return x * keep * (_LEVELS / (_LEVELS - threshold))


class Dropout(nn.Module):
    """Module form of :func:`dropout`, a drop-in for ``torch.nn.Dropout``."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
