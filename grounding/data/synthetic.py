"""A seeded synthetic grounding dataset in the exact QVHighlights layout, for tests and benchmarks.

Generative story (all vectors live in a ``latent_dim`` space, then go through fixed random projections
``P_v`` to ``video_dim`` and ``P_t`` to ``text_dim``; when the two dims are equal and
``shared_space`` is set, ``P_t = P_v`` like a CLIP-style joint space, so a training-free cosine
baseline has some signal but not all of it):

- a video is a run of "scenes": segments of a few clips, each with a random unit scene vector;
- each query picks a *concept* (a unit vector out of ``n_concepts``) that no other query of the same
  video uses, and owns 1 window (sometimes 2-3) of short (<= 10 s), middle (<= 30 s) or long
  (> 30 s) length, placed without overlapping any other window of the video;
- inside a window clip ``t`` carries ``signal * s_t * concept`` where the graded saliency ``s_t`` in
  ``[0.35, 1]`` peaks somewhere inside the window; three annotators report ``round(4 s_t + noise)``
  clipped to 0..4, which gives ``relevant_clip_ids`` / ``saliency_scores``;
- some videos also show concepts nobody asks about (distractor moments) and every clip gets
  Gaussian noise of norm about ``noise``;
- a query is a token sequence: 1-2 tokens carry the concept (plus noise), the others are "function
  words" drawn from a small vocabulary shared by all queries (no information).

The defaults are tuned so that a small model learns the saliency part in a few CPU epochs while the
training-free cosine baseline stays clearly behind (the function words add structured noise to its
scores); the README (Grounding data and evaluation) has the measured numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grounding.data.annotations import write_jsonl
from grounding.data.features import TEXT_KEY, VIDEO_KEY

#: window length buckets in clips (QVHighlights short/middle/long at 2 s clips) and their odds
_BUCKETS = (((1, 5), 0.25), ((6, 15), 0.45), ((16, 36), 0.30))


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator (see the module docstring)."""

    latent_dim: int = 32
    n_concepts: int = 16
    n_function_words: int = 24
    shared_space: bool = True
    max_clips: int = 75
    min_clips: int = 24
    full_length_share: float = 0.75
    queries_per_video: tuple[int, int] = (1, 3)
    multi_window_share: float = 0.25
    distractor_moments: tuple[int, int] = (0, 2)
    scene_clips: float = 8.0
    signal: float = 1.5
    noise: float = 0.25
    tokens: tuple[int, int] = (6, 12)
    annotator_noise: float = 0.5
    val_share: float = 0.2


