"""Official-identical QVHighlights evaluation (+ Charades-STA / TACoS R1 and mIoU).

``evaluate(predictions, ground_truth) -> dict`` is the Python API (the trainer calls it every epoch);
``vsearch eval`` wraps it. Modules: ``windows`` (IoU, length buckets), ``moment_retrieval`` (R1, mAP),
``highlight`` (HD mAP, HIT@1), ``predictions`` (reading + validation), ``scorer`` (the metrics JSON).
"""

from grounding.eval.predictions import PredictionError, read_predictions, validate_predictions
from grounding.eval.scorer import evaluate

__all__ = ["PredictionError", "evaluate", "read_predictions", "validate_predictions"]
