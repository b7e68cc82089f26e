"""Input projection shared by QD-DETR and SG-DETR: ``LayerNorm -> Dropout -> Linear`` blocks, ReLU between blocks."""

from __future__ import annotations

from torch import Tensor, nn

from grounding.dropout import Dropout


class InputProjection(nn.Module):
    """Maps video clip features or text token features into the transformer width.

    ``(B, N, input_dim)`` float -> ``(B, N, hidden_dim)``. The first block is
    ``LayerNorm(input_dim) -> Dropout -> Linear(input_dim, hidden_dim) -> ReLU``, the last has no ReLU.

    In eval mode an input that repeats one sample over the batch as a stride-0 view (``x[:1].expand(B,
    ...)``, what :class:`grounding.predictor.Grounder` passes for the one query of all its windows) is
    projected once and returned as the same kind of view.
    """

    def __init__(self, *, input_dim: int, hidden_dim: int, num_layers: int = 2, dropout: float = 0.5) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"input projection needs at least one layer, got {num_layers}")
        blocks: list[nn.Module] = []
        for i in range(num_layers):
            width = input_dim if i == 0 else hidden_dim
            blocks += [nn.LayerNorm(width), Dropout(dropout), nn.Linear(width, hidden_dim)]
            if i < num_layers - 1:
                blocks.append(nn.ReLU())
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training and x.dim() == 3 and x.shape[0] > 1 and x.stride(0) == 0:
            return self.blocks(x[:1]).expand(x.shape[0], -1, -1)
        return self.blocks(x)
