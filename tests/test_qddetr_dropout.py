"""The CPU dropout: drop rate, expectation-preserving scale, identity in eval, seeded determinism."""

from __future__ import annotations

import pytest
import torch

from grounding.dropout import Dropout, dropout


def test_rate_and_scale() -> None:
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.1, training=True)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(0.1, abs=0.005)
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - 3277 / 32768)))
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)


def test_identity_when_not_training_or_zero_rate() -> None:
    x = torch.randn(10, 4)
    assert dropout(x, 0.3, training=False) is x
    assert Dropout(0.0).train()(x) is x
    assert Dropout(0.5).eval()(x) is x
    with pytest.raises(ValueError):
        Dropout(1.5)


def test_seeded_and_differentiable() -> None:
    x = torch.randn(64, 32, requires_grad=True)
    torch.manual_seed(3)
    a = dropout(x, 0.5, training=True)
    torch.manual_seed(3)
    b = dropout(x, 0.5, training=True)
    assert torch.equal(a, b)
    a.sum().backward()
    assert torch.equal(x.grad != 0, a != 0)
