"""How times and paths are written on screen (pure functions, no Textual)."""

from __future__ import annotations

import math
from pathlib import Path

EN_DASH = "\u2013"


def hms(seconds: float) -> str:
    """``65.4`` -> ``"0:01:05"`` (whole seconds, rounded down; hours are not zero-padded)."""
    total = max(0, int(math.floor(seconds + 1e-6)))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def moment_range(start: float, end: float) -> str:
    """``"0:01:05–0:01:12"``: the end is rounded up so a moment never looks shorter than it is."""
    return f"{hms(start)}{EN_DASH}{hms(math.ceil(end - 1e-6))}"


def seconds_arg(seconds: float) -> str:
    """Seconds for command lines and ``path:start``: ``12`` / ``12.5`` / ``12.345`` (ms precision)."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def display_path(path: str | Path) -> str:
    """``path`` with the home directory written as ``~`` (shorter, and the same on every machine)."""
    path = Path(path)
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def ellipsize(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with a trailing ``…`` when it does not fit."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "\u2026"
