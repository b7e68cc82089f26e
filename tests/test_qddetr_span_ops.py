"""Span arithmetic: conversions, IoU / GIoU against hand-computed values, broadcasting over batches."""

from __future__ import annotations

import torch

from grounding.span_ops import (
    generalized_temporal_iou,
    inverse_sigmoid,
    paired_generalized_temporal_iou,
    span_cw_to_se,
    span_se_to_cw,
    temporal_iou,
)


def test_cw_se_round_trip() -> None:
    spans = torch.tensor([[0.5, 0.2], [0.1, 0.0], [0.9, 0.2]])
    se = span_cw_to_se(spans)
    assert torch.allclose(se, torch.tensor([[0.4, 0.6], [0.1, 0.1], [0.8, 1.0]]))
    assert torch.allclose(span_se_to_cw(se), spans)


def test_iou_and_giou_hand_values() -> None:
    a = torch.tensor([[0.0, 2.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 3.0], [4.0, 5.0], [0.0, 2.0]])
    iou, union = temporal_iou(a, b)
    assert torch.allclose(iou, torch.tensor([[1 / 3, 0.0, 1.0], [0.0, 0.0, 0.5]]))
    assert torch.allclose(union, torch.tensor([[3.0, 3.0, 2.0], [3.0, 2.0, 2.0]]))
    giou = generalized_temporal_iou(a, b)
    # [0,2] vs [4,5]: hull 5, union 3 -> 0 - 2/5; [0,1] vs [1,3]: touching, hull 3 = union -> 0.
    assert torch.allclose(giou, torch.tensor([[1 / 3, -0.4, 1.0], [0.0, -3 / 5, 0.5]]))
    assert bool((giou <= iou).all()) and bool((giou >= -1).all())


def test_degenerate_spans_give_finite_values() -> None:
    point = torch.tensor([[1.0, 1.0]])
    assert torch.equal(temporal_iou(point, point)[0], torch.zeros(1, 1))
    assert torch.isfinite(generalized_temporal_iou(point, point)).all()


def test_batched_equals_per_sample_and_paired_equals_diagonal() -> None:
    gen = torch.Generator().manual_seed(0)
    a = span_cw_to_se(torch.rand(3, 5, 2, generator=gen))
    b = span_cw_to_se(torch.rand(3, 4, 2, generator=gen))
    batched = generalized_temporal_iou(a, b)
    assert batched.shape == (3, 5, 4)
    for i in range(3):
        assert torch.allclose(batched[i], generalized_temporal_iou(a[i], b[i]))
    paired = paired_generalized_temporal_iou(a[:, :4], b)
    assert torch.allclose(paired, torch.diagonal(generalized_temporal_iou(a[:, :4], b), dim1=-2, dim2=-1))


def test_giou_gradient_reaches_disjoint_spans() -> None:
    pred = torch.tensor([[0.1, 0.2]], requires_grad=True)
    target = torch.tensor([[0.7, 0.9]])
    (1 - paired_generalized_temporal_iou(pred, target)).sum().backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_inverse_sigmoid_inverts_sigmoid_inside_the_clamp() -> None:
    x = torch.tensor([-3.0, 0.0, 2.5])
    assert torch.allclose(inverse_sigmoid(x.sigmoid()), x, atol=1e-4)
    assert torch.isfinite(inverse_sigmoid(torch.tensor([0.0, 1.0]))).all()
