"""Moment retrieval and highlight detection models (QD-DETR, SG-DETR): data, training, evaluation."""
