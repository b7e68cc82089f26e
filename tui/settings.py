"""User settings of the TUI: command-line options, then environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

EXPORT_DIR_ENV = "VSEARCH_EXPORT_DIR"


def default_export_dir() -> Path:
    """``$VSEARCH_EXPORT_DIR``, else the platform's videos folder + ``vsearch clips`` (``~/Videos/vsearch clips``)."""
    env = os.environ.get(EXPORT_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_videos_dir()) / "vsearch clips"


@dataclass
class TuiSettings:
    """player: a player command (see :mod:`tui.player`), None = ``$VSEARCH_PLAYER`` or auto-detect.
    export_dir: where ``e`` proposes to write clips. top / per_video: passed to ``Searcher.search``.
    search_delay: seconds after the last keystroke before a search runs by itself (Enter: at once)."""

    player: str | None = None
    export_dir: Path = field(default_factory=default_export_dir)
    top: int = 20
    per_video: int = 3
    search_delay: float = 0.4
