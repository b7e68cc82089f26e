"""QD-DETR (Moon et al., CVPR 2023): query-dependent video representation for MR and HD.

Pipeline (``d`` = hidden width, ``L`` clips, ``N`` tokens, ``Q`` queries)::

    clips (B, L, Dv) --InputProjection--> (B, L, d) --+
    tokens (B, N, Dt) --InputProjection--> (B, N, d) --+--> QueryDependentEncoder (clips attend to tokens)
        --> [saliency token; clips] --TransformerEncoder--> token memory (B, d), clip memory (B, L, d)
        --> SaliencyHead(clip memory, token memory) -> saliency logits (B, L)
        --> DABDecoder(clip memory, anchors) -> per layer: class logits (B, Q, 2), spans (B, Q, 2)

During training every window is also encoded with the query of the next sample in the batch (a
negative pair, :func:`grounding.losses.shift_to_negative_pairs`); its saliency logits train the
negative-pair and rank-contrastive losses. The decoder is not run for negative pairs (its output would
be discarded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from grounding.losses import shift_to_negative_pairs
from grounding.matcher import FOREGROUND
from grounding.mlp import MLP
from grounding.models.qd_detr.config import QDDETRConfig
from grounding.models.qd_detr.cross_attention import QueryDependentEncoder
from grounding.models.qd_detr.dab_decoder import DABDecoder
from grounding.models.qd_detr.encoder import TransformerEncoder
from grounding.input_projection import InputProjection
from grounding.models.qd_detr.saliency_token import SaliencyHead, SaliencyToken
from grounding.position_encoding import PositionEmbeddingSine
from grounding.predictor import WindowPrediction, window_predictions
from grounding.span_ops import inverse_sigmoid


class QDDETR(nn.Module):
    """QD-DETR. Build with :func:`build_model`; see the module docstring for the data flow."""

    def __init__(self, config: QDDETRConfig) -> None:
        super().__init__()
        m = config.model
        d = m.hidden_dim
        if d % m.num_heads:
            raise ValueError(f"hidden_dim {d} is not divisible by num_heads {m.num_heads}")
        video_in = m.video_dim + (2 if config.data.temporal_endpoints else 0)
        self.config = config
        self.video_proj = InputProjection(input_dim=video_in, hidden_dim=d, num_layers=m.input_proj_layers, dropout=m.input_dropout)
        self.text_proj = InputProjection(input_dim=m.text_dim, hidden_dim=d, num_layers=m.input_proj_layers, dropout=m.input_dropout)
        self.position = PositionEmbeddingSine(num_feats=d, normalize=True)
        layer_args: dict[str, Any] = dict(dim=d, num_heads=m.num_heads, dim_feedforward=m.dim_feedforward,
                                          dropout=m.dropout, activation=m.activation)
        self.query_dependent = QueryDependentEncoder(num_layers=m.cross_attention_layers, **layer_args)
        self.encoder = TransformerEncoder(num_layers=m.encoder_layers, **layer_args)
        self.decoder = DABDecoder(num_layers=m.decoder_layers, modulate_width_attention=m.modulate_width_attention,
                                  keep_query_pos=m.keep_query_pos, **layer_args)
        for module in (self.query_dependent, self.encoder, self.decoder):
            for p in module.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        self.saliency_token = SaliencyToken(dim=d)
        self.saliency_head = SaliencyHead(dim=d)
        self.anchors = nn.Embedding(m.num_queries, 2)
        self.class_head = nn.Linear(d, 2)
        self.span_head = MLP(input_dim=d, hidden_dim=d, output_dim=2, num_layers=3)

    def encode(self, video: Tensor, video_mask: Tensor, pos: Tensor, text: Tensor, text_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Projected clips ``(B, L, d)`` + their positions, projected tokens ``(B, N, d)`` + masks ->
        clip memory ``(B, L, d)`` and saliency-token memory ``(B, d)``."""
        clips = self.query_dependent(video, pos, text, text_mask)
        seq, seq_pos, seq_mask = self.saliency_token.prepend(clips, pos, video_mask)
        memory = self.encoder(seq, seq_pos, seq_mask)
        return memory[:, 1:], memory[:, 0]

    def forward(self, video_feats: Tensor, video_mask: Tensor, text_feats: Tensor, text_mask: Tensor,
                targets: Sequence[dict[str, Tensor]] | None = None) -> dict[str, Any]:
        """Run the model.

        Args:
            video_feats: float ``(B, L, Dv [+2])`` normalised clip features (+ temporal endpoints).
            video_mask: bool ``(B, L)`` True = real clip (at least one per window).
            text_feats: float ``(B, N, Dt)`` normalised token features.
            text_mask: bool ``(B, N)`` True = real token (at least one per query).
            targets: unused (the criterion reads the batch); accepted for the shared model interface.

        Returns:
            ``pred_logits`` float ``(B, Q, 2)`` (index 0 = moment), ``pred_spans`` float ``(B, Q, 2)``
            normalised (center, width), ``aux_outputs`` (earlier decoder layers, same two keys),
            ``saliency_scores`` float ``(B, L)`` logits, and in training with negative pairs
            ``saliency_scores_neg`` float ``(B, L)``.
        """
        video = self.video_proj(video_feats)
        text = self.text_proj(text_feats)
        pos = self.position(video_mask)
        clip_memory, token_memory = self.encode(video, video_mask, pos, text, text_mask)
        hidden, references = self.decoder(clip_memory, video_mask, pos, self.anchors.weight)
        logits = self.class_head(hidden)  # (layers, B, Q, 2)
        spans = (self.span_head(hidden) + inverse_sigmoid(references)).sigmoid()
        outputs: dict[str, Any] = {
            "pred_logits": logits[-1],
            "pred_spans": spans[-1],
            "saliency_scores": self.saliency_head(clip_memory, token_memory),
        }
        if self.config.model.aux_loss:
            outputs["aux_outputs"] = [{"pred_logits": a, "pred_spans": b} for a, b in zip(logits[:-1], spans[:-1])]
        if self.training and self.config.model.negative_pairs and video.shape[0] > 1:
            neg_clips, neg_token = self.encode(
                video, video_mask, pos, shift_to_negative_pairs(text), shift_to_negative_pairs(text_mask)
            )
            outputs["saliency_scores_neg"] = self.saliency_head(neg_clips, neg_token)
        return outputs

    def postprocess(self, outputs: dict[str, Any], video_mask: Tensor, *,
                    clip_seconds: float | Sequence[float]) -> list[WindowPrediction]:
        """Outputs of :meth:`forward` -> one :class:`WindowPrediction` per window (spans in seconds,
        score = p(moment), saliency = sigmoid of the logit)."""
        scores = outputs["pred_logits"].softmax(-1)[..., FOREGROUND]
        return window_predictions(
            outputs["pred_spans"], scores, outputs["saliency_scores"].sigmoid(), video_mask, clip_seconds
        )


def build_model(config: QDDETRConfig) -> QDDETR:
    """QD-DETR for ``config`` (randomly initialised)."""
    return QDDETR(config)
