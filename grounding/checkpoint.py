"""Run directories: model weights in safetensors plus a JSON description, never pickle.

Layout of ``RUN_DIR``::

    config.json            CheckpointMeta: model name, full config tree, feature dims, clip seconds,
                           the encoder identity the features came from, epoch, val metrics
    model.safetensors      weights of the best epoch (by val "MR-full-mAP")
    last/                  the latest epoch, for ``--resume``:
      config.json, model.safetensors, optimizer.safetensors (tensors of the optimizer state + RNG),
      trainer_state.json (epoch, step, best metric, the optimizer's non-tensor state)

Everything needed to rebuild the model is in ``config.json``: inference needs no other file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from grounding.config_tree import ConfigError, from_dict

FORMAT = "vsearch-grounding-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LAST_DIR = "last"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_STATE_FILE = "trainer_state.json"

#: Keys of an encoder identity that must agree between a checkpoint and the features fed to it.
ENCODER_KEYS = ("name", "model_id", "dim")


class CheckpointError(ValueError):
    """A run directory that cannot be read (one-line message naming the path)."""


class CheckpointMismatchError(CheckpointError):
    """Features of another dimension or encoder than the checkpoint was trained on (names both)."""


@dataclass
class CheckpointMeta:
    """What ``config.json`` holds.

    ``video_dim`` is the raw clip-feature dim (before the 2 temporal-endpoint dims the model adds when
    ``config["data"]["temporal_endpoints"]``); ``encoder`` is the identity dict of the encoder that made the
    features (``name``, ``model_id``, ``dim``, ``clip_seconds``...), None when unknown.
    """

    model: str
    config: dict[str, Any]
    video_dim: int
    text_dim: int
    clip_seconds: float
    encoder: dict[str, Any] | None = None
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def max_clips(self) -> int | None:
        """Longest window (clips) the model was trained on (75 for QVHighlights)."""
        return self.config.get("data", {}).get("max_clips")

    @property
    def temporal_endpoints(self) -> bool:
        """Whether the model expects ``[t/L, (t+1)/L]`` appended to every clip feature."""
        return bool(self.config.get("data", {}).get("temporal_endpoints", False))

    def check_features(self, *, video_dim: int | None = None, text_dim: int | None = None,
                       encoder: dict[str, Any] | None = None, source: str = "the features") -> None:
        """Raise :class:`CheckpointMismatchError` when features do not fit this checkpoint.

        Dims are raw feature dims; an encoder is compared on :data:`ENCODER_KEYS` when both sides know it.
        """
        if video_dim is not None and video_dim != self.video_dim:
            raise CheckpointMismatchError(
                f"checkpoint expects video features of dim {self.video_dim}, {source} have dim {video_dim}"
            )
        if text_dim is not None and text_dim != self.text_dim:
            raise CheckpointMismatchError(
                f"checkpoint expects text features of dim {self.text_dim}, {source} have dim {text_dim}"
            )
        if encoder is not None and self.encoder is not None:
            ours = {k: self.encoder.get(k) for k in ENCODER_KEYS}
            theirs = {k: encoder.get(k) for k in ENCODER_KEYS}
            if ours != theirs:
                raise CheckpointMismatchError(
                    f"checkpoint was trained on features of encoder {_describe(ours)}, {source} come from {_describe(theirs)}"
                )


def _describe(identity: dict[str, Any]) -> str:
    return f"{identity.get('name')} ({identity.get('model_id')}, dim {identity.get('dim')})"


def _write_atomic(path: Path, write: Any) -> None:
    """Write through a temporary file in the same directory, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n"))


def save_checkpoint(directory: Path, model: nn.Module, meta: CheckpointMeta) -> None:
    """Write ``model.safetensors`` + ``config.json`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    _write_atomic(directory / WEIGHTS_FILE, lambda tmp: save_model(model, tmp))
    _write_json(directory / CONFIG_FILE, {"format": FORMAT, "version": FORMAT_VERSION, **asdict(meta)})


def read_meta(directory: Path) -> CheckpointMeta:
    """Read ``config.json`` of a run directory."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {directory} (missing {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vsearch grounding checkpoint")
    if data.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {data.get('version')} is not supported (expected {FORMAT_VERSION})")
    try:
        return CheckpointMeta(**{k: v for k, v in data.items() if k not in ("format", "version")})
    except TypeError as exc:
        raise CheckpointError(f"{path}: malformed checkpoint description ({exc})") from None


def config_of(meta: CheckpointMeta) -> Any:
    """The typed config tree stored in ``meta`` (the model package's ``CONFIG_CLS``)."""
    from grounding.models import model_package

    try:
        return from_dict(model_package(meta.model).CONFIG_CLS, meta.config)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint config does not fit model {meta.model!r}: {exc}") from None


def load_checkpoint(directory: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model of a run directory from ``config.json`` and load its weights (eval mode)."""
    from grounding.models import build_model

    directory = Path(directory)
    meta = read_meta(directory)
    model = build_model(meta.model, config_of(meta))
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"no weights at {directory} (missing {WEIGHTS_FILE})")
    try:
        missing, unexpected = load_model(model, weights, strict=False, device=str(device))
    except SafetensorError as exc:  # truncated or not a safetensors file at all
        raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: weights do not fit model {meta.model!r} (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    return model.to(device).eval(), meta


def save_training_state(directory: Path, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Optimizer state (tensors -> safetensors, the rest -> JSON), torch RNG, and trainer ``state``."""
    directory = Path(directory)
    optim_state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in optim_state["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    _write_atomic(directory / OPTIMIZER_FILE, lambda tmp: save_file(tensors, tmp))
    payload = {"trainer": state, "optimizer": {"param_groups": optim_state["param_groups"], "scalars": scalars}}
    _write_json(directory / TRAINER_STATE_FILE, payload)


def load_training_state(directory: Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore what :func:`save_training_state` wrote into ``optimizer`` and the torch RNG; returns the
    trainer state dict."""
    directory = Path(directory)
    state_path, tensor_path = directory / TRAINER_STATE_FILE, directory / OPTIMIZER_FILE
    if not state_path.is_file() or not tensor_path.is_file():
        raise CheckpointError(f"cannot resume from {directory.parent}: no training state in {directory}")
    payload = json.loads(state_path.read_text())
    tensors = load_file(tensor_path)
    per_param: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("state."):
            _, index, key = name.split(".", 2)
            per_param.setdefault(int(index), {})[key] = value
    for index, values in payload["optimizer"]["scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    per_param = dict(sorted(per_param.items()))
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": payload["optimizer"]["param_groups"]})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"cannot resume from {directory.parent}: optimizer state does not fit ({exc})") from None
    torch.set_rng_state(tensors["rng.torch"])
    return payload["trainer"]
