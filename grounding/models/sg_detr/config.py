"""Typed configuration tree of SG-DETR: every paper part switchable, dataset presets, ablation rows.

The tree follows the registry contract of :mod:`grounding.models` (fields ``model``, ``matcher``,
``loss``, ``data``, ``optim``) and round-trips through :mod:`grounding.config_tree`, so a checkpoint's
``config.json`` rebuilds the model alone.

Defaults follow Gordeev et al., "Saliency-Guided DETR for Moment Retrieval and Highlight Detection"
(arXiv 2410.01615) §4.4 and Appendix C for QVHighlights. ``PRESETS`` holds the paper's dataset presets
("default" = "qvhighlights", "charades", "tacos"); ``ABLATION_ROWS`` the five rows (a)-(e) of its
Table 2, applied on top of any config by :func:`ablation_config`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from grounding.data.dataset import DatasetConfig
from grounding.losses.set_criterion import QVHIGHLIGHTS_RANK_THRESHOLDS
from grounding.optim import OptimConfig


@dataclass
class LocalSaliencyConfig:
    """§3.2: sentence token from N attention-pooling layers; S_local = α·cos(F_sent, F_v) + β."""

    pooling_layers: int = 2
    init_alpha: float = 10.0  # cosine in [-1, 1] needs a scale to reach confident logits
    init_beta: float = 0.0


@dataclass
class EncoderConfig:
    """§3.3: video-to-text cross-attention layers (SGCA or plain CA) then a self-attention encoder."""

    sgca: bool = True  # False = plain cross-attention (ablation row a)
    cross_layers: int = 2
    self_layers: int = 3
    heads: int = 8
    ffn_dim: int = 1024


@dataclass
class SaliencyAmplifierConfig:
    """§3.4 global saliency module (GSM): F_l = F + F·σ(S_local); S_global = S_local + Linear(F_l)."""

    enabled: bool = True


@dataclass
class DecoderConfig:
    """§3.5 primary detector: DINO-style decoder with query selection and contrastive denoising."""

    layers: int = 3
    heads: int = 8
    ffn_dim: int = 1024
    num_queries: int = 25
    query_selection: bool = True  # False = learned static anchors (plain DETR head)
    proposal_widths: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)  # normalised widths of per-clip proposals
    denoising_groups: int = 5  # 0 disables denoising
    denoising_span_noise: float = 0.4  # λ: ends move by < λ·width/2 (positives), λ..2λ (negatives)


@dataclass
class ATSSConfig:
    """§3.5 auxiliary 1-D ATSS head; its positive anchors become extra decoder queries (Co-DETR)."""

    enabled: bool = True
    anchor_widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)  # anchor widths in clips, one level each
    top_k: int = 9  # candidates per level, nearest by centre distance
    extra_queries: bool = True  # Co-DETR positive queries in training
    max_extra_queries: int = 64  # per sample; keeps the query set bounded on long windows
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    inference_top_k: int = 25  # ATSS spans per window entering weighted boxes fusion


@dataclass
class IoUHeadConfig:
    """§3.6 localisation confidence: predicted IoU used in matching and S_det = p^γ · IoU^(1-γ)."""

    enabled: bool = True
    gamma: float = 0.5


@dataclass
class FusionConfig:
    """Weighted boxes fusion of DETR and ATSS spans at inference (Solovyev et al.)."""

    iou_threshold: float = 0.55
    skip_score: float = 0.0
    detr_weight: float = 1.0
    atss_weight: float = 1.0


@dataclass
class MatcherCosts:
    """Hungarian matching costs (DETR style); ``iou`` weighs −σ(predicted IoU) when the IoU head is on."""

    label: float = 4.0
    span: float = 10.0
    giou: float = 1.0
    iou: float = 1.0


@dataclass
class LossWeights:
    """Appendix C loss weights (names of the ``loss_<name>`` methods of the criterion) and group
    multipliers λ_detr = λ_atss = λ_hl = λ_aux = 1. DETR terms also apply to the auxiliary decoder
    layers, the encoder proposals, the denoising and the Co-DETR extra queries."""

    span: float = 10.0
    giou: float = 1.0
    label: float = 5.0
    iou: float = 1.0
    atss_l1: float = 1.0
    atss_giou: float = 1.0
    atss_label: float = 1.0
    atss_centerness: float = 1.0
    saliency_margin: float = 1.0
    saliency_rank_contrastive: float = 1.0
    saliency_bce: float = 1.0
    saliency_neg_pair: float = 1.0
    moment_bce: float = 1.0
    alignment: float = 1.0
    lambda_detr: float = 1.0
    lambda_atss: float = 1.0
    lambda_hl: float = 1.0
    lambda_aux: float = 1.0
    eos_coef: float = 0.1  # weight of "no moment" queries in the label loss
    saliency_margin_value: float = 0.2
    rank_temperature: float = 0.5
    rank_thresholds: tuple[float, ...] = QVHIGHLIGHTS_RANK_THRESHOLDS  # (1.0,) for binary saliency
    alignment_temperature: float = 0.07


@dataclass
class SGDETRModelConfig:
    """Architecture. ``video_dim`` / ``text_dim`` are the raw feature dims (set from the features when
    training); the model adds 2 input dims itself when ``data.temporal_endpoints`` is on."""

    video_dim: int = 2816
    text_dim: int = 512
    hidden_dim: int = 256
    dropout: float = 0.1
    input_dropout: float = 0.5
    input_layers: int = 2
    negative_pairs: bool = True
    local_saliency: LocalSaliencyConfig = field(default_factory=LocalSaliencyConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    amplifier: SaliencyAmplifierConfig = field(default_factory=SaliencyAmplifierConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    atss: ATSSConfig = field(default_factory=ATSSConfig)
    iou_head: IoUHeadConfig = field(default_factory=IoUHeadConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)


@dataclass
class SGDETRConfig:
    """The whole SG-DETR tree."""

    model: SGDETRModelConfig = field(default_factory=SGDETRModelConfig)
    matcher: MatcherCosts = field(default_factory=MatcherCosts)
    loss: LossWeights = field(default_factory=LossWeights)
    data: DatasetConfig = field(default_factory=DatasetConfig)
    # §4.4: AdamW 5e-4 / wd 0.1, batch 128, 150 epochs, 45 warmup steps, x0.5 at 100 and 125.
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            lr=5e-4, weight_decay=0.1, batch_size=128, epochs=150, warmup_steps=45,
            lr_milestones=(100, 125), lr_gamma=0.5,
        )
    )


CONFIG_CLS = SGDETRConfig


def _schedule(*, batch_size: int, epochs: int, milestones: tuple[int, ...]) -> OptimConfig:
    return OptimConfig(
        lr=5e-4, weight_decay=0.1, batch_size=batch_size, epochs=epochs, warmup_steps=45,
        lr_milestones=milestones, lr_gamma=0.5,
    )


def _binary_saliency(optim: OptimConfig) -> SGDETRConfig:
    """Charades-STA / TACoS: binary saliency (one rank level) and one window per query."""
    return SGDETRConfig(
        loss=LossWeights(rank_thresholds=(1.0,)), data=DatasetConfig(max_windows=1), optim=optim
    )


def _tiny() -> SGDETRConfig:
    """Small and fast, every part on: tests, smoke runs and CPU experiments on synthetic data. Same width,
    dropout, batch, lr and warmup as QD-DETR's ``tiny`` (64 wide, no dropout, batch 8, lr 1e-3); 8 epochs
    at a constant lr, whereas QD-DETR's ``tiny`` runs 20 with a drop at 15, so pass ``--epochs`` (and the
    same schedule) when comparing the two at equal cost."""
    config = SGDETRConfig(optim=_schedule(batch_size=8, epochs=8, milestones=()))
    config.optim.lr = 1e-3
    config.optim.warmup_steps, config.optim.warmup_epochs = 0, 1  # QD-DETR tiny's warmup, for equal cost
    model = config.model
    model.hidden_dim, model.dropout, model.input_dropout = 64, 0.0, 0.0
    model.encoder.heads = model.decoder.heads = 4
    model.encoder.ffn_dim = model.decoder.ffn_dim = 128
    model.atss.anchor_widths = (1, 2, 4, 8, 16, 32)
    return config


def _cpu() -> SGDETRConfig:
    """CPU inference size: grounds 20 windows x 75 clips in <= 20 ms on one CPU core, where the paper's
    size (hidden 256, ~18 GFLOP per query) needs ~230 ms. Every part on; narrower (64 wide, 2 heads),
    one fewer self-attention and decoder layer, 10 queries and 10 ATSS spans into fusion. Trains with
    the paper's recipe (dropout, AdamW 5e-4 / wd 0.1, 45 warmup steps, step decay)."""
    config = SGDETRConfig()
    model = config.model
    model.hidden_dim = 64
    model.encoder.heads = model.decoder.heads = 2
    model.encoder.ffn_dim = model.decoder.ffn_dim = 128
    model.encoder.self_layers = model.decoder.layers = 2
    model.decoder.num_queries = model.atss.inference_top_k = 10
    return config


