"""SG-DETR, the Saliency-Guided DETR (Gordeev et al., arXiv 2410.01615): vsearch's default grounding model.

One module per paper part: ``local_saliency_head`` (§3.2), ``sgca`` (§3.3), ``saliency_amplifier``
(§3.4, the global saliency module), ``query_selection`` / ``denoising`` / ``dino_decoder`` and
``atss_assigner`` / ``atss_head`` (§3.5, the hybrid detector), ``iou_head`` (§3.6),
``weighted_boxes_fusion`` (inference), ``criterion`` (Appendix C), ``config`` (presets and the Table 2
ablation rows), ``model`` (assembly and post-processing).
"""

from __future__ import annotations

from grounding.models.sg_detr.config import ABLATION_ROWS, CONFIG_CLS, PRESETS, SGDETRConfig, ablation_config
from grounding.models.sg_detr.criterion import SGDETRCriterion
from grounding.models.sg_detr.model import SGDETR


def build_model(config: SGDETRConfig) -> SGDETR:
    """The SG-DETR network of ``config.model`` (randomly initialised); its video input takes 2 extra dims
    when ``config.data.temporal_endpoints`` is on."""
    return SGDETR(config.model, temporal_endpoints=config.data.temporal_endpoints)


def build_criterion(config: SGDETRConfig) -> SGDETRCriterion:
    """The SG-DETR loss of ``config`` (loss weights, matcher costs, switched-on parts)."""
    return SGDETRCriterion(config)


__all__ = [
    "ABLATION_ROWS",
    "CONFIG_CLS",
    "PRESETS",
    "SGDETR",
    "SGDETRConfig",
    "SGDETRCriterion",
    "ablation_config",
    "build_criterion",
    "build_model",
]
