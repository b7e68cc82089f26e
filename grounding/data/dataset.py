"""Torch dataset of (video window, query) pairs and the collate that builds a :class:`Batch`.

Follows the Moment-DETR / QD-DETR data pipeline: the clip features of a video are truncated to
``max_clips`` (75 = 150 s of 2 s clips), the query tokens to ``max_text_tokens`` (32), GT windows
become normalised ``(center, width)`` spans of the window length ``L * clip_seconds``, and clip
indices are sampled for the saliency margin-ranking loss:

- graded saliency (QVHighlights): ``pairs`` hard pairs (the relevant clips with the highest vs the
  lowest summed annotator score) and ``pairs`` easy pairs (a random relevant clip vs a random clip
  outside ``relevant_clip_ids``; when fewer than ``pairs`` clips are outside, the easy pairs repeat the
  hard ones), so ``K = 2 * pairs``;
- binary saliency (Charades-STA / TACoS): ``K`` random relevant clips vs ``K`` random other clips.

``saliency_pos[k]`` is meant to rank above ``saliency_neg[k]``. When no relevant clip lies inside the
window (it was truncated away) both lists hold the same clips, so the ranking loss is a constant.

Sampling is seeded by ``(seed, epoch, index)``: the same batch for a seed on any number of workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from grounding.data.annotations import Annotation
from grounding.data.features import FeatureStore, add_temporal_endpoints


@dataclass(frozen=True)
class DatasetConfig:
    """How samples are cut. ``None`` disables a limit; ``max_windows`` applies in training only."""

    max_clips: int | None = 75
    max_text_tokens: int | None = 32
    temporal_endpoints: bool = True
    max_windows: int | None = 5
    saliency_pairs: int = 2


@dataclass
class GroundingSample:
    """One (window, query) pair as numpy arrays.

    video_feats   float32 (L, Dv [+2])  L2-normalised per clip (+ temporal endpoints)
    text_feats    float32 (N, Dt)       L2-normalised per token
    spans         float32 (M, 2)        normalised (center, width) of the GT windows inside the window
    saliency      float32 (L,)          mean annotator score per clip (binary if derived)
    saliency_pos  int64   (K,)          clip indices that should rank above ...
    saliency_neg  int64   (K,)          ... the clip at the same position here
    """

    qid: int | str
    vid: str
    duration: float
    clip_seconds: float
    video_feats: np.ndarray
    text_feats: np.ndarray
    spans: np.ndarray
    saliency: np.ndarray
    saliency_pos: np.ndarray
    saliency_neg: np.ndarray


@dataclass
class Batch:
    """A padded batch (the "Grounding contracts" Batch of docs/DESIGN.md).

    video_feats  float32 (B, L, Dv)  zero-padded; video_mask bool (B, L), True = real clip
    text_feats   float32 (B, N, Dt)  zero-padded; text_mask  bool (B, N), True = real token
    targets      per sample {"spans" (M, 2), "saliency" (L_i,), "saliency_pos" (K,), "saliency_neg" (K,)}
    saliency     float32 (B, L)      the per-sample saliency, zero-padded (convenience for losses)
    saliency_pos, saliency_neg  int64 (B, K)  stacked from the targets
    """

    video_feats: torch.Tensor
    video_mask: torch.Tensor
    text_feats: torch.Tensor
    text_mask: torch.Tensor
    targets: list[dict[str, torch.Tensor]]
    saliency: torch.Tensor
    saliency_pos: torch.Tensor
    saliency_neg: torch.Tensor
    qids: list[int | str] = field(default_factory=list)
    vids: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    clip_seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return self.video_feats.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        """A copy with every tensor on ``device`` (non-blocking where possible)."""

        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=True)

        tensors = ("video_feats", "video_mask", "text_feats", "text_mask", "saliency", "saliency_pos", "saliency_neg")
        return dataclasses.replace(
            self,
            targets=[{k: move(v) for k, v in t.items()} for t in self.targets],
            **{name: move(getattr(self, name)) for name in tensors},
        )


def windows_to_spans(windows: np.ndarray, window_seconds: float) -> np.ndarray:
    """``(M, 2)`` [start, end] seconds -> float32 ``(M', 2)`` normalised (center, width).

    Windows are clamped to ``[0, window_seconds]``; those with nothing left are dropped.
    """
    clamped = np.clip(np.asarray(windows, dtype=np.float64).reshape(-1, 2), 0.0, window_seconds)
    clamped = clamped[clamped[:, 1] > clamped[:, 0]] / window_seconds
    return np.stack([clamped.mean(axis=1), clamped[:, 1] - clamped[:, 0]], axis=1).astype(np.float32)


def sample_saliency_pairs(
    annotation: Annotation, length: int, pairs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Clip indices for margin ranking: (pos, neg) int64 ``(2 * pairs,)`` each, all ``< length``."""
    k = 2 * pairs
    keep = annotation.relevant_clip_ids < length
    relevant = annotation.relevant_clip_ids[keep]
    if len(relevant) == 0:
        same = rng.choice(length, size=k, replace=length < k)
        return same.astype(np.int64), same.astype(np.int64)
    outside = np.setdiff1d(np.arange(length), relevant)
    if annotation.graded:
        summed = annotation.saliency_scores[keep].sum(axis=1)
        order = np.argsort(summed, kind="stable")
        hard_pos = relevant[order[::-1][:pairs]]
        hard_neg = relevant[order[:pairs]]
        hard_pos = np.resize(hard_pos, pairs)
        hard_neg = np.resize(hard_neg, pairs)
        if len(outside) >= pairs:
            easy_pos = rng.choice(relevant, size=pairs, replace=len(relevant) < pairs)
            easy_neg = rng.choice(outside, size=pairs, replace=False)
        else:
            easy_pos, easy_neg = hard_pos, hard_neg
        pos, neg = np.concatenate([hard_pos, easy_pos]), np.concatenate([hard_neg, easy_neg])
    else:
        pos = rng.choice(relevant, size=k, replace=len(relevant) < k)
        pool = outside if len(outside) else relevant
        neg = rng.choice(pool, size=k, replace=len(pool) < k)
    return pos.astype(np.int64), neg.astype(np.int64)


class GroundingDataset(Dataset):
    """``(annotation, features)`` -> :class:`GroundingSample`; call :meth:`set_epoch` each epoch."""

    def __init__(
        self,
        annotations: Sequence[Annotation],
        features: FeatureStore,
        config: DatasetConfig | None = None,
        *,
        train: bool = False,
        seed: int = 0,
    ) -> None:
        labelled = [a for a in annotations if a.labelled]
        if train and len(labelled) != len(annotations):
            raise ValueError(f"{len(annotations) - len(labelled)} annotations have no labels; cannot train on them")
        self.annotations = list(annotations)
        self.features = features
        self.config = config or DatasetConfig()
        self.train = train
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the sampling seed of windows and saliency pairs (training)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int) -> GroundingSample:
        annotation = self.annotations[index]
        config = self.config
        rng = np.random.default_rng((self.seed, self.epoch if self.train else 0, index))
        video = self.features.video(annotation.vid)
        if config.max_clips is not None:
            video = video[: config.max_clips]
        length = video.shape[0]
        if config.temporal_endpoints:
            video = add_temporal_endpoints(video)
        text = self.features.text(annotation.qid)
        if config.max_text_tokens is not None:
            text = text[: config.max_text_tokens]
        windows = annotation.windows
        if self.train and config.max_windows is not None and len(windows) > config.max_windows:
            windows = windows[np.sort(rng.permutation(len(windows))[: config.max_windows])]
        pos, neg = sample_saliency_pairs(annotation, length, config.saliency_pairs, rng)
        return GroundingSample(
            qid=annotation.qid,
            vid=annotation.vid,
            duration=annotation.duration,
            clip_seconds=annotation.clip_seconds,
            video_feats=np.ascontiguousarray(video, dtype=np.float32),
            text_feats=np.ascontiguousarray(text, dtype=np.float32),
            spans=windows_to_spans(windows, length * annotation.clip_seconds),
            saliency=annotation.clip_saliency(length),
            saliency_pos=pos,
            saliency_neg=neg,
        )


