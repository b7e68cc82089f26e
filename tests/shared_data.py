"""Where the project's real annotation files live: ``../shared/data`` beside the checkout.

``$VSEARCH_SHARED_DATA`` overrides it. Tests that need the files are skipped when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    override = os.environ.get("VSEARCH_SHARED_DATA")
    if override:
        return Path(override)
    for candidate in (_REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return _REPO.parent / "shared" / "data"


SHARED_DATA = _find()
