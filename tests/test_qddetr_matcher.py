"""Hungarian matcher: optimal on a hand case, batched equals one-by-one, empty targets, extra costs."""

from __future__ import annotations

import itertools

import torch

from grounding.matcher import HungarianMatcher


def _outputs(batch: int, queries: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    spans = torch.rand(batch, queries, 2, generator=gen) * torch.tensor([1.0, 0.5])
    return {"pred_spans": spans, "pred_logits": torch.randn(batch, queries, 2, generator=gen)}


def test_obvious_assignment() -> None:
    outputs = {
        "pred_spans": torch.tensor([[[0.2, 0.1], [0.8, 0.1], [0.5, 0.5]]]),
        "pred_logits": torch.zeros(1, 3, 2),
    }
    targets = [{"spans": torch.tensor([[0.79, 0.12], [0.21, 0.1]])}]
    (pred, tgt), = HungarianMatcher()(outputs, targets)
    assert dict(zip(pred.tolist(), tgt.tolist())) == {0: 1, 1: 0}


def test_assignment_is_the_brute_force_optimum() -> None:
    matcher = HungarianMatcher()
    outputs = _outputs(1, 5, seed=3)
    target = torch.tensor([[0.3, 0.2], [0.6, 0.1], [0.9, 0.05]])
    cost = matcher.cost_matrix(outputs, target)[0]
    (pred, tgt), = matcher(outputs, [{"spans": target}])
    found = cost[pred, tgt].sum()
    best = min(sum(cost[q, t] for t, q in enumerate(perm)) for perm in itertools.permutations(range(5), 3))
    assert torch.isclose(found, torch.as_tensor(best))


def test_batched_equals_one_by_one_with_empty_targets() -> None:
    matcher = HungarianMatcher()
    outputs = _outputs(4, 10, seed=1)
    gen = torch.Generator().manual_seed(2)
    targets = [{"spans": torch.rand(n, 2, generator=gen) * 0.5} for n in (3, 0, 1, 5)]
    batched = matcher(outputs, targets)
    for i, target in enumerate(targets):
        single = matcher({k: v[i : i + 1] for k, v in outputs.items()}, [target])[0]
        assert torch.equal(batched[i][0], single[0]) and torch.equal(batched[i][1], single[1])
    assert [len(p) for p, _ in batched] == [3, 0, 1, 5]
    assert batched[1][0].dtype == torch.int64


def test_all_targets_empty() -> None:
    result = HungarianMatcher()(_outputs(2, 4, seed=0), [{"spans": torch.zeros(0, 2)}] * 2)
    assert all(len(p) == 0 and len(t) == 0 for p, t in result)


def test_extra_cost_changes_the_assignment() -> None:
    outputs = {"pred_spans": torch.tensor([[[0.5, 0.2], [0.5, 0.2]]]), "pred_logits": torch.zeros(1, 2, 2)}
    target = [{"spans": torch.tensor([[0.5, 0.2]])}]

    def prefer_second(out: dict, spans: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[[1.0], [0.0]]]).expand(1, 2, len(spans))

    plain = HungarianMatcher()(outputs, target)[0][0].item()
    extra = HungarianMatcher(extra_costs={"iou": (5.0, prefer_second)})(outputs, target)[0][0].item()
    assert plain == 0 and extra == 1
