"""QA: benchmark tables must not call a slowdown "faster"."""

from __future__ import annotations

import pytest

from benchmarks.ratio import speed_ratio_text


@pytest.mark.parametrize("ratio, digits, text", [
    (6.42, 1, "6.4x faster"),
    (1.0, 1, "1.0x faster"),
    (0.96, 1, "1.0x faster"),  # rounds to parity: not worth calling slower
    (0.9, 1, "1.1x slower"),   # `bench query --clips 5000` printed this as "0.9x faster"
    (0.5, 2, "2.00x slower"),
    (0.0, 1, "n/a"),
    (float("inf"), 1, "n/a"),
])
def test_speed_ratio_text(ratio: float, digits: int, text: str) -> None:
    assert speed_ratio_text(ratio, digits) == text
