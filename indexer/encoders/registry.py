"""Load an encoder by built-in name or by ``package.module:attr`` import path.

``attr`` is a class or a zero-argument factory. Built-ins additionally receive ``device`` and
``path`` keyword arguments; plug-ins receive them only if their signature accepts them.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from indexer.encoders.base import Encoder

BUILTIN_ENCODERS: dict[str, str] = {
    "clip": "indexer.encoders.clip:CLIPEncoder",
    "tiny": "indexer.encoders.tiny:TinyEncoder",
    "internvideo2": "indexer.encoders.internvideo2:InternVideo2Encoder",
}
DEFAULT_ENCODER = "internvideo2"
CPU_DEFAULT_ENCODER = "clip"
# Library setting holding the weights location (`--encoder-path`) so queries reload the same weights.
ENCODER_PATH_SETTING = "encoder_path"


def default_encoder_spec(device: str = "auto") -> str:
    """The encoder a new library gets when none is named.

    InternVideo2 (the model SG-DETR was designed around) where a CUDA GPU will run it; CLIP
    otherwise, because InternVideo2-1B encodes ~66x slower than CLIP ViT-B/32 and a CPU-only
    machine would need days per hour of video (README, "Encoders").
    """
    if device == "cpu":
        return CPU_DEFAULT_ENCODER
    import torch

    return DEFAULT_ENCODER if torch.cuda.is_available() else CPU_DEFAULT_ENCODER


class EncoderLoadError(RuntimeError):
    """The encoder spec could not be resolved or the object breaks the contract."""


@dataclass(frozen=True)
class EncoderIdentity:
    """What a library is bound to: opening it with a different identity is an error."""

    spec: str
    name: str
    model_id: str
    dim: int
    clip_seconds: float


def _resolve(spec: str) -> Any:
    target = BUILTIN_ENCODERS.get(spec, spec)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN_ENCODERS))
        raise EncoderLoadError(f"unknown encoder {spec!r}: use one of {known} or 'package.module:attr'")
    module_name, attr = target.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EncoderLoadError(f"cannot import encoder module {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise EncoderLoadError(f"module {module_name!r} has no attribute {attr!r}") from exc


def _accepted_kwargs(factory: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def load_encoder(spec: str, *, device: str = "auto", path: str | None = None, **options: Any) -> Encoder:
    """Instantiate the encoder named by ``spec`` and check its contract attributes."""
    factory = _resolve(spec)
    kwargs = {"device": device, "path": path, **options}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    encoder = factory(**_accepted_kwargs(factory, kwargs)) if callable(factory) else factory
    missing = [a for a in ("name", "dim", "frames_per_clip", "frame_size", "encode_clips", "encode_text")
               if not hasattr(encoder, a)]
    if missing:
        raise EncoderLoadError(f"encoder {spec!r} lacks {', '.join(missing)} (see the encoder contract in the README)")
    return encoder


def normalize_encoder_path(path: str) -> str:
    """An existing local path made absolute (queries may run from another directory); else as given (an HF id)."""
    import os

    expanded = os.path.expanduser(path)
    return os.path.abspath(expanded) if os.path.exists(expanded) else path


def encoder_identity(spec: str, encoder: Encoder, clip_seconds: float) -> EncoderIdentity:
    """The identity a library records for ``encoder``."""
    return EncoderIdentity(
        spec=spec,
        name=str(encoder.name),
        model_id=str(getattr(encoder, "model_id", encoder.name)),
        dim=int(encoder.dim),
        clip_seconds=float(clip_seconds),
    )
