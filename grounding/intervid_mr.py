"""Build an InterVid-MR style moment-retrieval dataset from timestamped captions (``vsearch pseudo-label``).

Inputs: captions (:mod:`grounding.captions`), clip features ``FEATURES/{video}.npz["features"]``
from the same encoder (written here from ``--videos`` when missing, like ``vsearch extract-features``),
and the encoder for the captions' pooled embeddings. Each caption is labelled by
:func:`grounding.pseudo_label.pseudo_label`; the output is QVHighlights JSON Lines whose ``vid`` is
the trimmed segment ``{video}_{start}_{end}``. With ``out_video``/``out_text`` the segment clip features
(``{segment vid}.npz``) and per-token caption features (``qid{qid}.npz``) are written too, so the
result trains directly with ``vsearch train``. Rows are grouped by video (videos in order of first
appearance, captions in file order) and streamed to ``out`` through a temporary file.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grounding.captions import read_captions
from grounding.data.features import TEXT_KEY, VIDEO_KEY
from grounding.extract_features import (
    ExtractionSummary,
    bind_output_folders,
    extract_video_features,
    save_npz_atomic,
)
from grounding.pseudo_label import PseudoLabelConfig, pseudo_label, segment_vid, to_row


@dataclass
class PseudoLabelSummary:
    """What a run produced. ``skipped`` holds ``(video, caption, one-line reason)``."""

    rows: int = 0
    captions: int = 0
    windows: int = 0
    mean_positive_fraction: float = 0.0
    seconds: float = 0.0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    extraction: ExtractionSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "captions": self.captions, "windows": self.windows,
                "mean_positive_fraction": round(self.mean_positive_fraction, 4), "seconds": round(self.seconds, 3),
                "skipped": [{"video": v, "caption": c, "reason": r} for v, c, r in self.skipped],
                "extraction": self.extraction.to_dict() if self.extraction else None}


def _clip_features(path: Path) -> np.ndarray:
    """float32 ``(L, D)`` clip features of one video; ValueError with a one-line reason otherwise."""
    if not path.is_file():
        raise ValueError(f"no clip features ({path.name} not in {path.parent})")
    try:
        with np.load(path) as data:
            array = np.asarray(data[VIDEO_KEY], dtype=np.float32)
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"unreadable clip features {path}: {exc}") from None
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(f"{path}: expected (clips, dims) features, got shape {array.shape}")
    return array


def _encode_captions(encoder: Any, texts: list[str], batch_size: int) -> list[Any]:
    """``encoder.encode_text`` over ``texts`` in batches of ``batch_size``."""
    feats: list[Any] = []
    for start in range(0, len(texts), batch_size):
        feats.extend(encoder.encode_text(texts[start:start + batch_size]))
    return feats


def build_pseudo_labels(
    encoder: Any,
    *,
    captions_path: Path,
    features: Path,
    out: Path,
    videos: Path | None = None,
    out_video: Path | None = None,
    out_text: Path | None = None,
    config: PseudoLabelConfig | None = None,
    encoder_spec: str = "",
    first_qid: int = 0,
    batch_size: int = 32,
    on_caption: Callable[[int], None] = lambda n: None,
) -> PseudoLabelSummary:
    """Label every caption of ``captions_path`` and write QVHighlights JSON Lines to ``out``.

    features: folder of ``{video}.npz`` clip features (encoder identity checked through its
    ``features_meta.json``); with ``videos`` the missing ones are extracted into it first.
    Captions whose video has no features, or that cannot be labelled, are skipped and reported.
    """
    started = time.perf_counter()
    config = config or PseudoLabelConfig()
    captions = read_captions(Path(captions_path))
    summary = PseudoLabelSummary(captions=len(captions))
    bind_output_folders(encoder, out_video=features, out_text=None, clip_seconds=config.clip_seconds,
                        encoder_spec=encoder_spec)
    if out_video is not None or out_text is not None:
        bind_output_folders(encoder, out_video=out_video, out_text=out_text, clip_seconds=config.clip_seconds,
                            encoder_spec=encoder_spec)
    if videos is not None:
        summary.extraction = ExtractionSummary()
        extract_video_features(encoder, [c.video for c in captions], videos=Path(videos), out_video=Path(features),
                               clip_seconds=config.clip_seconds, batch_size=batch_size, summary=summary.extraction)

    by_video: dict[str, list[int]] = defaultdict(list)
    for index, caption in enumerate(captions):
        by_video[caption.video].append(index)
    # One video at a time (its clip features and its captions' features), rows streamed to disk:
    # memory stays flat however many captions there are.
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fractions: list[float] = []
    with tmp.open("w", encoding="utf-8") as handle:
        for video, indices in by_video.items():
            try:
                clip_features = _clip_features(Path(features) / f"{video}.npz")
            except ValueError as exc:
                summary.skipped.extend((video, captions[i].caption, str(exc)) for i in indices)
                on_caption(len(indices))
                continue
            text_feats = _encode_captions(encoder, [captions[i].caption for i in indices], batch_size)
            for i, feats in zip(indices, text_feats, strict=True):
                caption = captions[i]
                try:
                    label = pseudo_label(clip_features, np.asarray(feats.pooled), caption.start, caption.end, config)
                except ValueError as exc:
                    summary.skipped.append((video, caption.caption, str(exc)))
                    on_caption(1)
                    continue
                qid = first_qid + i
                vid = segment_vid(video, label, config.clip_seconds)
                handle.write(json.dumps(to_row(qid, caption.caption, vid, label)) + "\n")
                summary.rows += 1
                fractions.append(len(label.relevant_clip_ids) / len(label.similarities))
                summary.windows += len(label.windows)
                if out_video is not None:
                    first, end = label.segment
                    save_npz_atomic(Path(out_video) / f"{vid}.npz", VIDEO_KEY, clip_features[first:end])
                if out_text is not None:
                    save_npz_atomic(Path(out_text) / f"qid{qid}.npz", TEXT_KEY, np.asarray(feats.tokens))
                on_caption(1)
    tmp.replace(out)
    summary.mean_positive_fraction = float(np.mean(fractions)) if fractions else 0.0
    summary.seconds = time.perf_counter() - started
    return summary
