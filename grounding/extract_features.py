"""Extract clip and query features for a grounding dataset with a vsearch encoder.

Given an annotation file (QVHighlights JSON Lines: ``qid``, ``query``, ``vid`` per row; Charades-STA
and TACoS rows in the same format work too) and a folder holding the videos (``{vid}.<ext>``
anywhere below it), writes the public Moment-DETR / QD-DETR layout that
:mod:`grounding.data.features` reads:

- ``OUT_VIDEO/{vid}.npz`` key ``features``: float32 ``(L, dim)``, one L2-normalised row per clip of
  ``clip_seconds`` (2 s for QVHighlights and TACoS, 1 s for Charades-STA), clips cut and sampled
  exactly as ``vsearch index`` does (same decode/encode pipeline);
- ``OUT_TEXT/qid{qid}.npz`` key ``last_hidden_state``: float32 ``(N, text_dim)``, the encoder's
  per-token query features.

Both folders get a ``features_meta.json`` recording the encoder identity; a later run into the same
folders with another encoder or clip length is refused rather than mixing features. Runs are
resumable: files already present and readable are kept; every file is written atomically
(temporary name + rename), so an interrupted run leaves no half-written file. Missing or
undecodable videos are reported, not fatal.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grounding.data.annotations import AnnotationError, read_jsonl
from grounding.data.features import TEXT_KEY, VIDEO_KEY, FeatureError, npz_array_shape
from indexer.discovery import discover

META_FILENAME = "features_meta.json"


class ExtractionError(ValueError):
    """A problem with the inputs or output folders of an extraction; one-line message."""


@dataclass(frozen=True)
class Query:
    """One row of the annotation file that needs features."""

    qid: int | str
    query: str
    vid: str


@dataclass
class ExtractionSummary:
    """What a run did. ``failed`` holds ``(vid, one-line reason)``; ``missing`` vids have no video file."""

    videos_written: int = 0
    videos_skipped: int = 0
    texts_written: int = 0
    texts_skipped: int = 0
    clips: int = 0
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    truncated_batches: int = 0  # text batches in which the encoder truncated a query over its token limit

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"vid": vid, "error": error} for vid, error in self.failed]
        return data


@dataclass(frozen=True)
class ExtractionProgress:
    """Optional callbacks: ``start(n_videos, n_texts)``, ``video(vid, n_clips_or_0)``, ``texts(n)``."""

    start: Callable[[int, int], None] = lambda videos, texts: None
    video: Callable[[str, int], None] = lambda vid, clips: None
    texts: Callable[[int], None] = lambda n: None


def read_queries(path: Path) -> list[Query]:
    """The ``(qid, query, vid)`` rows of a JSON Lines annotation file, in file order, qids unique."""
    queries: list[Query] = []
    seen: set[str] = set()
    for number, row in read_jsonl(path):
        if not isinstance(row, dict) or any(k not in row for k in ("qid", "query", "vid")):
            raise AnnotationError(f"{path}:{number}: a row needs 'qid', 'query' and 'vid'")
        qid = row["qid"]
        if str(qid) in seen:
            raise AnnotationError(f"{path}:{number}: qid {qid!r} appears twice")
        seen.add(str(qid))
        queries.append(Query(qid=qid, query=str(row["query"]), vid=str(row["vid"])))
    if not queries:
        raise AnnotationError(f"{path}: no annotations")
    return queries


def find_videos(directory: Path, vids: set[str]) -> dict[str, str]:
    """Map each wanted ``vid`` to the video file named ``{vid}.<video extension>`` below ``directory``.

    When several files share a vid (e.g. ``.mp4`` and ``.mkv``) the first in sorted path order wins.
    """
    if not directory.is_dir():
        raise ExtractionError(f"videos folder not found: {directory}")
    found: dict[str, str] = {}
    for video in sorted(discover([directory]).videos, key=lambda v: v.path):
        stem = Path(video.path).stem
        if stem in vids and stem not in found:
            found[stem] = video.path
    return found


def _done(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    try:
        npz_array_shape(path, key)
    except FeatureError:
        return False
    return True


def save_npz_atomic(path: Path, key: str, array: np.ndarray) -> None:
    """Write ``{key: array}`` to ``path`` through a temporary file and an atomic rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            np.savez(handle, **{key: np.ascontiguousarray(array, dtype=np.float32)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _bind_folder(folder: Path, meta: dict[str, Any]) -> None:
    """Create ``folder`` and record ``meta``; refuse a folder holding features of another encoder."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExtractionError(f"{folder} is a file, not a folder: choose an output folder") from None
    except OSError as exc:
        raise ExtractionError(f"cannot create output folder {folder}: {exc.strerror}") from None
    meta_path = folder / META_FILENAME
    if meta_path.is_file():
        try:
            existing = json.loads(meta_path.read_text())
        except json.JSONDecodeError:
            existing = None
        if existing != meta:
            raise ExtractionError(f"{folder} holds features from another encoder or clip length ({meta_path}); "
                                  "choose an empty output folder")
        return
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def bind_output_folders(encoder: Any, *, out_video: Path | None, out_text: Path | None, clip_seconds: float,
                        encoder_spec: str = "") -> None:
    """Create the output folders and record (or check) the encoder identity they hold features of."""
    from indexer.encoders.registry import encoder_identity

    if clip_seconds <= 0:
        raise ExtractionError(f"clip seconds must be positive, got {clip_seconds}")
    identity = asdict(encoder_identity(encoder_spec or str(encoder.name), encoder, clip_seconds))
    if out_video is not None:
        _bind_folder(Path(out_video), {"kind": "video", "key": VIDEO_KEY, "encoder": identity})
    if out_text is not None:
        text_dim = int(getattr(encoder, "text_dim", encoder.dim))
        _bind_folder(Path(out_text), {"kind": "text", "key": TEXT_KEY, "text_dim": text_dim, "encoder": identity})


def extract_video_features(encoder: Any, vids: list[str], *, videos: Path, out_video: Path, clip_seconds: float,
                           batch_size: int, summary: ExtractionSummary,
                           on_video: Callable[[str, int], None] = lambda vid, clips: None) -> None:
    """Write ``OUT_VIDEO/{vid}.npz`` for each of ``vids`` not already there; tallies into ``summary``.

    ``out_video`` must have been bound with :func:`bind_output_folders`.
    """
    from indexer.pipeline import EncodedVideo, FailedVideo, IndexPipeline, PipelineConfig, VideoJob

    todo = [v for v in dict.fromkeys(vids) if not _done(Path(out_video) / f"{v}.npz", VIDEO_KEY)]
    summary.videos_skipped += len(dict.fromkeys(vids)) - len(todo)
    paths = find_videos(Path(videos), set(todo)) if todo else {}
    for vid in todo:
        if vid not in paths:
            summary.missing.append(vid)
            on_video(vid, 0)
    jobs = [VideoJob(key=vid, path=paths[vid]) for vid in todo if vid in paths]
    pipeline = IndexPipeline(encoder, PipelineConfig(clip_seconds=clip_seconds, batch_size=batch_size))
    for event in pipeline.run(jobs):
        if isinstance(event, EncodedVideo):
            save_npz_atomic(Path(out_video) / f"{event.job.key}.npz", VIDEO_KEY, event.embeddings)
            summary.videos_written += 1
            summary.clips += len(event.embeddings)
            on_video(str(event.job.key), len(event.embeddings))
        elif isinstance(event, FailedVideo):
            summary.failed.append((str(event.job.key), event.error))
            on_video(str(event.job.key), 0)


def pending_videos(vids: list[str], out_video: Path) -> int:
    """How many of ``vids`` have no readable ``{vid}.npz`` in ``out_video`` yet."""
    return sum(not _done(Path(out_video) / f"{v}.npz", VIDEO_KEY) for v in dict.fromkeys(vids))


def extract_features(
    encoder: Any,
    *,
    annotations: Path,
    videos: Path,
    out_video: Path,
    out_text: Path,
    clip_seconds: float = 2.0,
    encoder_spec: str = "",
    batch_size: int = 32,
    progress: ExtractionProgress | None = None,
) -> ExtractionSummary:
    """Write video and query features for every row of ``annotations`` (see the module docstring).

    encoder: any object meeting the encoder contract. Returns an :class:`ExtractionSummary`.
    Raises :class:`ExtractionError` / ``AnnotationError`` for unusable inputs or output folders.
    """
    progress = progress or ExtractionProgress()
    started = time.perf_counter()
    queries = read_queries(Path(annotations))
    bind_output_folders(encoder, out_video=out_video, out_text=out_text, clip_seconds=clip_seconds,
                        encoder_spec=encoder_spec)
    summary = ExtractionSummary()
    vids = list(dict.fromkeys(q.vid for q in queries))
    todo_texts = [q for q in queries if not _done(Path(out_text) / f"qid{q.qid}.npz", TEXT_KEY)]
    summary.texts_skipped = len(queries) - len(todo_texts)
    progress.start(pending_videos(vids, Path(out_video)), len(todo_texts))

    # Texts first: cheap, and a query's features do not depend on its video being readable.
    for start in range(0, len(todo_texts), batch_size):
        chunk = todo_texts[start:start + batch_size]
        # Long queries are truncated with a UserWarning per batch; on a dataset that is hundreds of
        # warnings, so they are counted into the summary instead of printed one by one.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            encoded = encoder.encode_text([q.query for q in chunk])
        for warning in caught:
            if issubclass(warning.category, UserWarning) and str(warning.message).startswith("query longer than"):
                summary.truncated_batches += 1
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        for query, feats in zip(chunk, encoded, strict=True):
            save_npz_atomic(Path(out_text) / f"qid{query.qid}.npz", TEXT_KEY, np.asarray(feats.tokens))
        summary.texts_written += len(chunk)
        progress.texts(len(chunk))

    extract_video_features(encoder, vids, videos=Path(videos), out_video=Path(out_video), clip_seconds=clip_seconds,
                           batch_size=batch_size, summary=summary, on_video=progress.video)
    summary.seconds = time.perf_counter() - started
    return summary
