"""Frame preprocessing for image/video encoders, in torch (no torchvision, no PIL).

Two recipes cover the built-in encoders:

* CLIP style: resize the shortest edge to ``size`` (bicubic, antialiased), center-crop ``size`` x
  ``size``, scale to [0, 1], normalise with the CLIP mean/std (OpenAI CLIP, HF ``CLIPImageProcessor``).
* ImageNet style: resize straight to ``size`` x ``size`` (bicubic), scale to [0, 1], normalise with
  the ImageNet mean/std (InternVideo2's video transforms).

Frames cross in as uint8 RGB ``(..., H, W, 3)`` numpy arrays (the encoder contract) and leave as a
float tensor ``(..., 3, size, size)`` on the target device and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# PIL resample codes used in HF preprocessor configs -> torch interpolation modes.
_PIL_RESAMPLE = {0: "nearest", 1: "bilinear", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bicubic"}

ResizeMode = Literal["shortest_edge", "square"]


@dataclass(frozen=True)
class FrameTransform:
    """Resize, crop and normalise uint8 RGB frames into model input.

    size: square side of the output in pixels.
    resize: ``"shortest_edge"`` keeps the aspect ratio then center-crops; ``"square"`` stretches.
    interpolation: ``"bicubic"`` | ``"bilinear"`` | ``"nearest"`` (antialiased when downscaling).
    mean, std: per-channel RGB statistics applied after scaling pixels to [0, 1].
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: ResizeMode = "shortest_edge"
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"frame size must be positive, got {self.size}")
        if self.resize not in ("shortest_edge", "square"):
            raise ValueError(f"resize must be 'shortest_edge' or 'square', got {self.resize!r}")

    def __call__(
        self,
        frames: np.ndarray | torch.Tensor,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """uint8 RGB ``(..., H, W, 3)`` -> normalised ``dtype`` ``(..., 3, size, size)`` on ``device``."""
        pixels = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
        if pixels.dtype != torch.uint8 or pixels.ndim < 3 or pixels.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 RGB (..., H, W, 3), got {tuple(pixels.shape)} {pixels.dtype}")
        lead = pixels.shape[:-3]
        height, width = int(pixels.shape[-3]), int(pixels.shape[-2])
        x = pixels.reshape(-1, height, width, 3).to(device).permute(0, 3, 1, 2).float()
        x = self._resize(x, height, width)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1) * 255.0
        x = (x - mean) / std
        return x.to(dtype).reshape(*lead, 3, self.size, self.size)

    def _resize(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if self.resize == "square":
            out_h = out_w = self.size
        else:
            scale = self.size / min(height, width)
            out_h = max(self.size, int(round(height * scale)))
            out_w = max(self.size, int(round(width * scale)))
        if (out_h, out_w) != (height, width):
            antialias = self.interpolation in ("bilinear", "bicubic") and (out_h < height or out_w < width)
            align = False if self.interpolation in ("bilinear", "bicubic") else None
            x = F.interpolate(x, size=(out_h, out_w), mode=self.interpolation, align_corners=align,
                              antialias=antialias)
            # Bicubic overshoots; PIL (what the models were trained with) clamps to the uint8 range.
            x = x.clamp_(0.0, 255.0)
        top = int(round((out_h - self.size) / 2.0))
        left = int(round((out_w - self.size) / 2.0))
        return x[:, :, top:top + self.size, left:left + self.size]


def clip_transform(size: int = 224) -> FrameTransform:
    """OpenAI CLIP preprocessing: shortest edge -> ``size``, center crop, CLIP mean/std."""
    return FrameTransform(size=size, mean=CLIP_MEAN, std=CLIP_STD, resize="shortest_edge")


def imagenet_transform(size: int = 224) -> FrameTransform:
    """InternVideo2 preprocessing: stretch to ``size`` x ``size`` (bicubic), ImageNet mean/std."""
    return FrameTransform(size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize="square")


def transform_from_preprocessor_config(config: dict[str, Any], default_size: int) -> FrameTransform:
    """Build the transform an HF ``preprocessor_config.json`` describes (CLIP and SigLIP image processors).

    Reads ``size`` ({"shortest_edge"} or {"height", "width"}), ``crop_size``, ``do_center_crop``,
    ``resample``, ``image_mean`` and ``image_std``; missing keys fall back to CLIP defaults at
    ``default_size``.
    """
    size_cfg = config.get("size", {"shortest_edge": default_size})
    if isinstance(size_cfg, int):
        size_cfg = {"shortest_edge": size_cfg}
    do_crop = bool(config.get("do_center_crop", "shortest_edge" in size_cfg))
    if "shortest_edge" in size_cfg and do_crop:
        crop = config.get("crop_size", size_cfg["shortest_edge"])
        size = int(crop["height"] if isinstance(crop, dict) else crop)
        resize: ResizeMode = "shortest_edge"
    elif "height" in size_cfg:
        size = int(size_cfg["height"])
        resize = "square"
    else:
        size = int(size_cfg["shortest_edge"])
        resize = "square"
    mean = tuple(float(v) for v in config.get("image_mean", CLIP_MEAN))
    std = tuple(float(v) for v in config.get("image_std", CLIP_STD))
    interpolation = _PIL_RESAMPLE.get(int(config.get("resample", 3)), "bicubic")
    return FrameTransform(size=size, mean=mean, std=std, resize=resize,  # type: ignore[arg-type]
                          interpolation=interpolation)

