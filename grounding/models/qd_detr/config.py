"""The QD-DETR config tree and its presets (defaults = the official QVHighlights setting)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from grounding.data.dataset import DatasetConfig
from grounding.losses.set_criterion import QVHIGHLIGHTS_RANK_THRESHOLDS
from grounding.matcher import MatcherConfig
from grounding.optim import OptimConfig


@dataclass
class QDDETRModelConfig:
    """Architecture. ``video_dim`` / ``text_dim`` are the raw feature dims (set from the features when
    training); the model adds 2 input dims itself when ``data.temporal_endpoints`` is on."""

    video_dim: int = 2816  # SlowFast (2304) + CLIP (512), the QVHighlights release features
    text_dim: int = 512
    hidden_dim: int = 256
    num_heads: int = 8
    dim_feedforward: int = 1024
    dropout: float = 0.1
    input_dropout: float = 0.5
    input_proj_layers: int = 2
    cross_attention_layers: int = 2
    encoder_layers: int = 2
    decoder_layers: int = 2
    num_queries: int = 10
    activation: Literal["relu", "gelu", "prelu"] = "prelu"
    modulate_width_attention: bool = True
    keep_query_pos: bool = False
    aux_loss: bool = True
    negative_pairs: bool = True


@dataclass
class QDDETRLossConfig:
    """Loss weights (0 disables a loss) and the saliency-loss settings."""

    span: float = 10.0
    giou: float = 1.0
    label: float = 4.0
    saliency_margin: float = 1.0
    saliency_rank_contrastive: float = 1.0
    saliency_neg_pair: float = 1.0
    eos_coef: float = 0.1
    margin: float = 0.2
    rank_thresholds: tuple[float, ...] = QVHIGHLIGHTS_RANK_THRESHOLDS
    rank_temperature: float = 0.5

    def weights(self) -> dict[str, float]:
        """Loss name -> weight, the dict :class:`grounding.losses.SetCriterion` takes."""
        names = ("span", "giou", "label", "saliency_margin", "saliency_rank_contrastive", "saliency_neg_pair")
        return {name: getattr(self, name) for name in names}


@dataclass
class QDDETRConfig:
    """Everything a QD-DETR run needs; stored whole in every checkpoint."""

    model: QDDETRModelConfig = field(default_factory=QDDETRModelConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: QDDETRLossConfig = field(default_factory=QDDETRLossConfig)
    data: DatasetConfig = field(default_factory=DatasetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)


def _presets() -> dict[str, QDDETRConfig]:
    default = QDDETRConfig()
    # Charades-STA / TACoS: binary saliency (one level), one window per query.
    binary = dataclasses.replace(
        default,
        loss=dataclasses.replace(default.loss, rank_thresholds=(1.0,)),
        data=dataclasses.replace(default.data, max_windows=1),
    )
    # CPU-sized, for tests, smoke runs and experiments on synthetic data. Same architecture, narrower;
    # no dropout (Bernoulli masks are about half of a CPU training step) and ReLU instead of PReLU
    # (whose backward is a full reduction); small batches at a higher lr: more updates per second. The
    # span head (set matching) needs ~250 updates to localise; at lr 1e-3 the val MR mAP then swings by
    # +-5 points from epoch to epoch, so the last quarter runs at lr 1e-4 to settle it.
    tiny = dataclasses.replace(
        default,
        model=dataclasses.replace(default.model, hidden_dim=64, num_heads=4, dim_feedforward=128, activation="relu",
                                  dropout=0.0, input_dropout=0.0),
        optim=dataclasses.replace(default.optim, lr=1e-3, batch_size=8, epochs=20, warmup_epochs=1,
                                  lr_milestones=(15,)),
    )
    # CPU inference size: tiny's network (20 windows x 75 clips in <= 20 ms on one core, where the paper's
    # size needs ~12 GFLOP and ~140 ms per query; ReLU because PReLU costs ~3 ms at this width), the
    # paper's layers, dropout and training recipe.
    cpu = dataclasses.replace(
        default, model=dataclasses.replace(default.model, hidden_dim=64, num_heads=4, dim_feedforward=128,
                                           activation="relu")
    )
    return {"default": default, "binary_saliency": binary, "tiny": tiny, "cpu": cpu}


PRESETS: dict[str, QDDETRConfig] = _presets()
