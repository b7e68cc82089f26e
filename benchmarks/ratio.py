"""How a benchmark table writes a speed ratio to its baseline."""

from __future__ import annotations

import math


def speed_ratio_text(ratio: float, digits: int = 1) -> str:
    """``baseline_time / measured_time`` as words: ``2.5`` -> ``"2.5x faster"``, ``0.5`` -> ``"2.0x slower"``.

    A ratio below 1 means the measured path lost to its baseline; printing it as "0.5x faster" hides
    that, so it is inverted and called slower. Non-finite or non-positive ratios (a 0 ms timing) print as "n/a".
    """
    if not math.isfinite(ratio) or ratio <= 0:
        return "n/a"
    if round(ratio, digits) >= 1:
        return f"{ratio:.{digits}f}x faster"
    return f"{1 / ratio:.{digits}f}x slower"
