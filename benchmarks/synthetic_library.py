"""Synthetic clip embeddings shaped like real ones, written straight into a library.

Real video-text embeddings are neither uniform nor independent: they share a strong common
direction (embedding cones are narrow), cluster by topic, stay nearly constant inside a scene and
drift slowly from clip to clip. Uniform random vectors have no clusters, so every IVF list is
equally likely and the benchmark would measure nothing real. The generator therefore draws

    clip = normalise(common + topic[t] + scene_offset + walk + noise)

where each video picks 1-3 topics out of ``topics``, cuts itself into scenes of geometric length
(mean ``mean_scene_clips``), each scene a fresh offset around one of its topics, ``walk`` an
AR(1) drift inside the scene (neighbouring clips close) and a little per-clip noise. Queries are
built like text embeddings of a scene: the scene's topic and offset seen through heavy noise, so a
query's best clips score ~0.5-0.7 and many scenes compete, as in a real library.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from indexer.encoders.registry import EncoderIdentity
from indexer.library import Library, NewVideo
from indexer.vector_store import StoreConfig

SYNTHETIC_IDENTITY_NAME = "synthetic"


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape of the synthetic library (counts in clips; weights are vector norms before mixing)."""

    clips: int
    dim: int = 512
    topics: int = 4096
    themes: int = 64
    theme_share: float = 0.6
    mean_clips_per_video: int = 150
    mean_scene_clips: float = 8.0
    common_weight: float = 0.8
    topic_weight: float = 0.7
    scene_weight: float = 0.55
    walk_weight: float = 0.18
    noise_weight: float = 0.12
    query_noise_weight: float = 1.3
    seed: int = 0


class SyntheticLibrary:
    """Deterministic generator of videos ``(n_clips, dim) float32`` and matching queries."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        rng = np.random.default_rng(config.seed)
        self.common = (_unit(rng.normal(size=config.dim)) * config.common_weight).astype(np.float32)
        # Topics are grouped under broader themes (real embedding spaces are hierarchical: "dog
        # catching a frisbee" sits near other dog and other sports scenes, not at a random angle).
        themes = _unit(rng.normal(size=(config.themes, config.dim)))
        own = _unit(rng.normal(size=(config.topics, config.dim)))
        theme_of = rng.integers(0, config.themes, size=config.topics)
        topics = _unit(config.theme_share * themes[theme_of] + np.sqrt(1 - config.theme_share**2) * own)
        self.topics = (topics * config.topic_weight).astype(np.float32)
        self._scenes: list[tuple[int, np.ndarray]] = []  # (topic, offset) reservoir for queries
        self._scene_seen = 0
        self._rng = rng

    def videos(self) -> Iterator[np.ndarray]:
        """Yield L2-normalised float32 ``(n_i, dim)`` clip embeddings until ``clips`` are produced."""
        cfg, rng = self.config, self._rng
        left = cfg.clips
        while left > 0:
            n = int(min(left, max(3, rng.geometric(1.0 / cfg.mean_clips_per_video))))
            left -= n
            yield self._video(n, rng)

    def _video(self, n: int, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        video_topics = rng.integers(0, cfg.topics, size=int(rng.integers(1, 4)))
        lengths = []
        while sum(lengths) < n:
            lengths.append(int(rng.geometric(1.0 / cfg.mean_scene_clips)))
        lengths[-1] -= sum(lengths) - n
        scene_topic = rng.choice(video_topics, size=len(lengths))
        offsets = _unit(rng.standard_normal((len(lengths), cfg.dim), dtype=np.float32)) * np.float32(cfg.scene_weight)
        for topic, offset in zip(scene_topic, offsets):
            self._remember_scene(int(topic), offset, rng)
        base = np.repeat(self.topics[scene_topic] + offsets, lengths, axis=0)
        walk = _scene_drift(rng.standard_normal((n, cfg.dim), dtype=np.float32), lengths)
        noise = rng.standard_normal((n, cfg.dim), dtype=np.float32)
        scale = np.float32(1 / np.sqrt(cfg.dim))  # unit-norm-ish steps and noise
        x = self.common + base + (cfg.walk_weight * scale) * walk + (cfg.noise_weight * scale) * noise
        return _unit(x).astype(np.float32)

    def _remember_scene(self, topic: int, offset: np.ndarray, rng: np.random.Generator, keep: int = 4096) -> None:
        self._scene_seen += 1
        if len(self._scenes) < keep:
            self._scenes.append((topic, offset))
        else:
            slot = int(rng.integers(0, self._scene_seen))
            if slot < keep:
                self._scenes[slot] = (topic, offset)

    def queries(self, n: int, seed: int = 1) -> np.ndarray:
        """``(n, dim)`` float32 L2-normalised query vectors, each aimed at a generated scene."""
        if not self._scenes:
            raise RuntimeError("generate the videos before the queries")
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(self._scenes), size=n)
        cfg = self.config
        q = np.stack([self.common + self.topics[self._scenes[i][0]] + self._scenes[i][1] for i in picks])
        q += cfg.query_noise_weight * _unit(rng.normal(size=(n, cfg.dim)))
        return _unit(q).astype(np.float32)


def _scene_drift(steps: np.ndarray, lengths: list[int], rho: float = 0.8) -> np.ndarray:
    """AR(1) ``w_t = rho w_{t-1} + sqrt(1 - rho^2) e_t`` over ``steps (n, dim)``, restarted
    (``w_s = e_s``) at the first clip of each scene; unit variance throughout."""
    gain = np.sqrt(1 - rho**2)
    starts = np.cumsum([0] + lengths[:-1])
    drive = gain * steps
    drive[starts] = steps[starts]
    full = lfilter([1.0], [1.0, -rho], drive, axis=0)
    # Remove what the previous scene carries into each scene: rho^(t-s+1) * full[s-1].
    scene_of = np.repeat(np.arange(len(lengths)), lengths)
    start_of = starts[scene_of]
    carried = np.where((start_of > 0)[:, None], full[np.maximum(start_of - 1, 0)], 0.0)
    decay = rho ** (np.arange(len(steps)) - start_of + 1)
    return (full - decay[:, None] * carried).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def write_synthetic_library(directory: Path, generator: SyntheticLibrary, *, batch_clips: int = 100_000,
                            config: StoreConfig | None = None) -> int:
    """Write every generated video into a new library at ``directory`` (catalog rows only; the
    FAISS index is left for :meth:`Library.rebuild_vectors`). Returns the number of videos."""
    cfg = generator.config
    identity = EncoderIdentity(spec=SYNTHETIC_IDENTITY_NAME, name=SYNTHETIC_IDENTITY_NAME,
                               model_id=f"synthetic-{cfg.dim}", dim=cfg.dim, clip_seconds=2.0)
    count = 0
    with Library.create_or_open(directory, identity, config=config) as library:
        batch: list[tuple[NewVideo, np.ndarray, np.ndarray]] = []
        pending = 0
        for vectors in generator.videos():
            n = len(vectors)
            start = np.arange(n, dtype=np.float64) * 2.0
            video = NewVideo(path=f"/synthetic/video_{count:08d}.mp4", size=n * 250_000, mtime=0.0,
                             fingerprint=f"synthetic-{count}", duration=2.0 * n, fps=30.0, width=1280, height=720)
            batch.append((video, vectors, np.stack([start, start + 2.0], axis=1)))
            count += 1
            pending += n
            if pending >= batch_clips:
                library.add_videos(batch, defer_vectors=True)
                batch, pending = [], 0
        if batch:
            library.add_videos(batch, defer_vectors=True)
    return count
