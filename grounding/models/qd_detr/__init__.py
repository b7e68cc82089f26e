"""QD-DETR: Query-Dependent DETR for moment retrieval and highlight detection (Moon et al., CVPR 2023).

One module per part of the paper (the input projection is shared: :mod:`grounding.input_projection`):
:mod:`.cross_attention` (query-dependent
clip representation), :mod:`.encoder`, :mod:`.saliency_token` (input-adaptive saliency predictor),
:mod:`.dab_decoder`, :mod:`.model`, :mod:`.criterion`, :mod:`.config`.
"""

from grounding.models.qd_detr.config import PRESETS, QDDETRConfig
from grounding.models.qd_detr.criterion import build_criterion
from grounding.models.qd_detr.model import QDDETR, build_model

CONFIG_CLS = QDDETRConfig

__all__ = ["CONFIG_CLS", "PRESETS", "QDDETR", "QDDETRConfig", "build_criterion", "build_model"]