@dataclass(frozen=True)
class SyntheticDataset:
    """Paths of a generated dataset (what ``vsearch train`` takes)."""

    root: Path
    train: Path
    val: Path
    video_dir: Path
    text_dir: Path
    clip_seconds: float
    video_dim: int
    text_dim: int


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _place_windows(
    rng: np.random.Generator, n_clips: int, taken: np.ndarray, count: int
) -> list[tuple[int, int]]:
    """Up to ``count`` clip ranges ``[start, end)`` that avoid ``taken`` (bool (n_clips,)) with a 1-clip gap."""
    placed: list[tuple[int, int]] = []
    bucket_ranges = [b for b, _ in _BUCKETS]
    odds = np.array([p for _, p in _BUCKETS])
    for _ in range(count):
        for _attempt in range(40):
            low, high = bucket_ranges[rng.choice(len(bucket_ranges), p=odds)]
            cap = max(n_clips // 2, 1)
            length = int(rng.integers(min(low, cap), min(high, cap) + 1))
            start = int(rng.integers(0, n_clips - length + 1))
            lo, hi = max(start - 1, 0), min(start + length + 1, n_clips)
            if not taken[lo:hi].any():
                taken[start : start + length] = True
                placed.append((start, start + length))
                break
    return placed


def _saliency_profile(rng: np.random.Generator, length: int) -> np.ndarray:
    """Graded saliency in [0.35, 1] over ``length`` clips, peaking at a random clip."""
    peak = rng.uniform(0, length)
    width = max(length / 2, 1.0)
    return 0.35 + 0.65 * np.exp(-(((np.arange(length) + 0.5 - peak) / width) ** 2))


def make_synthetic_dataset(
    out_dir: Path | str,
    *,
    n_videos: int = 200,
    video_dim: int = 64,
    text_dim: int = 64,
    clip_seconds: float = 2.0,
    seed: int = 0,
    config: SyntheticConfig | None = None,
) -> SyntheticDataset:
    """Write ``train.jsonl``, ``val.jsonl``, ``video/{vid}.npz``, ``text/qid{qid}.npz`` and ``synthetic.json``.

    Videos are split between train and val (``config.val_share``, at least one each). Same seed and
    arguments -> byte-identical files.
    """
    config = config or SyntheticConfig()
    if n_videos < 2:
        raise ValueError("n_videos must be at least 2 (one train and one val video)")
    if config.n_concepts < config.queries_per_video[1] + config.distractor_moments[1]:
        raise ValueError("n_concepts must cover the queries and distractor moments of one video")
    rng = np.random.default_rng(seed)
    root = Path(out_dir)
    video_dir, text_dir = root / "video", root / "text"
    video_dir.mkdir(parents=True, exist_ok=True)
    text_dir.mkdir(parents=True, exist_ok=True)

    latent = config.latent_dim
    concepts = _unit(rng, config.n_concepts, latent)
    function_words = _unit(rng, config.n_function_words, latent)
    project_video = rng.standard_normal((latent, video_dim)) / np.sqrt(latent)
    shared = config.shared_space and video_dim == text_dim
    project_text = project_video if shared else rng.standard_normal((latent, text_dim)) / np.sqrt(latent)
    noise_std = config.noise / np.sqrt(latent)

    n_val = min(max(1, round(n_videos * config.val_share)), n_videos - 1)
    rows: dict[str, list[dict]] = {"train": [], "val": []}
    qid = 0
    for index in range(n_videos):
        vid = f"syn{index:05d}"
        n_clips = config.max_clips
        if rng.random() > config.full_length_share:
            n_clips = int(rng.integers(config.min_clips, config.max_clips))
        # scenes: a run of segments with geometric lengths
        clips = np.empty((n_clips, latent))
        t = 0
        while t < n_clips:
            run = int(rng.geometric(1.0 / config.scene_clips))
            clips[t : t + run] = _unit(rng, 1, latent)
            t += run
        clips += rng.standard_normal((n_clips, latent)) * noise_std
        n_queries = int(rng.integers(config.queries_per_video[0], config.queries_per_video[1] + 1))
        n_distractors = int(rng.integers(config.distractor_moments[0], config.distractor_moments[1] + 1))
        chosen = rng.choice(config.n_concepts, size=n_queries + n_distractors, replace=False)
        taken = np.zeros(n_clips, dtype=bool)
        split = "val" if index >= n_videos - n_val else "train"
        for rank, concept in enumerate(chosen):
            is_query = rank < n_queries
            count = 1 + int(rng.random() < config.multi_window_share) * int(rng.integers(1, 3)) if is_query else 1
            windows = _place_windows(rng, n_clips, taken, count)
            clip_ids: list[int] = []
            scores: list[list[int]] = []
            for start, end in windows:
                profile = _saliency_profile(rng, end - start)
                clips[start:end] += config.signal * profile[:, None] * concepts[concept]
                annotated = np.rint(4 * profile[:, None] + rng.normal(0, config.annotator_noise, (end - start, 3)))
                clip_ids.extend(range(start, end))
                scores.extend(np.clip(annotated, 0, 4).astype(int).tolist())
            if not is_query or not windows:
                continue
            order = np.argsort(clip_ids)
            n_tokens = int(rng.integers(config.tokens[0], config.tokens[1] + 1))
            tokens = function_words[rng.integers(0, config.n_function_words, n_tokens)]
            concept_slots = rng.choice(n_tokens, size=int(rng.integers(1, 3)), replace=False)
            tokens[concept_slots] = concepts[concept] + rng.standard_normal((len(concept_slots), latent)) * noise_std
            np.savez(text_dir / f"qid{qid}.npz", **{TEXT_KEY: (tokens @ project_text).astype(np.float32)})
            rows[split].append(
                {
                    "qid": qid,
                    "query": f"a moment showing concept {int(concept)}",
                    "duration": n_clips * clip_seconds,
                    "vid": vid,
                    "relevant_windows": sorted([[s * clip_seconds, e * clip_seconds] for s, e in windows]),
                    "relevant_clip_ids": [clip_ids[i] for i in order],
                    "saliency_scores": [scores[i] for i in order],
                }
            )
            qid += 1
        np.savez(video_dir / f"{vid}.npz", **{VIDEO_KEY: (clips @ project_video).astype(np.float32)})

    meta = {"seed": seed, "n_videos": n_videos, "video_dim": video_dim, "text_dim": text_dim,
            "clip_seconds": clip_seconds, "config": asdict(config)}
    (root / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
    return SyntheticDataset(
        root=root,
        train=write_jsonl(root / "train.jsonl", rows["train"]),
        val=write_jsonl(root / "val.jsonl", rows["val"]),
        video_dir=video_dir,
        text_dir=text_dir,
        clip_seconds=clip_seconds,
        video_dim=video_dim,
        text_dim=text_dim,
    )
