"""Grounding annotations in the QVHighlights JSON Lines format, typed.

One row per query. QVHighlights rows carry ``qid, query, vid, duration, relevant_windows,
relevant_clip_ids, saliency_scores`` (three annotator scores 0..4 per relevant clip). Charades-STA and
TACoS rows ("tvr_format") carry one window and no saliency: a binary clip saliency is derived as
"the clip overlaps the window by more than half its length" (the SG-DETR convention), stored as one
pseudo-annotator with score 1. Test-release rows without labels load with ``labelled == False``.

Units: windows are seconds; clip ``i`` covers ``[i * clip_seconds, (i + 1) * clip_seconds)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: clip length used by the public features of each benchmark (seconds)
CLIP_SECONDS = {"qvhighlights": 2.0, "tacos": 2.0, "charades": 1.0}


class AnnotationError(ValueError):
    """A malformed annotation file; the message names the file and line."""


@dataclass(frozen=True, eq=False)
class Annotation:
    """One query of a grounding dataset.

    windows:           ``(M, 2)`` float64 ``[start, end]`` seconds (M may be 0 for unlabelled rows)
    relevant_clip_ids: ``(R,)`` int64 clip indices with a saliency label
    saliency_scores:   ``(R, A)`` float64 per-annotator scores (A = 3 for QVHighlights, 1 if derived)
    graded:            True when the scores come from annotators (QVHighlights), False when derived
    """

    qid: int | str
    query: str
    vid: str
    duration: float
    clip_seconds: float
    windows: np.ndarray
    relevant_clip_ids: np.ndarray
    saliency_scores: np.ndarray
    graded: bool
    labelled: bool = True

    @property
    def num_clips(self) -> int:
        """Clips of the video as the official scorer counts them: ``int(duration / clip_seconds)``."""
        return int(self.duration / self.clip_seconds)

    def clip_saliency(self, length: int | None = None) -> np.ndarray:
        """Mean annotator score per clip, 0 outside ``relevant_clip_ids``: float32 ``(length,)``.

        ``length`` defaults to :attr:`num_clips`; ids at or beyond it are dropped.
        """
        length = self.num_clips if length is None else length
        out = np.zeros(length, dtype=np.float32)
        if len(self.relevant_clip_ids):
            keep = self.relevant_clip_ids < length
            out[self.relevant_clip_ids[keep]] = self.saliency_scores[keep].mean(axis=1)
        return out

    def annotator_labels(self, length: int | None = None) -> np.ndarray:
        """Per-annotator scores per clip, 0 outside ``relevant_clip_ids``: float64 ``(length, A)``."""
        length = self.num_clips if length is None else length
        out = np.zeros((length, self.saliency_scores.shape[1]), dtype=np.float64)
        keep = self.relevant_clip_ids < length
        out[self.relevant_clip_ids[keep]] = self.saliency_scores[keep]
        return out


def derive_binary_saliency(
    windows: np.ndarray, duration: float, clip_seconds: float
) -> np.ndarray:
    """Clips that overlap any window by more than half a clip: sorted int64 ``(R,)`` clip ids.

    windows: ``(M, 2)`` seconds. Clips are counted up to ``ceil(duration / clip_seconds)`` so a
    trailing partial clip can be relevant too.
    """
    n = max(math.ceil(duration / clip_seconds - 1e-9), 1)
    starts = np.arange(n, dtype=np.float64) * clip_seconds
    ends = starts + clip_seconds
    relevant = np.zeros(n, dtype=bool)
    for start, end in np.asarray(windows, dtype=np.float64).reshape(-1, 2):
        overlap = np.minimum(ends, end) - np.maximum(starts, start)
        relevant |= overlap > clip_seconds / 2
    return np.flatnonzero(relevant).astype(np.int64)


def parse_annotation(row: dict, *, clip_seconds: float, where: str = "row") -> Annotation:
    """Turn one JSON object into an :class:`Annotation`; ``where`` prefixes error messages."""
    if not isinstance(row, dict):
        raise AnnotationError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("qid", "vid", "duration"):
        if key not in row:
            raise AnnotationError(f"{where}: missing key {key!r}")
    try:
        duration = float(row["duration"])
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: 'duration' is not a number: {row['duration']!r}") from None
    if not duration > 0:
        raise AnnotationError(f"{where}: 'duration' must be positive, got {duration}")
    labelled = "relevant_windows" in row
    try:
        windows = np.asarray(row.get("relevant_windows", []), dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: 'relevant_windows' must be a list of [start, end] pairs") from None
    if np.any(windows[:, 1] < windows[:, 0]):
        raise AnnotationError(f"{where}: a relevant window ends before it starts: {windows.tolist()}")
    graded = "saliency_scores" in row and "relevant_clip_ids" in row
    if graded:
        clip_ids = np.asarray(row["relevant_clip_ids"], dtype=np.int64).reshape(-1)
        scores = np.asarray(row["saliency_scores"], dtype=np.float64)
        if scores.size == 0:
            scores = scores.reshape(0, 3)
        if scores.ndim != 2 or scores.shape[0] != len(clip_ids):
            raise AnnotationError(
                f"{where}: {len(clip_ids)} relevant_clip_ids but saliency_scores of shape {scores.shape}"
            )
    else:
        clip_ids = derive_binary_saliency(windows, duration, clip_seconds)
        scores = np.ones((len(clip_ids), 1), dtype=np.float64)
    return Annotation(
        qid=row["qid"],
        query=str(row.get("query", "")),
        vid=str(row["vid"]),
        duration=duration,
        clip_seconds=clip_seconds,
        windows=windows,
        relevant_clip_ids=clip_ids,
        saliency_scores=scores,
        graded=graded,
        labelled=labelled,
    )


def read_jsonl(path: Path | str) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for every non-blank line; bad JSON -> AnnotationError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: " + ("is a directory, not a JSON Lines file" if path.is_dir() else "no such file"))
    # Text mode decodes in blocks, so a bad byte cannot be pinned to a line: check the bytes first.
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not UTF-8 text (a binary file?)") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def load_annotations(path: Path | str, *, clip_seconds: float = 2.0) -> list[Annotation]:
    """Read a QVHighlights / Charades-STA / TACoS JSON Lines file; duplicate qids are an error."""
    annotations: list[Annotation] = []
    seen: dict[int | str, int] = {}
    for number, row in read_jsonl(path):
        annotation = parse_annotation(row, clip_seconds=clip_seconds, where=f"{path}:{number}")
        if annotation.qid in seen:
            raise AnnotationError(
                f"{path}:{number}: qid {annotation.qid!r} already appears on line {seen[annotation.qid]}"
            )
        seen[annotation.qid] = number
        annotations.append(annotation)
    if not annotations:
        raise AnnotationError(f"{path}: no annotations")
    return annotations


def to_row(annotation: Annotation) -> dict:
    """The QVHighlights JSON object of ``annotation`` (inverse of :func:`parse_annotation` for graded rows)."""
    row: dict = {
        "qid": annotation.qid,
        "query": annotation.query,
        "duration": annotation.duration,
        "vid": annotation.vid,
    }
    if annotation.labelled:
        row["relevant_windows"] = annotation.windows.tolist()
    if annotation.graded:
        row["relevant_clip_ids"] = annotation.relevant_clip_ids.tolist()
        row["saliency_scores"] = annotation.saliency_scores.tolist()
    return row


def write_jsonl(path: Path | str, rows: Iterable[dict]) -> Path:
    """Write ``rows`` as JSON Lines (creating parent dirs); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path
