"""Where a library lives on disk.

Resolution order: an explicit ``--library DIR``, then ``$VSEARCH_LIBRARY``, then the platform's
user data directory (``platformdirs.user_data_dir("vsearch") / "library"``).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

LIBRARY_ENV = "VSEARCH_LIBRARY"


def default_library_dir() -> Path:
    """The library directory used when neither ``--library`` nor ``$VSEARCH_LIBRARY`` is set."""
    return Path(platformdirs.user_data_dir("vsearch", appauthor=False)) / "library"


def resolve_library_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the library directory for a command (not created here)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return default_library_dir()
