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
DEFAULT_ENCODER = "clip"


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


def encoder_identity(spec: str, encoder: Encoder, clip_seconds: float) -> EncoderIdentity:
    """The identity a library records for ``encoder``."""
    return EncoderIdentity(
        spec=spec,
        name=str(encoder.name),
        model_id=str(getattr(encoder, "model_id", encoder.name)),
        dim=int(encoder.dim),
        clip_seconds=float(clip_seconds),
    )
