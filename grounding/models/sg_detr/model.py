"""SG-DETR (Gordeev et al., arXiv 2410.01615): the assembled model and its inference post-processing.

Data flow for a batch of B windows of L clips and queries of N tokens (D = hidden size):

    video (B, L, Dv) ─ input projection ─ F_v (B, L, D) ─┐
    text  (B, N, Dt) ─ input projection ─ F_t (B, N, D) ─┴─ local saliency head ─ S_local (B, L), F_sent
    F_v ── SGCA x2 (gated by σ(S_local); plain CA when switched off) ── self-attention encoder x3 ── F
    F, S_local ── saliency amplifier (GSM) ── F_g, S_global          (off: F_g = F, S_global = S_local)
    F_g ── query selection ── DINO decoder x3 ── class / span / IoU heads   (+ denoising, + Co-DETR queries)
    F_g ── ATSS head                                                          (hybrid detector)
    inference: S_det = p^γ·IoU^(1-γ) for DETR spans, WBF with the ATSS spans; per-clip saliency S_global.

Switches live in :class:`SGDETRModelConfig`; every output key is documented in :meth:`SGDETR.forward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from grounding.input_projection import InputProjection
from grounding.losses.saliency import shift_to_negative_pairs
from grounding.models.sg_detr.atss_head import ATSSHead, ATSSTargets, assign_batch, atss_predictions, batch_anchors
from grounding.models.sg_detr.config import SGDETRModelConfig
from grounding.models.sg_detr.denoising import decoder_attention_mask, make_denoising_queries
from grounding.models.sg_detr.dino_decoder import DINODecoder
from grounding.models.sg_detr.iou_head import IoUHead, detection_score
from grounding.models.sg_detr.local_saliency_head import LocalSaliencyHead
from grounding.models.sg_detr.query_selection import QuerySelection
from grounding.models.sg_detr.saliency_amplifier import SaliencyAmplifier
from grounding.models.sg_detr.self_encoder import SelfAttentionEncoder
from grounding.models.sg_detr.sgca import SGCALayer
from grounding.models.sg_detr.weighted_boxes_fusion import fuse_span_batches
from grounding.position_encoding import PositionEmbeddingSine
from grounding.predictor import WindowPrediction, window_predictions
from grounding.span_ops import span_cw_to_se


@dataclass
class ExtraQueries:
    """Co-DETR queries built from ATSS positives; E = most positives kept in a window of the batch.

    reference float (B, E, 2) normalised (centre, width) of the anchors; content float (B, E, D);
    target_index long (B, E) index of the ground-truth span each was assigned to; valid bool (B, E).
    """

    reference: torch.Tensor
    content: torch.Tensor
    target_index: torch.Tensor
    valid: torch.Tensor


class SGDETR(nn.Module):
    """Saliency-Guided DETR; build it with :func:`grounding.models.sg_detr.build_model`."""

    def __init__(self, config: SGDETRModelConfig, *, temporal_endpoints: bool = True) -> None:
        super().__init__()
        self.config = config
        d, enc, dec = config.hidden_dim, config.encoder, config.decoder
        self.video_proj = InputProjection(
            input_dim=config.video_dim + (2 if temporal_endpoints else 0), hidden_dim=d,
            num_layers=config.input_layers, dropout=config.input_dropout,
        )
        self.text_proj = InputProjection(
            input_dim=config.text_dim, hidden_dim=d, num_layers=config.input_layers, dropout=config.input_dropout
        )
        self.position = PositionEmbeddingSine(num_feats=d)
        self.local_saliency = LocalSaliencyHead(
            dim=d, heads=enc.heads, ffn_dim=enc.ffn_dim, dropout=config.dropout,
            pooling_layers=config.local_saliency.pooling_layers,
            init_alpha=config.local_saliency.init_alpha, init_beta=config.local_saliency.init_beta,
        )
        self.cross_layers = nn.ModuleList(
            SGCALayer(dim=d, heads=enc.heads, ffn_dim=enc.ffn_dim, dropout=config.dropout, guided=enc.sgca)
            for _ in range(enc.cross_layers)
        )
        self.self_encoder = SelfAttentionEncoder(
            dim=d, heads=enc.heads, ffn_dim=enc.ffn_dim, dropout=config.dropout, layers=enc.self_layers
        )
        self.amplifier = SaliencyAmplifier(dim=d) if config.amplifier.enabled else None
        self.query_selection = QuerySelection(
            dim=d, num_queries=dec.num_queries, proposal_widths=dec.proposal_widths, enabled=dec.query_selection
        )
        self.decoder = DINODecoder(
            dim=d, heads=dec.heads, ffn_dim=dec.ffn_dim, dropout=config.dropout, layers=dec.layers
        )
        self.class_head = nn.Linear(d, 2)
        self.iou_head = IoUHead(dim=d) if config.iou_head.enabled else None
        # DINO embeds a denoising query's (possibly flipped) class label; with one class ("moment") that is
        # one learnt vector shared by positive and negative copies, which differ only by their noise.
        self.denoising_content = nn.Parameter(torch.zeros(d)) if dec.denoising_groups > 0 else None
        atss = config.atss
        self.atss_head = ATSSHead(dim=d, num_levels=len(atss.anchor_widths)) if atss.enabled else None
        self.extra_content = nn.Linear(d, d) if atss.enabled and atss.extra_queries else None

    # ----- encoder side -----

    def encode(
        self, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
        position: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Projected inputs -> ``memory`` F_g (B, L, D), ``saliency_local`` / ``saliency_global`` (B, L)
        logits (0 on padded clips), ``sentence`` F_sent (B, D)."""
        s_local, sentence = self.local_saliency(video, video_mask, text, text_mask)
        x = video
        for layer in self.cross_layers:
            x = layer(x, position, text, text_mask, s_local)
        x = self.self_encoder(x + position, video_mask)
        if self.amplifier is not None:
            memory, s_global = self.amplifier(x, s_local, video_mask)
        else:
            memory, s_global = x * video_mask.unsqueeze(-1), s_local
        return {"memory": memory, "saliency_local": s_local, "saliency_global": s_global, "sentence": sentence}

    # ----- training-only query groups -----

    def _extra_queries(self, memory: torch.Tensor, atss_targets: ATSSTargets) -> ExtraQueries | None:
        """Co-DETR queries: up to ``max_extra_queries`` ATSS positives per window, content from F_g at
        the anchor's clip, reference = the anchor."""
        levels = len(self.config.atss.anchor_widths)
        limit = self.config.atss.max_extra_queries
        chosen = []
        for b in range(memory.shape[0]):
            index = (atss_targets.assigned[b] >= 0).nonzero(as_tuple=True)[0]
            if len(index) > limit:
                index = index[torch.randperm(len(index), device=index.device)[:limit]]
            chosen.append(index)
        most = max(len(i) for i in chosen)
        if most == 0:
            return None
        b, _, d = memory.shape
        reference = torch.full((b, most, 2), 0.5, device=memory.device)
        target_index = torch.zeros(b, most, dtype=torch.long, device=memory.device)
        content = memory.new_zeros(b, most, d)
        valid = torch.zeros(b, most, dtype=torch.bool, device=memory.device)
        for i, index in enumerate(chosen):
            n = len(index)
            if n == 0:
                continue
            anchors = atss_targets.anchors[i, index]
            widths = (anchors[:, 1] - anchors[:, 0]).clamp(1e-3, 1)
            reference[i, :n] = torch.stack([anchors.mean(-1).clamp(0, 1), widths], -1)
            target_index[i, :n] = atss_targets.assigned[i, index]
            content[i, :n] = memory[i, index // levels]
            valid[i, :n] = True
        return ExtraQueries(
            reference=reference, content=self.extra_content(content), target_index=target_index, valid=valid
        )

    # ----- forward -----

    def forward(
        self,
        video_feats: torch.Tensor,
        video_mask: torch.Tensor,
        text_feats: torch.Tensor,
        text_mask: torch.Tensor,
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> dict:
        """Run SG-DETR on a padded batch.

        Args:
            video_feats: float (B, L, Dv); video_mask: bool (B, L), True = real clip (>= 1 per window).
            text_feats: float (B, N, Dt); text_mask: bool (B, N), True = real token (>= 1 per query).
            targets: the Batch targets (``spans`` (M, 2) normalised (centre, width)); in training they
                add the denoising and Co-DETR query groups and the ATSS assignment.

        Returns a dict with
            ``pred_logits`` (B, Q, 2) class logits (index 0 = moment), ``pred_spans`` (B, Q, 2) normalised
            (centre, width), ``pred_iou`` (B, Q) IoU logits (IoU head on), ``aux_outputs`` list of those
            dicts for the earlier decoder layers, ``saliency_scores`` = ``saliency_global`` (B, L) and
            ``saliency_local`` (B, L) logits, ``sentence`` (B, D), ``video_tokens`` F_v (B, L, D);
            in training also ``saliency_scores_neg`` / ``saliency_local_neg`` (B, L) with the partner's
            query (negative pairs), ``enc_outputs`` (selected proposals), ``dn_outputs`` + ``dn_meta``,
            ``extra_outputs`` + ``extra_meta``, ``atss_targets``; with ATSS on ``atss_logits`` /
            ``atss_deltas`` / ``atss_centerness`` and ``atss_anchors`` (B, A, 2), ``atss_valid`` (B, A).
        """
        cfg = self.config
        video = self.video_proj(video_feats)
        text = self.text_proj(text_feats)
        position = self.position(video_mask).to(video.dtype)
        encoded = self.encode(video, video_mask, text, text_mask, position)
        memory = encoded["memory"]
        out: dict = {
            "saliency_scores": encoded["saliency_global"],
            "saliency_global": encoded["saliency_global"],
            "saliency_local": encoded["saliency_local"],
            "sentence": encoded["sentence"],
            "video_tokens": video,
        }
        training = self.training and targets is not None
        if training and cfg.negative_pairs and video.shape[0] > 1:
            negative = self.encode(
                video, video_mask, shift_to_negative_pairs(text), shift_to_negative_pairs(text_mask), position
            )
            out["saliency_scores_neg"] = negative["saliency_global"]
            out["saliency_local_neg"] = negative["saliency_local"]

        selected = self.query_selection(memory, video_mask)
        if selected.proposal_logits is not None:
            out["enc_outputs"] = {"pred_logits": selected.proposal_logits, "pred_spans": selected.proposal_spans}

        atss_targets = None
        if self.atss_head is not None:
            out.update(self.atss_head(memory, video_mask))
            out["atss_anchors"], out["atss_valid"] = batch_anchors(video_mask, cfg.atss.anchor_widths)
            if targets is not None:
                spans = [t["spans"] for t in targets]
                atss_targets = assign_batch(video_mask, spans, cfg.atss.anchor_widths, cfg.atss.top_k)
                out["atss_targets"] = atss_targets

        dn = None
        if training and self.denoising_content is not None:
            dn = make_denoising_queries(
                [t["spans"].to(memory) for t in targets], groups=cfg.decoder.denoising_groups,
                noise=cfg.decoder.denoising_span_noise,
            )
        extra = None
        if training and self.extra_content is not None and atss_targets is not None:
            extra = self._extra_queries(memory, atss_targets)

        b = memory.shape[0]
        queries, references = [selected.content], [selected.reference]
        n_dn = n_extra = 0
        if dn is not None:
            n_dn = dn.num_queries
            queries.insert(0, self.denoising_content.expand(b, n_dn, -1))
            references.insert(0, dn.reference)
        if extra is not None:
            n_extra = extra.reference.shape[1]
            queries.append(extra.content)
            references.append(extra.reference)
        n_match = selected.reference.shape[1]
        self_mask = decoder_attention_mask(n_dn, dn.groups if dn else 0, n_match, n_extra, memory.device)
        hidden, spans = self.decoder(
            torch.cat(queries, 1), torch.cat(references, 1), memory, position, video_mask, self_mask
        )
        logits = self.class_head(hidden)  # (layers, B, Q_total, 2)
        iou = self.iou_head(hidden) if self.iou_head is not None else None

        def part(start: int, stop: int) -> list[dict[str, torch.Tensor]]:
            layers = []
            for layer in range(hidden.shape[0]):
                entry = {"pred_logits": logits[layer, :, start:stop], "pred_spans": spans[layer, :, start:stop]}
                if iou is not None:
                    entry["pred_iou"] = iou[layer, :, start:stop]
                layers.append(entry)
            return layers

        matching = part(n_dn, n_dn + n_match)
        out.update(matching[-1])
        out["aux_outputs"] = matching[:-1]
        if dn is not None:
            out["dn_outputs"], out["dn_meta"] = part(0, n_dn), dn
        if extra is not None:
            out["extra_outputs"], out["extra_meta"] = part(n_dn + n_match, n_dn + n_match + n_extra), extra
        return out

    # ----- inference -----

    @torch.no_grad()
    def postprocess(
        self, outputs: dict, video_mask: torch.Tensor, *, clip_seconds: float | Sequence[float]
    ) -> list[WindowPrediction]:
        """Ranked spans in seconds and per-clip saliency per window, from :meth:`forward` outputs (eval mode).

        DETR spans are scored by p (IoU head off) or S_det = p^γ·σ(IoU)^(1-γ); with the ATSS head on they
        are fused with its top spans by weighted boxes fusion. Spans are clipped to the window; the
        saliency is σ(S_global) (σ(S_local) with the global saliency module off).
        """
        cfg = self.config
        prob = outputs["pred_logits"].softmax(-1)[..., 0]
        if "pred_iou" in outputs:
            score = detection_score(prob, torch.sigmoid(outputs["pred_iou"]), cfg.iou_head.gamma)
        else:
            score = prob
        saliency = torch.sigmoid(outputs["saliency_scores"])
        predictions = window_predictions(outputs["pred_spans"], score, saliency, video_mask, clip_seconds)
        if "atss_logits" not in outputs:
            return predictions
        atss_spans, atss_scores = atss_predictions(
            outputs, outputs["atss_anchors"], outputs["atss_valid"], cfg.atss.inference_top_k
        )
        detr_se = span_cw_to_se(outputs["pred_spans"].float()).clamp(0, 1).cpu().numpy()
        atss_se = span_cw_to_se(atss_spans.float()).clamp(0, 1).cpu().numpy()
        fused = fuse_span_batches(
            [detr_se, atss_se], [score.float().cpu().numpy(), atss_scores.float().cpu().numpy()],
            [cfg.fusion.detr_weight, cfg.fusion.atss_weight],
            iou_threshold=cfg.fusion.iou_threshold, skip_score=cfg.fusion.skip_score,
        )
        lengths = video_mask.sum(1).cpu().numpy().astype(np.float64)
        seconds = np.broadcast_to(np.asarray(clip_seconds, dtype=np.float64), lengths.shape) * lengths
        for prediction, (spans, scores), window_seconds in zip(predictions, fused, seconds):
            prediction.spans = (spans * window_seconds).astype(np.float32)
            prediction.scores = scores
        return predictions
