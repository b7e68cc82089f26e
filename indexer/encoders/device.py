"""Where an encoder runs: ``auto|cpu|cuda[:N]`` to a torch device and its inference dtype."""

from __future__ import annotations

import torch

from indexer.encoders.registry import EncoderLoadError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> the first CUDA device when one is usable, else CPU; ``"cuda"`` without CUDA is an error."""
    if isinstance(device, torch.device):
        return device
    choice = device.strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(choice)
    except RuntimeError as exc:
        raise EncoderLoadError(f"unknown device {device!r}: use auto, cpu or cuda[:N]") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EncoderLoadError(f"device {device!r} requested but CUDA is not available: use --device cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise EncoderLoadError(f"unsupported device {device!r}: use auto, cpu or cuda[:N]")
    return resolved


def inference_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA (half the memory, tensor cores), fp32 on CPU (CPU half kernels are slow or missing)."""
    return torch.float16 if device.type == "cuda" else torch.float32
