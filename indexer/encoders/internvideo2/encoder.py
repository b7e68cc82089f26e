"""The ``internvideo2`` encoder: InternVideo2 Stage2 (1B, 224 px, 4 frames) behind the encoder contract.

Clips: 4 frames resized to 224 x 224 (bicubic), ImageNet mean/std, one forward through the video
tower, projected to the 512-d shared space and L2-normalised. Text: the bert-large-uncased tokenizer
(40 tokens max, the official ``max_txt_l``), the text-only BERT layers, every token projected by
``text_proj`` into the same 512-d space (``tokens``, for grounding) and the projected [CLS]
L2-normalised (``pooled``, for retrieval), as in the official ``get_txt_feat``.
"""

from __future__ import annotations

import numpy as np
import torch

from indexer.encoders.base import EncodedText
from indexer.encoders.device import resolve_device
from indexer.encoders.internvideo2.checkpoint import (
    InternVideo2CheckpointError,
    read_state_dict,
    resolve_checkpoint,
    select_retrieval_weights,
)
from indexer.encoders.internvideo2.config import InternVideo2Config
from indexer.encoders.internvideo2.model import InternVideo2Stage2, parameter_shapes
from indexer.encoders.preprocess import imagenet_transform
from indexer.encoders.registry import EncoderLoadError
from indexer.encoders.tokenize import tokenize

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _precision(device: torch.device, precision: str) -> torch.dtype:
    """``auto``: bf16 on CUDA that supports it (the checkpoint's own dtype), else fp16; fp32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision not in PRECISIONS:
        raise EncoderLoadError(f"unknown precision {precision!r}: use auto, fp32, fp16 or bf16")
    return PRECISIONS[precision]


class InternVideo2Encoder:
    """InternVideo2 Stage2 video-text encoder.

    Args:
        path: weights file, directory, or Hugging Face repo id; None = the gated official
            ``OpenGVLab/InternVideo2-Stage2_1B-224p-f4`` (needs an accepted license and an HF token).
        device: ``auto`` | ``cpu`` | ``cuda[:N]``.
        precision: ``auto`` (bf16/fp16 on CUDA, fp32 on CPU) | ``fp32`` | ``fp16`` | ``bf16``.
        batch_size: clips (or texts) per forward pass.
    """

    def __init__(self, path: str | None = None, *, device: str = "auto", precision: str = "auto",
                 batch_size: int = 16) -> None:
        if batch_size < 1:
            raise EncoderLoadError(f"batch_size must be >= 1, got {batch_size}")
        source = resolve_checkpoint(path)
        # Check the file against the architecture on the meta device before allocating anything.
        usable, _ = select_retrieval_weights(read_state_dict(source.weights), parameter_shapes(source.config),
                                             fusion_layer=source.config.text.fusion_layer, source=str(source.weights))
        model = InternVideo2Stage2(source.config, initialize=False)
        model.load_state_dict(usable, strict=True)
        del usable
        tokenizer = _load_tokenizer(source.tokenizer)
        # The file name, not its folder, identifies the weights: a library survives moving them.
        self._setup(model, tokenizer, source.config, model_id=source.weights.name, device=device,
                    precision=precision, batch_size=batch_size)

    @classmethod
    def from_model(cls, model: InternVideo2Stage2, tokenizer: object, *, model_id: str, device: str = "auto",
                   precision: str = "auto", batch_size: int = 16) -> InternVideo2Encoder:
        """Wrap an already-built model (tests, conversions) without reading a checkpoint."""
        encoder = cls.__new__(cls)
        encoder._setup(model, tokenizer, model.config, model_id=model_id, device=device, precision=precision,
                       batch_size=batch_size)
        return encoder

    def _setup(self, model: InternVideo2Stage2, tokenizer: object, config: InternVideo2Config, *, model_id: str,
               device: str, precision: str, batch_size: int) -> None:
        self.device = resolve_device(device)
        self.dtype = _precision(self.device, precision)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.tokenizer = tokenizer
        self.config = config
        self.transform = imagenet_transform(config.vision.image_size)
        self.name = "internvideo2"
        self.model_id = model_id
        self.dim = config.embed_dim
        self.text_dim = config.embed_dim
        self.frames_per_clip = config.vision.num_frames
        self.frame_size: int | None = config.vision.image_size
        self.max_text_tokens = config.text.max_text_tokens
        self.batch_size = int(batch_size)

    @torch.inference_mode()
    def encode_clips(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB ``(n_clips, frames_per_clip, H, W, 3)`` -> float32 ``(n_clips, dim)``, rows L2-normalised."""
        frames = np.asarray(frames)
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 (n_clips, frames_per_clip, H, W, 3), got {frames.shape} {frames.dtype}")
        if frames.shape[1] not in (self.frames_per_clip, 1):
            raise ValueError(f"{self.name} encodes {self.frames_per_clip} frames per clip, got {frames.shape[1]}")
        chunks = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(frames), self.batch_size):
            pixels = self.transform(frames[start:start + self.batch_size], device=self.device, dtype=self.dtype)
            chunks.append(self.model.encode_video(pixels).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> list[EncodedText]:
        """``texts`` -> :class:`EncodedText` each: tokens float32 ``(n_tokens, dim)`` ([CLS] ... [SEP]),
        pooled float32 ``(dim,)`` L2-normalised."""
        texts = list(texts)
        results: list[EncodedText] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            batch, lengths = tokenize(self.tokenizer, chunk, max_length=self.max_text_tokens, name=self.name)
            tokens, pooled = self.model.encode_text(batch["input_ids"].to(self.device),
                                                    batch["attention_mask"].to(self.device))
            tokens_np, pooled_np = tokens.cpu().numpy(), pooled.cpu().numpy()
            results.extend(EncodedText(tokens=np.ascontiguousarray(tokens_np[i, :lengths[i]]), pooled=pooled_np[i])
                           for i in range(len(chunk)))
        return results


def _load_tokenizer(source: str) -> object:
    """The BERT WordPiece tokenizer (bert-large-uncased) from a local directory or the hub."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise InternVideo2CheckpointError(
            f"cannot load the bert-large-uncased tokenizer from {source}: put its tokenizer.json or vocab.txt "
            "next to the InternVideo2 weights, or allow downloading google-bert/bert-large-uncased"
        ) from exc
