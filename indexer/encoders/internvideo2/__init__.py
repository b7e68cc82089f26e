"""InternVideo2 Stage2 video-text encoder (``--encoder internvideo2``); see :mod:`.encoder`."""

from indexer.encoders.internvideo2.encoder import InternVideo2Encoder

__all__ = ["InternVideo2Encoder"]
