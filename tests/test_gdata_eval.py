"""grounding.eval: parity with every official reference metrics file, metric rules, validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grounding.data.annotations import read_jsonl
from grounding.eval import PredictionError, evaluate, read_predictions
from grounding.eval import highlight, moment_retrieval
from grounding.eval.official_order import compact_left, rowwise_reduce
from grounding.eval.windows import MAP_THRESHOLDS

from tests.shared_data import SHARED_DATA

QVH = SHARED_DATA / "qvhighlights"
needs_data = pytest.mark.skipif(not QVH.is_dir(), reason="shared annotation files not available")

# (predictions, ground truth, official metrics, extended = CG-DETR's R1@0.3 + mIoU keys)
REFERENCES = [
    ("sample_val_preds.jsonl", "highlight_val_release.jsonl", "sample_val_preds_metrics_raw.json", False),
    (
        "reference_preds/moment_detr_clip_only_ckpt/inference_hl_val_test_code_preds.jsonl",
        "highlight_val_release.jsonl",
        "reference_preds/moment_detr_clip_only_ckpt/inference_hl_val_test_code_preds_metrics.json",
        False,
    ),
    (
        "reference_preds/cg_detr/hl_val_submission.jsonl",
        "highlight_val_release.jsonl",
        "reference_preds/cg_detr/hl_val_submission_metrics.json",
        True,
    ),
    (
        "reference_preds/cg_detr/hl_test_submission.jsonl",
        "highlight_test_with_gt.jsonl",
        "reference_preds/cg_detr/hl_test_submission_metrics_official_eval.json",
        False,
    ),
]


def _key_paths(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Every leaf as ("block/sub/key", value), in order."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _key_paths(value, f"{prefix}{key}/")
        else:
            out.append((prefix + key, value))
    return out


@needs_data
@pytest.mark.parametrize(("predictions", "ground_truth", "reference", "extended"), REFERENCES,
                         ids=["sample_val", "moment_detr_val", "cg_detr_val", "cg_detr_test"])
def test_equals_the_official_metrics_key_by_key(predictions: str, ground_truth: str, reference: str,
                                                extended: bool) -> None:
    rows, lines = read_predictions(QVH / predictions)
    gt = [row for _, row in read_jsonl(QVH / ground_truth)]
    ours = evaluate(rows, gt, extended=extended, lines=lines, source=predictions)
    official = json.loads((QVH / reference).read_text())
    # same keys, same order (brief, then blocks sorted), same values
    assert _key_paths(ours) == _key_paths(official)
    assert len(_key_paths(official)) in (104, 126)


# -- reference implementations written from the metric definitions, one query at a time ----------


def _hd_ap_loop(scores: np.ndarray, labels: np.ndarray) -> float:
    if labels.sum() == 0:
        return 0.0
    if labels.all():
        return 1.0
    points = []  # (recall, precision) at each distinct score threshold, until full recall
    for threshold in sorted(set(scores.tolist()), reverse=True):
        chosen = scores >= threshold
        tp = float(labels[chosen].sum())
        points.append((tp / labels.sum(), tp / chosen.sum()))
        if tp == labels.sum():
            break
    levels = sorted({r for r, _ in points if r > 0})
    return float(np.mean([max(p for r2, p in points if r2 >= r) for r in levels]))


def _mr_ap_loop(pred: np.ndarray, gt: np.ndarray, threshold: float) -> float:
    pred = pred[:10][np.argsort(-pred[:10, 2], kind="stable")]
    claimed: set[int] = set()
    hits = []
    for start, end, _ in pred:
        ious = [max(0.0, min(end, e) - max(start, s)) / ((end - start) + (e - s) - max(0.0, min(end, e) - max(start, s)))
                for s, e in gt]
        free = [j for j in range(len(gt)) if j not in claimed and ious[j] >= threshold]
        if free:
            best = max(free, key=lambda j: (ious[j], j))
            claimed.add(best)
        hits.append(bool(free))
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / len(gt)
    ap, previous = 0.0, 0.0
    for i, r in enumerate(recall):
        if r > previous:
            ap += (r - previous) * precision[i:].max()
            previous = r
    return ap


def test_batched_hd_ap_equals_the_definition_with_many_ties() -> None:
    rng = np.random.default_rng(0)
    scores, labels = [], []
    for _ in range(300):
        length = int(rng.integers(2, 40))
        scores.append(rng.integers(0, 5, length).astype(float) / 4)  # heavy ties
        labels.append(rng.random((length, 3)) < rng.uniform(0.05, 0.95))
    batched = highlight.average_precision(scores, labels)
    looped = np.array([[_hd_ap_loop(s, y[:, a]) for a in range(3)] for s, y in zip(scores, labels)])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=0)


def test_hd_ap_tie_rule_is_not_sklearns() -> None:
    # thresholds 0.9 (P 0, R 0), 0.8 (P 1/3, R 1/2), 0.1 (P 1/2, R 1) -> mean(1/2, 1/2); sklearn gives 5/12
    ap = highlight.average_precision([np.array([0.9, 0.8, 0.8, 0.1])], [np.array([[0], [1], [0], [1]])])
    assert ap[0, 0] == 0.5
    constant = highlight.average_precision([np.array([0.3, 0.1])] * 2, [np.zeros((2, 1)), np.ones((2, 1))])
    assert constant[:, 0].tolist() == [0.0, 1.0]


def test_hit_at_one_takes_the_first_top_clip_and_misses_beyond_the_video() -> None:
    labels = [np.array([[0, 0], [1, 0], [0, 1]], dtype=bool)] * 3
    scores = [np.array([0.1, 0.9, 0.9]), np.array([0.9, 0.1, 0.9]), np.array([0, 0, 0, 5.0])]
    assert highlight.hit_at_one(scores, labels) == pytest.approx(1 / 3)


def test_batched_mr_ap_equals_the_definition() -> None:
    rng = np.random.default_rng(1)
    preds, gts = [], []
    for _ in range(200):
        n_gt = int(rng.integers(1, 5))
        starts = rng.integers(0, 70, n_gt) * 2.0
        gt = np.stack([starts, starts + rng.integers(1, 20, n_gt) * 2.0], axis=1)
        if rng.random() < 0.3:
            gt = np.concatenate([gt, gt[:1]])  # a duplicated GT window: tied IoUs
        n_pred = int(rng.integers(1, 14))
        ps = rng.integers(0, 70, n_pred) * 2.0
        pred = np.stack([ps, ps + rng.integers(1, 30, n_pred) * 2.0, rng.integers(0, 4, n_pred) / 4.0], axis=1)
        preds.append(pred)
        gts.append(gt)
    batched = moment_retrieval.average_precision(preds, gts, MAP_THRESHOLDS)
    looped = np.array([[_mr_ap_loop(p, g, t) for t in MAP_THRESHOLDS] for p, g in zip(preds, gts)])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-15)


def test_rowwise_reduce_rounds_exactly_like_one_numpy_call_per_row() -> None:
    rng = np.random.default_rng(3)
    values = rng.random((400, 40)) ** 3
    mask = rng.random((400, 40)) < rng.uniform(0, 1, (400, 1))
    sums = rowwise_reduce(*compact_left(values, mask), reduce="sum")
    means = rowwise_reduce(*compact_left(values, mask), reduce="mean")
    for row in range(400):
        selected = values[row][mask[row]]
        assert sums[row] == (np.sum(selected) if len(selected) else 0.0)
        assert means[row] == (np.mean(selected) if len(selected) else 0.0)


# -- the scorer on small hand-made cases ---------------------------------------------------------


def _gt(qid: int, windows: list[list[float]], duration: float = 20.0, graded: bool = True) -> dict:
    row: dict = {"qid": qid, "vid": f"v{qid}", "duration": duration, "relevant_windows": windows}
    if graded:
        clips = sorted({c for s, e in windows for c in range(int(s // 2), int(math.ceil(e / 2)))})
        row["relevant_clip_ids"] = clips
        row["saliency_scores"] = [[4, 3, 2]] * len(clips)
    return row


def test_r1_uses_the_first_window_not_the_best_scored() -> None:
    gt = [_gt(1, [[0, 10]])]
    first_wrong = [{"qid": 1, "pred_relevant_windows": [[10, 20, 0.1], [0, 10, 0.9]]}]
    metrics = evaluate(first_wrong, gt)
    assert metrics["brief"]["MR-full-R1@0.5"] == 0.0
    assert metrics["brief"]["MR-full-mAP"] == 100.0  # mAP re-sorts by score
    assert "HL-min-Fair-mAP" not in metrics["brief"]  # no saliency predicted -> no HD block


def test_buckets_keep_only_their_windows_and_a_query_can_sit_in_two() -> None:
    gt = [_gt(1, [[0, 4], [10, 30]], duration=40), _gt(2, [[0, 40]], duration=40)]
    preds = [
        {"qid": 1, "pred_relevant_windows": [[0, 4, 0.9]], "pred_saliency_scores": [0.0, 0.0, 1.0] + [0.0] * 17},
        {"qid": 2, "pred_relevant_windows": [[0, 40, 0.9]], "pred_saliency_scores": [0.0] * 20},
    ]
    metrics = evaluate(preds, gt)
    assert metrics["short"]["MR-R1"]["0.5"] == 100.0  # query 1's short window is found
    assert metrics["middle"]["MR-mAP"]["average"] == 0.0  # its middle window is missed (pred counts as FP)
    assert metrics["long"]["MR-mAP"]["average"] == 100.0  # only query 2
    assert metrics["full"]["MR-mAP"]["0.5"] == pytest.approx(75.0)  # q1: AP 1/2, q2: AP 1
    # q1's top clip (2) lies between its windows; q2's flat scores pick clip 0 (first of the ties)
    assert metrics["brief"]["HL-min-VeryGood-Hit1"] == 50.0


def test_charades_style_ground_truth_gets_extended_mr_metrics_only() -> None:
    gt = [_gt(1, [[2.0, 6.0]], graded=False), _gt(2, [[0.0, 3.0]], graded=False)]
    preds = [
        {"qid": 1, "pred_relevant_windows": [[2.0, 5.0, 0.5]], "pred_saliency_scores": [0.0] * 20},
        {"qid": 2, "pred_relevant_windows": [[10.0, 12.0, 0.5]], "pred_saliency_scores": [0.0] * 20},
    ]
    metrics = evaluate(preds, gt, clip_seconds=1.0)
    assert list(metrics["brief"]) == [
        "MR-full-R1@0.3", "MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "MR-full-mAP@0.5",
        "MR-full-mAP@0.75", "MR-full-mIoU", "MR-long-mAP", "MR-middle-mAP", "MR-short-mAP",
    ]
    assert metrics["brief"]["MR-full-mIoU"] == 37.5 and metrics["brief"]["MR-full-R1@0.7"] == 50.0
    assert metrics["long"]["MR-mAP"]["average"] == 0.0  # empty bucket


# -- validation ----------------------------------------------------------------------------------


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def _score_file(path: Path, gt: list[dict]) -> dict:
    rows, lines = read_predictions(path)
    return evaluate(rows, gt, lines=lines, source=str(path))


GOOD = {"qid": 1, "pred_relevant_windows": [[0, 4, 0.9]], "pred_saliency_scores": [0.1] * 10}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([GOOD, "{oops"], r"preds\.jsonl:2: not valid JSON"),
        ([GOOD, {**GOOD, "qid": 2, "pred_saliency_scores": [float("nan")] * 10}], r"preds\.jsonl:2: .*non-finite"),
        ([GOOD, {**GOOD, "qid": 2, "pred_saliency_scores": [0.1] * 7}], r":2: .*has 7 scores but the video has 10 clips"),
        ([GOOD], r"1 ground-truth qids have no prediction: 2$"),
        ([GOOD, {**GOOD, "qid": "2"}], r"no prediction: 2 \(the same qids appear with another JSON type"),
        ([GOOD, {**GOOD, "qid": 2}, {**GOOD, "qid": 3}], r":3: qid 3 is not in the ground truth"),
        ([GOOD, GOOD], r":2: qid 1 was already predicted at .*:1"),
        ([GOOD, {**GOOD, "qid": 2, "pred_relevant_windows": []}], r":2: 'pred_relevant_windows' must be a non-empty"),
        ([GOOD, {**GOOD, "qid": 2, "pred_relevant_windows": [[5, 1, 0.3]]}], r":2: .*ends before it starts"),
        ([GOOD, {"qid": 2, "pred_saliency_scores": [0.1] * 10}], r":2: missing key 'pred_relevant_windows'"),
        ([GOOD, [1, 2]], r":2: expected a JSON object, got list"),
    ],
)
def test_bad_prediction_files_fail_naming_the_line(tmp_path: Path, rows: list[object], message: str) -> None:
    gt = [_gt(1, [[0, 4]]), _gt(2, [[4, 8]])]
    with pytest.raises(PredictionError, match=message):
        _score_file(_write(tmp_path, rows), gt)


def test_saliency_one_clip_short_is_accepted_and_padded(tmp_path: Path) -> None:
    gt = [_gt(1, [[0, 4]]), _gt(2, [[16, 20]])]
    rows = [GOOD, {**GOOD, "qid": 2, "pred_saliency_scores": [0.0] * 8 + [1.0]}]  # 9 of 10 clips
    metrics = _score_file(_write(tmp_path, rows), gt)
    assert metrics["HL-min-Fair"]["HL-Hit1"] == 100.0
    # q1: all tied -> AP 2/10. q2: clip 8 alone at the top (P 1, R 1/2), then the padded clip 9 (score 0)
    # ties with clips 0-7 (P 2/10, R 1) -> AP 0.6. Cutting the labels instead of padding would give 1.
    assert metrics["HL-min-Fair"]["HL-mAP"] == 40.0
