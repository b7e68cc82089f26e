"""Reading and validating prediction files in the official QVHighlights submission format.

One JSON object per line: ``qid``, ``pred_relevant_windows`` (``[[start, end, score], ...]`` seconds,
sorted by score, first = top-1) and/or ``pred_saliency_scores`` (one float per clip). ``vid`` and
``query`` are ignored. As in the official scorer, a task (MR or HD) is evaluated when the *first* row
has its key; then every row must have it.

Checks, each failing with a one-line :class:`PredictionError` that names the file line (or the qid):
not JSON, not an object, missing or duplicate qid, qids that differ from the ground truth, a malformed
or empty window list, an inverted window, non-finite numbers, and a saliency list whose length is off
by more than ``length_tolerance`` clips (real feature extractors may drop the last partial clip, as the
official reference predictions do; such lists are cut or zero-padded by the metric).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grounding.data.annotations import Annotation

MR_KEY = "pred_relevant_windows"
HD_KEY = "pred_saliency_scores"


class PredictionError(ValueError):
    """A prediction file or list that the scorer cannot use; the message names the line or qid."""


@dataclass(frozen=True)
class ValidPredictions:
    """Predictions in prediction-file order (the order the official scorer averages in).

    qids:     one per prediction row (the same set as the ground truth)
    windows:  per row float64 ``(P_i, 3)`` ``[start, end, score]`` seconds, as given (None: no MR)
    saliency: per row float64 ``(S_i,)`` as given (None: no HD)
    """

    qids: list[int | str]
    windows: list[np.ndarray] | None
    saliency: list[np.ndarray] | None


def read_predictions(path: Path | str) -> tuple[list[dict], list[int]]:
    """Rows of a JSON Lines prediction file and their 1-based line numbers."""
    path = Path(path)
    if not path.is_file():
        raise PredictionError(f"{path}: " + ("is a directory, not a JSON Lines file" if path.is_dir() else "no such file"))
    rows, lines = [], []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise PredictionError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                lines.append(number)
    except UnicodeDecodeError:
        raise PredictionError(f"{path}: not UTF-8 text (a binary file?)") from None
    if not rows:
        raise PredictionError(f"{path}: no predictions")
    return rows, lines


def _finite_numbers(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _windows(value: object, where: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise PredictionError(f"{where}: {MR_KEY!r} must be a non-empty list of [start, end, score]")
    for window in value:
        if not isinstance(window, list) or len(window) != 3:
            raise PredictionError(f"{where}: {MR_KEY!r} entry {window!r} is not [start, end, score]")
        if not all(_finite_numbers(x) for x in window):
            raise PredictionError(f"{where}: {MR_KEY!r} entry {window!r} has a non-finite or non-numeric value")
        if window[1] < window[0]:
            raise PredictionError(f"{where}: {MR_KEY!r} entry {window!r} ends before it starts")
    return np.asarray(value, dtype=np.float64)


def _saliency(value: object, expected: int, tolerance: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise PredictionError(f"{where}: {HD_KEY!r} must be a non-empty list of numbers")
    if not all(_finite_numbers(x) for x in value):
        raise PredictionError(f"{where}: {HD_KEY!r} has a non-finite or non-numeric value")
    if abs(len(value) - expected) > tolerance:
        raise PredictionError(
            f"{where}: {HD_KEY!r} has {len(value)} scores but the video has {expected} clips"
        )
    return np.asarray(value, dtype=np.float64)


def validate_predictions(
    rows: Sequence[dict],
    ground_truth: Sequence[Annotation],
    *,
    lines: Sequence[int] | None = None,
    source: str = "predictions",
    length_tolerance: int = 1,
) -> ValidPredictions:
    """Check ``rows`` against ``ground_truth`` and return them as arrays, in ``rows`` order."""
    lines = list(lines) if lines is not None else [i + 1 for i in range(len(rows))]
    where = [f"{source}:{n}" if source != "predictions" else f"prediction {n}" for n in lines]
    if not rows:
        raise PredictionError(f"{source}: no predictions")
    by_qid: dict[int | str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise PredictionError(f"{where[i]}: expected a JSON object, got {type(row).__name__}")
        if "qid" not in row:
            raise PredictionError(f"{where[i]}: missing key 'qid'")
        if row["qid"] in by_qid:
            raise PredictionError(f"{where[i]}: qid {row['qid']!r} was already predicted at {where[by_qid[row['qid']]]}")
        by_qid[row["qid"]] = i
    gt_qids = [a.qid for a in ground_truth]
    missing = [q for q in gt_qids if q not in by_qid]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
        hint = ""
        if {str(q) for q in missing} & {str(q) for q in by_qid}:
            hint = " (the same qids appear with another JSON type: string vs number)"
        raise PredictionError(f"{source}: {len(missing)} ground-truth qids have no prediction: {shown}{hint}")
    known = set(gt_qids)
    extra = [i for i, row in enumerate(rows) if row["qid"] not in known]
    if extra:
        raise PredictionError(f"{where[extra[0]]}: qid {rows[extra[0]]['qid']!r} is not in the ground truth")
    has_mr, has_hd = MR_KEY in rows[0], HD_KEY in rows[0]
    if not (has_mr or has_hd):
        raise PredictionError(f"{where[0]}: needs {MR_KEY!r} and/or {HD_KEY!r}")
    windows: list[np.ndarray] | None = [] if has_mr else None
    saliency: list[np.ndarray] | None = [] if has_hd else None
    gt_by_qid = {a.qid: a for a in ground_truth}
    for i, row in enumerate(rows):
        annotation = gt_by_qid[row["qid"]]
        for key, wanted in ((MR_KEY, has_mr), (HD_KEY, has_hd)):
            if wanted and key not in row:
                raise PredictionError(f"{where[i]}: missing key {key!r} (the first prediction has it)")
        if windows is not None:
            windows.append(_windows(row[MR_KEY], where[i]))
        if saliency is not None:
            saliency.append(_saliency(row[HD_KEY], annotation.num_clips, length_tolerance, where[i]))
    return ValidPredictions(qids=[row["qid"] for row in rows], windows=windows, saliency=saliency)
