"""Copy text to the system clipboard with the platform's own tool, when there is one.

The app additionally sends the text through the terminal (OSC 52, Textual's
``App.copy_to_clipboard``), which reaches the local clipboard over SSH in terminals that allow it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def native_copy_command() -> list[str] | None:
    """argv of a program that copies its stdin to the clipboard, or None when there is none."""
    candidates: list[list[str]] = []
    if sys.platform == "darwin":
        candidates.append(["pbcopy"])
    elif sys.platform.startswith("win"):
        candidates.append(["clip"])
    else:
        if os.environ.get("WAYLAND_DISPLAY"):
            candidates.append(["wl-copy"])
        if os.environ.get("DISPLAY"):
            candidates += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    for argv in candidates:
        program = shutil.which(argv[0])
        if program:
            return [program, *argv[1:]]
    return None


def copy_native(text: str, timeout: float = 2.0) -> bool:
    """Copy ``text`` with :func:`native_copy_command`; False when no tool exists or it fails."""
    argv = native_copy_command()
    if argv is None:
        return False
    try:
        completed = subprocess.run(
            argv, input=text.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0
