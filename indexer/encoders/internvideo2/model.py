"""InternVideo2 Stage2 for retrieval: vision tower, BERT text tower, projections to the shared space.

Module and parameter names mirror the official ``InternVideo2_Stage2`` (``vision_encoder``,
``text_encoder.bert``, ``vision_proj``, ``text_proj``) so that the released checkpoint's keys map 1:1.
The text tower is transformers' ``BertModel`` (SDPA attention) truncated to the ``fusion_layer``
text-only layers, which is exactly what the official ``mode="text"`` forward runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from indexer.encoders.internvideo2.config import InternVideo2Config, TextConfig
from indexer.encoders.internvideo2.vision import InternVideo2VisionTransformer


def build_text_tower(config: TextConfig) -> nn.Module:
    """transformers ``BertModel`` with the text-only layers (``fusion_layer`` of them), no pooler."""
    from transformers import BertConfig, BertModel

    bert_config = BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.fusion_layer,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        pad_token_id=config.pad_token_id,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    bert_config._attn_implementation = "sdpa"
    return BertModel(bert_config, add_pooling_layer=False)


class TextEncoder(nn.Module):
    """Holder that gives the BERT tower the official ``text_encoder.bert.*`` key prefix."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.bert = build_text_tower(config)


class InternVideo2Stage2(nn.Module):
    """Dual encoder into the ``embed_dim`` space (512 for the 1B model).

    ``encode_video``: pixels ``(B, T, 3, H, W)`` (ImageNet-normalised) -> ``(B, embed_dim)`` L2-normalised.
    ``encode_text``: ``input_ids``/``attention_mask`` ``(B, L)`` -> ``(tokens (B, L, embed_dim)`` projected
    per token, not normalised; ``pooled (B, embed_dim)`` projected [CLS], L2-normalised``)``.
    """

    def __init__(self, config: InternVideo2Config, *, initialize: bool = True) -> None:
        """``initialize=False`` allocates the weights without random initialisation (transformers'
        ``no_init_weights``), for loading a checkpoint right after: saves a 1.3B-parameter init."""
        super().__init__()
        self.config = config
        if initialize:
            self._build(config)
        else:
            from transformers.initialization import no_init_weights

            with no_init_weights():
                self._build(config)

    def _build(self, config: InternVideo2Config) -> None:
        self.vision_encoder = InternVideo2VisionTransformer(config.vision)
        self.text_encoder = TextEncoder(config.text)
        self.vision_proj = nn.Linear(config.vision.clip_embed_dim, config.embed_dim)
        self.text_proj = nn.Linear(config.text.hidden_size, config.embed_dim)

    def encode_video(self, pixels: torch.Tensor) -> torch.Tensor:
        _, pooled = self.vision_encoder(pixels.permute(0, 2, 1, 3, 4))
        return F.normalize(self.vision_proj(pooled).float(), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.text_encoder.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        tokens = self.text_proj(hidden)
        return tokens.float(), F.normalize(tokens[:, 0].float(), dim=-1)


def parameter_shapes(config: InternVideo2Config) -> dict[str, tuple[int, ...]]:
    """Shapes of every state-dict entry of the model at ``config``, computed on the meta device (free)."""
    with torch.device("meta"):
        model = InternVideo2Stage2(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}
