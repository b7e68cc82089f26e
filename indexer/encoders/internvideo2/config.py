"""Configuration of the InternVideo2 Stage2 video-text model (vision tower, text tower, shared space).

The defaults are the released Stage2 1B checkpoint (``InternVideo2-stage2_1b-224p-f4.pt``): a 40-block,
1408-wide ViT with 14 px patches over 4 frames of 224 px, attention-pooled to 768-d; a BERT-large
text tower of which the first 19 layers encode text (layers 19-23 are the cross-attention fusion
layers, unused for retrieval); both projected to a 512-d aligned space. Values follow the official
``pretrain_internvideo2_1b_patch14_224`` builder and ``configs/config_bert_large.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class VisionConfig:
    """The InternVideo2 ViT: pre-norm RMSNorm blocks with QK-norm and LayerScale, attention pooling."""

    image_size: int = 224
    patch_size: int = 14
    num_frames: int = 4           # frames per clip the temporal position embedding was trained for
    tubelet_size: int = 1
    embed_dim: int = 1408
    depth: int = 40
    num_heads: int = 16
    mlp_hidden_dim: int = 6144    # int(1408 * 48 / 11)
    qkv_bias: bool = False
    qk_normalization: bool = True
    layerscale_init: float = 1e-5
    norm_eps: float = 1e-6        # RMSNorm of the blocks
    attn_pool_num_heads: int = 16
    clip_embed_dim: int = 768     # width of the attention-pooled video embedding
    sep_image_video_pos_embed: bool = True

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def temporal_size(self) -> int:
        return self.num_frames // self.tubelet_size


@dataclass(frozen=True)
class TextConfig:
    """The BERT text tower. Only ``fusion_layer`` layers run in text mode (the official ``mode="text"``)."""

    vocab_size: int = 30522
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    fusion_layer: int = 19        # first layer with cross-attention; layers below it encode text alone
    max_text_tokens: int = 40     # the official max_txt_l


@dataclass(frozen=True)
class InternVideo2Config:
    """The whole Stage2 model: both towers plus the ``embed_dim`` shared space they project into."""

    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    embed_dim: int = 512

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InternVideo2Config:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they mean a different model)."""
        data = dict(data)
        vision = VisionConfig(**data.pop("vision", {}))
        text = TextConfig(**data.pop("text", {}))
        return cls(vision=vision, text=text, **data)


STAGE2_1B = InternVideo2Config()
