"""The scorer: predictions + ground truth -> the official QVHighlights metrics JSON.

Output layout and key names are those of ``standalone_eval/eval.py`` (jayleicn/moment_detr), every value
x100 and rounded to 2 decimals::

    {"brief": {"MR-full-R1@0.5": .., "MR-full-R1@0.7": .., "MR-full-mAP": .., "MR-full-mAP@0.5": ..,
               "MR-full-mAP@0.75": .., "MR-long-mAP": .., "MR-middle-mAP": .., "MR-short-mAP": ..,
               "HL-min-Fair-mAP": .., "HL-min-Fair-Hit1": .., ... "HL-min-VeryGood-Hit1": ..},
     "HL-min-Fair": {"HL-mAP": .., "HL-Hit1": ..}, "HL-min-Good": {..}, "HL-min-VeryGood": {..},
     "full": {"MR-mAP": {"0.5": .., ..., "0.95": .., "average": ..}, "MR-R1": {"0.5": .., ...}},
     "long": {..}, "middle": {..}, "short": {..}}

``extended=True`` adds what CG-DETR's copy of the scorer adds and Charades-STA / TACoS papers report:
R1 at 0.30:0.05:0.95, ``"MR-mIoU"`` per bucket, and ``"MR-full-R1@0.3"`` / ``"MR-full-mIoU"`` in the brief.
HD metrics need graded ground truth (QVHighlights); for Charades-STA / TACoS they are left out.
A bucket no query falls in reports 0 for each metric (CG-DETR's convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grounding.data.annotations import Annotation, parse_annotation
from grounding.eval import highlight, moment_retrieval
from grounding.eval.predictions import PredictionError, validate_predictions
from grounding.eval.windows import BUCKETS, MAP_THRESHOLDS, R1_THRESHOLDS, R1_THRESHOLDS_EXTENDED

#: minimum annotator score of a positive clip for each HD level
HD_LEVELS = (("Fair", 2), ("Good", 3), ("VeryGood", 4))


def percent(value: float) -> float:
    """x100 rounded to 2 decimals through text, as the official scorer does."""
    return float(f"{100 * value:.2f}")


def _ground_truth(rows: Sequence[dict | Annotation], clip_seconds: float) -> list[Annotation]:
    annotations = []
    for i, row in enumerate(rows):
        annotation = row if isinstance(row, Annotation) else parse_annotation(
            row, clip_seconds=clip_seconds, where=f"ground truth row {i + 1}")
        annotations.append(annotation)
    return annotations


def moment_retrieval_metrics(
    windows: Sequence[np.ndarray],
    gt_windows: Sequence[np.ndarray],
    *,
    extended: bool = False,
    max_pred_windows: int = 10,
) -> dict[str, dict]:
    """Per bucket ``{"MR-mAP": {...}, "MR-R1": {...}}`` (+ ``"MR-mIoU"`` first when extended).

    windows: per query float ``(P_i, 3)`` ``[start, end, score]`` seconds, first = top-1;
    gt_windows: per query float ``(G_i, 2)`` seconds, ``G_i >= 1``.
    """
    r1_thresholds = R1_THRESHOLDS_EXTENDED if extended else R1_THRESHOLDS
    results: dict[str, dict] = {}
    for bucket in BUCKETS:
        kept = [bucket.keep(g) for g in gt_windows]
        inside = [i for i, g in enumerate(kept) if len(g)]
        metrics: dict[str, object] = {}
        if not inside:
            if extended:
                metrics["MR-mIoU"] = 0.0
            metrics["MR-mAP"] = {**{str(t): 0.0 for t in MAP_THRESHOLDS}, "average": 0.0}
            metrics["MR-R1"] = {str(t): 0.0 for t in r1_thresholds}
            results[bucket.name] = metrics
            continue
        preds = [windows[i] for i in inside]
        gts = [kept[i] for i in inside]
        ap = moment_retrieval.average_precision(preds, gts, MAP_THRESHOLDS, max_pred_windows)
        per_threshold = ap.mean(axis=0)
        ious = moment_retrieval.top1_ious(preds, gts)
        if extended:
            metrics["MR-mIoU"] = float(f"{np.mean(ious) * 100:.2f}")
        metrics["MR-mAP"] = {
            **{str(t): percent(v) for t, v in zip(MAP_THRESHOLDS, per_threshold, strict=True)},
            "average": percent(np.mean(per_threshold)),
        }
        recall = moment_retrieval.recall_at_one(ious, r1_thresholds)
        metrics["MR-R1"] = {str(t): float(f"{r * 100:.2f}") for t, r in zip(r1_thresholds, recall, strict=True)}
        results[bucket.name] = metrics
    return results


def highlight_metrics(saliency: Sequence[np.ndarray], annotations: Sequence[Annotation]) -> dict[str, dict]:
    """``{"HL-min-Fair": {"HL-mAP": .., "HL-Hit1": ..}, ...}`` for per-clip scores ``(S_i,)`` per query."""
    scores_full = [a.annotator_labels() for a in annotations]
    lengths = [len(s) for s in scores_full]
    fitted = highlight.fit_scores(saliency, lengths)
    results = {}
    for name, min_score in HD_LEVELS:
        labels = [s >= min_score for s in scores_full]
        hit = highlight.hit_at_one(saliency, labels)
        ap = highlight.average_precision(fitted, labels)
        results[f"HL-min-{name}"] = {"HL-mAP": percent(np.mean(ap)), "HL-Hit1": percent(hit)}
    return results


def evaluate(
    predictions: Sequence[dict],
    ground_truth: Sequence[dict | Annotation],
    *,
    clip_seconds: float = 2.0,
    extended: bool | None = None,
    max_pred_windows: int = 10,
    lines: Sequence[int] | None = None,
    source: str = "predictions",
) -> dict:
    """Score prediction rows against ground-truth rows; returns the official metrics dict.

    predictions: official submission rows (see :mod:`grounding.eval.predictions`); ground_truth:
    annotation rows (QVHighlights / Charades-STA / TACoS) or :class:`Annotation` objects, the same qids.
    extended: None = on for ground truth without graded saliency (Charades-STA / TACoS).
    lines / source: name the file and its line numbers in error messages.
    Raises PredictionError for unusable predictions or ground truth.
    """
    annotations = _ground_truth(ground_truth, clip_seconds)
    valid = validate_predictions(predictions, annotations, lines=lines, source=source)
    gt_by_qid = {a.qid: a for a in annotations}
    ordered = [gt_by_qid[q] for q in valid.qids]
    if extended is None:
        extended = not all(a.graded for a in annotations)
    metrics: dict[str, dict] = {}
    brief: dict[str, float] = {}
    if valid.windows is not None:
        unlabelled = next((a for a in ordered if len(a.windows) == 0), None)
        if unlabelled is not None:
            raise PredictionError(f"ground truth qid {unlabelled.qid!r} has no relevant_windows to score against")
        mr = moment_retrieval_metrics(
            valid.windows, [a.windows for a in ordered], extended=extended, max_pred_windows=max_pred_windows
        )
        metrics.update(mr)
        mr_brief = {
            "MR-full-mAP": mr["full"]["MR-mAP"]["average"],
            "MR-full-mAP@0.5": mr["full"]["MR-mAP"]["0.5"],
            "MR-full-mAP@0.75": mr["full"]["MR-mAP"]["0.75"],
            "MR-short-mAP": mr["short"]["MR-mAP"]["average"],
            "MR-middle-mAP": mr["middle"]["MR-mAP"]["average"],
            "MR-long-mAP": mr["long"]["MR-mAP"]["average"],
            "MR-full-R1@0.5": mr["full"]["MR-R1"]["0.5"],
            "MR-full-R1@0.7": mr["full"]["MR-R1"]["0.7"],
        }
        if extended:
            mr_brief["MR-full-mIoU"] = mr["full"]["MR-mIoU"]
            mr_brief["MR-full-R1@0.3"] = mr["full"]["MR-R1"]["0.3"]
        brief.update(sorted(mr_brief.items()))
    if valid.saliency is not None and all(a.graded for a in ordered):
        hd = highlight_metrics(valid.saliency, ordered)
        metrics.update(hd)
        brief.update({f"{level}-{key.split('-')[1]}": value for level, block in hd.items() for key, value in block.items()})
    return {"brief": brief, **dict(sorted(metrics.items()))}
