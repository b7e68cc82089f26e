"""Decode one frame of a video as a small PIL image (the detail pane's thumbnail)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import av
from PIL import Image


class FrameGrabError(Exception):
    """The frame cannot be decoded; the message is one line meant for the user."""


@lru_cache(maxsize=64)
def grab_frame(path: str, seconds: float, max_width: int = 320) -> Image.Image:
    """The frame shown at ``seconds`` of the video at ``path``, as RGB, at most ``max_width`` px wide.

    Seeks to the keyframe before ``seconds`` and decodes forward to the first frame whose
    presentation time reaches it (the last frame when ``seconds`` is past the end). Cached:
    moving the selection back and forth decodes each moment once.
    """
    if not Path(path).is_file():
        raise FrameGrabError(f"video not found: {path}")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise FrameGrabError(f"{Path(path).name} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if stream.time_base is not None:
                container.seek(int(max(0.0, seconds) / stream.time_base), stream=stream, backward=True)
            chosen = None
            for frame in container.decode(stream):
                chosen = frame
                if frame.time is not None and frame.time >= seconds - 1e-3:
                    break
    except av.error.FFmpegError as exc:
        raise FrameGrabError(f"cannot decode {Path(path).name}: {exc}") from exc
    if chosen is None:
        raise FrameGrabError(f"no frame at {seconds:.1f} s in {Path(path).name}")
    image = chosen.to_image()
    if image.width > max_width:
        image = image.resize((max_width, max(1, round(image.height * max_width / image.width))))
    return image
