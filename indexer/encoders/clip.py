"""The ``clip`` encoder: any transformers CLIP-family dual encoder (CLIP, SigLIP) on video clips.

A clip is ``frames_per_clip`` frames sampled uniformly inside it; each frame goes through the image
tower, frame embeddings are L2-normalised and averaged, and the mean is L2-normalised again (the
"mean pooling" baseline of CLIP4Clip, which needs no temporal weights).

Text: ``tokens`` is the text tower's last hidden state after its final layer norm for the real tokens
(start/end markers included), width ``text_dim`` = text hidden size; ``pooled`` is the projected,
L2-normalised sentence embedding in the clip space (width ``dim``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from indexer.encoders.base import EncodedText, l2_normalize
from indexer.encoders.device import inference_dtype, resolve_device
from indexer.encoders.preprocess import FrameTransform, transform_from_preprocessor_config
from indexer.encoders.registry import EncoderLoadError
from indexer.encoders.tokenize import tokenize

DEFAULT_MODEL_ID = "openai/clip-vit-base-patch32"
DEFAULT_FRAMES_PER_CLIP = 4


class CLIPEncoder:
    """Video-text encoder over a transformers model with ``get_image_features``/``get_text_features``.

    Args:
        path: local directory or Hugging Face id of the model (default ``openai/clip-vit-base-patch32``).
        device: ``auto`` | ``cpu`` | ``cuda[:N]``; fp16 on CUDA, fp32 on CPU.
        frames_per_clip: frames sampled per clip and averaged.
        batch_size: frames (or texts) per forward pass.
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        device: str = "auto",
        frames_per_clip: int = DEFAULT_FRAMES_PER_CLIP,
        batch_size: int = 64,
    ) -> None:
        model_id = str(path) if path else DEFAULT_MODEL_ID
        model, tokenizer, transform = _load_pretrained(model_id)
        self._bind(model, tokenizer, transform, name=f"clip:{model_id}", model_id=model_id, device=device,
                   frames_per_clip=frames_per_clip, batch_size=batch_size)

    def _bind(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        transform: FrameTransform,
        *,
        name: str,
        model_id: str,
        device: str,
        frames_per_clip: int,
        batch_size: int,
    ) -> None:
        """Attach a loaded model; shared by :class:`CLIPEncoder` and the in-code ``tiny`` encoder."""
        if frames_per_clip < 1:
            raise EncoderLoadError(f"frames_per_clip must be >= 1, got {frames_per_clip}")
        if batch_size < 1:
            raise EncoderLoadError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.dtype = inference_dtype(self.device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.tokenizer = tokenizer
        self.transform = transform
        config = model.config
        self.name = name
        self.model_id = model_id
        # CLIP: projection_dim; SigLIP: the text head's projection_size (its image pooler has the same width).
        self.dim = int(getattr(config, "projection_dim", None)
                       or getattr(config.text_config, "projection_size", None) or config.text_config.hidden_size)
        self.text_dim = int(config.text_config.hidden_size)
        self.max_text_tokens = int(config.text_config.max_position_embeddings)
        self.frames_per_clip = int(frames_per_clip)
        self.frame_size: int | None = transform.size
        self.batch_size = int(batch_size)
        # SigLIP was trained on texts padded to the full length and pools the last position.
        self._pad_to_max = config.model_type.startswith("siglip")

    @torch.inference_mode()
    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB ``(n_clips, frames_per_clip, H, W, 3)`` -> float32 ``(n_clips, dim)``, rows L2-normalised."""
        frames = np.asarray(frames)
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 (n_clips, frames_per_clip, H, W, 3), got {frames.shape} {frames.dtype}")
        n_clips, n_frames = frames.shape[:2]
        if n_clips == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        flat = frames.reshape(n_clips * n_frames, *frames.shape[2:])
        chunks = []
        for start in range(0, len(flat), self.batch_size):
            pixels = self.transform(flat[start:start + self.batch_size], device=self.device, dtype=self.dtype)
            out = self.model.get_image_features(pixel_values=pixels)
            chunks.append(out.pooler_output.float().cpu().numpy())
        per_frame = l2_normalize(np.concatenate(chunks)).reshape(n_clips, n_frames, self.dim)
        return l2_normalize(per_frame.mean(axis=1))

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> list[EncodedText]:
        """``texts`` -> one :class:`EncodedText` each: tokens float32 ``(n_tokens, text_dim)``, pooled ``(dim,)``."""
        texts = list(texts)
        results: list[EncodedText] = []
        for start in range(0, len(texts), self.batch_size):
            results.extend(self._encode_text_batch(texts[start:start + self.batch_size]))
        return results

    def _encode_text_batch(self, texts: Sequence[str]) -> list[EncodedText]:
        if not texts:
            return []
        batch, lengths = tokenize(self.tokenizer, texts, max_length=self.max_text_tokens, name=self.name,
                                  pad_to_max=self._pad_to_max)
        attention_mask = batch.get("attention_mask")
        kwargs: dict[str, torch.Tensor] = {"input_ids": batch["input_ids"].to(self.device)}
        if attention_mask is not None and not self._pad_to_max:
            kwargs["attention_mask"] = attention_mask.to(self.device)
        out = self.model.get_text_features(**kwargs)
        hidden = out.last_hidden_state.float().cpu().numpy()
        pooled = l2_normalize(out.pooler_output.float().cpu().numpy())
        # Right padding everywhere (CLIP, SigLIP), so the real tokens are the first ``lengths[i]``.
        return [EncodedText(tokens=np.ascontiguousarray(hidden[i, :lengths[i]]), pooled=pooled[i])
                for i in range(len(texts))]


def _load_pretrained(model_id: str) -> tuple[torch.nn.Module, Any, FrameTransform]:
    """Load model, tokenizer and frame transform from a local directory or the Hugging Face hub."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import cached_file

    local = Path(model_id).expanduser()
    source = str(local) if local.exists() else model_id
    if local.exists() and not (local / "config.json").is_file():
        raise EncoderLoadError(f"{local} has no config.json: pass a directory saved with save_pretrained "
                               "or a Hugging Face model id")
    try:
        model = AutoModel.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EncoderLoadError(
            f"cannot load CLIP model {model_id!r}: {first_line} (check the id, your network, or pass a local "
            "directory with --encoder-path)"
        ) from exc
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise EncoderLoadError(f"{model_id!r} is a {type(model).__name__}, not a CLIP-family dual encoder")
    image_size = int(model.config.vision_config.image_size)
    processor_file = cached_file(source, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    processor_config: dict[str, Any] = {}
    if processor_file is not None:
        processor_config = json.loads(Path(processor_file).read_text())
    return model, tokenizer, transform_from_preprocessor_config(processor_config, image_size)
