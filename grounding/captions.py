"""Timestamped video captions (InternVid style), the input of ``vsearch pseudo-label``.

One JSON object per line. Field names are matched case-insensitively, in both spellings in use:

====================  =================================================
video                 ``video``, ``vid``, ``video_id`` or ``YoutubeID``
caption               ``caption``, ``query`` or ``text``
start, end            ``start``/``end`` or ``Start_timestamp``/``End_timestamp``:
                      seconds (number) or ``"HH:MM:SS.fff"`` / ``"MM:SS"`` strings
====================  =================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grounding.data.annotations import AnnotationError, read_jsonl

_FIELDS = {
    "video": ("video", "vid", "video_id", "youtubeid"),
    "caption": ("caption", "query", "text"),
    "start": ("start", "start_timestamp", "start_time"),
    "end": ("end", "end_timestamp", "end_time"),
}
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


@dataclass(frozen=True)
class Caption:
    """A caption of ``video`` covering ``[start, end)`` seconds of it."""

    video: str
    caption: str
    start: float
    end: float


def parse_timestamp(value: object) -> float:
    """Seconds from a number or an ``[HH:]MM:SS[.fff]`` string; ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        match = _CLOCK.match(text)
        if match:
            hours, minutes, seconds = match.groups()
            return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
        return float(text)
    raise ValueError(f"not a timestamp: {value!r}")


def read_captions(path: Path) -> list[Caption]:
    """All captions of a JSON Lines file, in file order; a malformed row is an error naming its line."""
    captions: list[Caption] = []
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(row, dict):
            raise AnnotationError(f"{where}: expected a JSON object")
        lowered = {str(k).lower(): v for k, v in row.items()}
        values = {}
        for field, names in _FIELDS.items():
            found = next((lowered[n] for n in names if n in lowered), None)
            if found is None:
                raise AnnotationError(f"{where}: missing {field!r} (one of {', '.join(names)})")
            values[field] = found
        try:
            start, end = parse_timestamp(values["start"]), parse_timestamp(values["end"])
        except ValueError as exc:
            raise AnnotationError(f"{where}: {exc}") from None
        if not 0 <= start < end:
            raise AnnotationError(f"{where}: need 0 <= start < end, got {start:g} and {end:g}")
        captions.append(Caption(video=str(values["video"]), caption=str(values["caption"]), start=start, end=end))
    if not captions:
        raise AnnotationError(f"{path}: no captions")
    return captions
