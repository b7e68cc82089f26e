"""Video-text encoders. The contract is :class:`indexer.encoders.base.Encoder`; built-ins and
plug-ins are loaded by :func:`indexer.encoders.registry.load_encoder`."""

from indexer.encoders.base import Encoder, EncodedText, TextFeatures
from indexer.encoders.registry import BUILTIN_ENCODERS, encoder_identity, load_encoder

__all__ = ["Encoder", "EncodedText", "TextFeatures", "BUILTIN_ENCODERS", "encoder_identity", "load_encoder"]