#: Named configs; the registry deep-copies them. Clip length (2 s QVHighlights and TACoS, 1 s
#: Charades-STA) comes with the features, not the config.
PRESETS: dict[str, SGDETRConfig] = {
    "default": SGDETRConfig(),
    "qvhighlights": SGDETRConfig(),
    "charades": _binary_saliency(_schedule(batch_size=64, epochs=100, milestones=(60, 80))),
    "tacos": _binary_saliency(_schedule(batch_size=32, epochs=120, milestones=(80, 100))),
    "tiny": _tiny(),
    "cpu": _cpu(),
}

#: Table 2 of the paper; each row adds one part to the previous one, (e) is the full model.
ABLATION_ROWS: dict[str, str] = {
    "a": "CA + DETR head + local saliency head",
    "b": "+ SGCA",
    "c": "+ IoU scoring",
    "d": "+ global saliency module",
    "e": "+ hybrid ATSS-DETR (full SG-DETR)",
}


def ablation_config(row: str, base: SGDETRConfig | None = None) -> SGDETRConfig:
    """A copy of ``base`` (default: the QVHighlights preset) with the switches of Table 2 row ``row``."""
    if row not in ABLATION_ROWS:
        raise ValueError(f"unknown ablation row {row!r}; expected one of {', '.join(ABLATION_ROWS)}")
    config = copy.deepcopy(base if base is not None else SGDETRConfig())
    level = "abcde".index(row)
    config.model.encoder.sgca = level >= 1
    config.model.iou_head.enabled = level >= 2
    config.model.amplifier.enabled = level >= 3
    config.model.atss.enabled = level >= 4
    return config