def _pad(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(n_i, D)`` arrays into zero-padded ``(B, max n_i, D)`` float32 + bool mask ``(B, max n_i)``."""
    longest = max(a.shape[0] for a in arrays)
    out = torch.zeros(len(arrays), longest, arrays[0].shape[1], dtype=torch.float32)
    mask = torch.zeros(len(arrays), longest, dtype=torch.bool)
    for i, array in enumerate(arrays):
        out[i, : len(array)] = torch.from_numpy(array)
        mask[i, : len(array)] = True
    return out, mask


def collate(samples: Sequence[GroundingSample]) -> Batch:
    """Pad a list of samples into a :class:`Batch` (feature dims must agree across samples)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    video_feats, video_mask = _pad([s.video_feats for s in samples])
    text_feats, text_mask = _pad([s.text_feats for s in samples])
    saliency = torch.zeros(video_mask.shape, dtype=torch.float32)
    for i, sample in enumerate(samples):
        saliency[i, : len(sample.saliency)] = torch.from_numpy(sample.saliency)
    targets = [
        {
            "spans": torch.from_numpy(s.spans),
            "saliency": torch.from_numpy(s.saliency),
            "saliency_pos": torch.from_numpy(s.saliency_pos),
            "saliency_neg": torch.from_numpy(s.saliency_neg),
        }
        for s in samples
    ]
    return Batch(
        video_feats=video_feats,
        video_mask=video_mask,
        text_feats=text_feats,
        text_mask=text_mask,
        targets=targets,
        saliency=saliency,
        saliency_pos=torch.stack([t["saliency_pos"] for t in targets]),
        saliency_neg=torch.stack([t["saliency_neg"] for t in targets]),
        qids=[s.qid for s in samples],
        vids=[s.vid for s in samples],
        durations=[s.duration for s in samples],
        clip_seconds=[s.clip_seconds for s in samples],
    )
