"""Pre-extracted clip and query features in the public Moment-DETR / QD-DETR / Lighthouse layout.

Layout, read as is:

- video: ``DIR/{vid}.npz`` with key ``features``: ``(L, Dv_dir)`` float, one row per clip. Several
  directories (e.g. SlowFast + CLIP) are each L2-normalised per clip, truncated to the shortest
  ``L`` and concatenated along the feature axis (so ``Dv = sum(Dv_dir)``), as the official code does.
- text: ``DIR/qid{qid}.npz`` with key ``last_hidden_state``: ``(N, Dt)`` float, one row per token,
  L2-normalised per token.

Arrays come back as float32. Features are loaded lazily, or all at once by :meth:`FeatureStore.prepare`
when their decoded size fits the memory budget.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.encoders.base import l2_normalize

VIDEO_KEY = "features"
TEXT_KEY = "last_hidden_state"


class FeatureError(ValueError):
    """A missing feature file or a dimension that disagrees; the message names the file."""


def add_temporal_endpoints(video_feats: np.ndarray) -> np.ndarray:
    """Append the temporal-endpoint features ``[t / L, (t + 1) / L]`` of each clip ``t``.

    video_feats: ``(L, D)`` -> float32 ``(L, D + 2)``.
    """
    length = video_feats.shape[0]
    start = np.arange(length, dtype=np.float32) / max(length, 1)
    tef = np.stack([start, start + 1.0 / max(length, 1)], axis=1)
    return np.concatenate([np.asarray(video_feats, dtype=np.float32), tef], axis=1)


def npz_array_shape(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of ``key`` inside an ``.npz`` without decoding the array."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
    except KeyError:
        raise FeatureError(f"{path}: no array {key!r} in this .npz") from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FeatureError(f"{path}: not a readable .npz ({exc})") from None
    return tuple(shape), dtype


def _load_npz_array(path: Path, key: str) -> np.ndarray:
    if not path.is_file():
        raise FeatureError(f"missing feature file {path}")
    try:
        with np.load(path) as data:
            if key not in data:
                raise FeatureError(f"{path}: no array {key!r} (has {', '.join(data.files) or 'nothing'})")
            array = data[key]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FeatureError(f"{path}: not a readable .npz ({exc})") from None
    if array.ndim != 2:
        raise FeatureError(f"{path}: {key!r} must be 2-D (rows x dims), got shape {array.shape}")
    return array.astype(np.float32, copy=False)


@dataclass(frozen=True)
class FeatureConfig:
    """Where features live and how they are prepared.

    preload: True = always load everything in :meth:`FeatureStore.prepare`, False = never,
    None = when the decoded float32 size fits ``memory_budget_bytes`` (default: half the free RAM).
    """

    video_dirs: tuple[Path, ...]
    text_dir: Path
    normalize_video: bool = True
    normalize_text: bool = True
    preload: bool | None = None
    memory_budget_bytes: int | None = None


class FeatureStore:
    """Reads (and optionally caches) video and text features of the public layout."""

    def __init__(self, config: FeatureConfig) -> None:
        if not config.video_dirs:
            raise FeatureError("at least one video feature directory is needed")
        for directory in (*config.video_dirs, config.text_dir):
            if not Path(directory).is_dir():
                raise FeatureError(f"feature directory {directory} does not exist")
        self.config = config
        self._video_dirs = tuple(Path(d) for d in config.video_dirs)
        self._text_dir = Path(config.text_dir)
        self._dir_dims: list[int | None] = [None] * len(self._video_dirs)
        self._text_dim: int | None = None
        self._video_cache: dict[str, np.ndarray] = {}
        self._text_cache: dict[str, np.ndarray] = {}

    # -- paths -------------------------------------------------------------------------------
    def video_paths(self, vid: str) -> list[Path]:
        """One ``{vid}.npz`` path per video feature directory."""
        return [directory / f"{vid}.npz" for directory in self._video_dirs]

    def text_path(self, qid: int | str) -> Path:
        """The ``qid{qid}.npz`` path of one query."""
        return self._text_dir / f"qid{qid}.npz"

    # -- dimensions --------------------------------------------------------------------------
    @property
    def video_dim(self) -> int:
        """``Dv``: sum of the per-directory dims (known once one video was read or probed)."""
        if any(d is None for d in self._dir_dims):
            raise FeatureError("video feature dims are unknown until a video was read; call prepare()")
        return int(sum(d for d in self._dir_dims if d is not None))

    @property
    def text_dim(self) -> int:
        """``Dt`` (known once one query was read or probed)."""
        if self._text_dim is None:
            raise FeatureError("text feature dim is unknown until a query was read; call prepare()")
        return self._text_dim

    def check_dims(self, *, video_dim: int, text_dim: int, source: str = "the checkpoint") -> None:
        """Raise FeatureError naming both sides when these features do not fit ``source``'s dims."""
        if self.video_dim != video_dim:
            raise FeatureError(
                f"video features have dim {self.video_dim} ({', '.join(map(str, self._video_dirs))}) "
                f"but {source} expects {video_dim}"
            )
        if self.text_dim != text_dim:
            raise FeatureError(
                f"text features have dim {self.text_dim} ({self._text_dir}) but {source} expects {text_dim}"
            )

    def _check_video_dim(self, index: int, path: Path, dim: int) -> None:
        known = self._dir_dims[index]
        if known is None:
            self._dir_dims[index] = dim
        elif known != dim:
            raise FeatureError(f"{path}: feature dim {dim} disagrees with {known} of the other files in its directory")

    def _check_text_dim(self, path: Path, dim: int) -> None:
        if self._text_dim is None:
            self._text_dim = dim
        elif self._text_dim != dim:
            raise FeatureError(f"{path}: feature dim {dim} disagrees with {self._text_dim} of the other query files")

    # -- reading -----------------------------------------------------------------------------
    def video(self, vid: str) -> np.ndarray:
        """Clip features of one video: float32 ``(L, Dv)``, each directory's part L2-normalised per clip."""
        cached = self._video_cache.get(vid)
        if cached is not None:
            return cached
        parts = []
        for index, path in enumerate(self.video_paths(vid)):
            part = _load_npz_array(path, VIDEO_KEY)
            self._check_video_dim(index, path, part.shape[1])
            parts.append(l2_normalize(part, axis=1) if self.config.normalize_video else part)
        length = min(len(p) for p in parts)
        if length == 0:
            raise FeatureError(f"{self.video_paths(vid)[0]}: video {vid!r} has no clips")
        return np.concatenate([p[:length] for p in parts], axis=1)

    def text(self, qid: int | str) -> np.ndarray:
        """Token features of one query: float32 ``(N, Dt)``, L2-normalised per token."""
        cached = self._text_cache.get(str(qid))
        if cached is not None:
            return cached
        path = self.text_path(qid)
        tokens = _load_npz_array(path, TEXT_KEY)
        if len(tokens) == 0:
            raise FeatureError(f"{path}: query {qid!r} has no tokens")
        self._check_text_dim(path, tokens.shape[1])
        return l2_normalize(tokens, axis=1) if self.config.normalize_text else tokens

    # -- bulk --------------------------------------------------------------------------------
    def prepare(self, vids: Iterable[str], qids: Iterable[int | str]) -> bool:
        """Check every file exists and agrees on dims, then preload when allowed; returns whether it did.

        Reads only the npy headers to check, so a missing or inconsistent file fails before training.
        """
        vids, qids = sorted(set(vids)), list(dict.fromkeys(qids))
        total = 0
        for vid in vids:
            for index, path in enumerate(self.video_paths(vid)):
                if not path.is_file():
                    raise FeatureError(f"missing video feature file {path} (video {vid!r})")
                shape, _ = npz_array_shape(path, VIDEO_KEY)
                if len(shape) != 2:
                    raise FeatureError(f"{path}: {VIDEO_KEY!r} must be 2-D, got shape {shape}")
                self._check_video_dim(index, path, shape[1])
                total += 4 * shape[0] * shape[1]
        for qid in qids:
            path = self.text_path(qid)
            if not path.is_file():
                raise FeatureError(f"missing text feature file {path} (query {qid!r})")
            shape, _ = npz_array_shape(path, TEXT_KEY)
            if len(shape) != 2:
                raise FeatureError(f"{path}: {TEXT_KEY!r} must be 2-D, got shape {shape}")
            self._check_text_dim(path, shape[1])
            total += 4 * shape[0] * shape[1]
        if not self._should_preload(total):
            return False
        for vid in vids:
            self._video_cache[vid] = self.video(vid)
        for qid in qids:
            self._text_cache[str(qid)] = self.text(qid)
        return True

    def _should_preload(self, total_bytes: int) -> bool:
        if self.config.preload is not None:
            return self.config.preload
        budget = self.config.memory_budget_bytes
        if budget is None:
            import psutil

            budget = psutil.virtual_memory().available // 2
        return total_bytes <= budget
