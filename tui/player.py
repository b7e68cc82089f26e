"""Open a video at a given second in the user's player.

Resolution order: an explicit spec (``vsearch tui --player``), then ``$VSEARCH_PLAYER``, then
``mpv`` / ``vlc`` found on ``PATH``, then the platform opener (``xdg-open``, ``open``,
``explorer``), which cannot seek.

A spec is a command line. With placeholders, ``{path}`` and ``{start}`` (seconds) are filled
in: ``VSEARCH_PLAYER='celluloid --mpv-start={start} {path}'``. Without them, a known player gets
its start-time flag (``mpv --start=S``, ``vlc --start-time=S``, ...) and any other program is
just given the path.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tui.timecode import seconds_arg

PLAYER_ENV = "VSEARCH_PLAYER"

# argument templates that make a player start at {start} seconds, before the path
START_FLAGS: dict[str, tuple[str, ...]] = {
    "mpv": ("--start={start}",),
    "vlc": ("--start-time={start}",),
    "cvlc": ("--start-time={start}",),
    "mplayer": ("-ss", "{start}"),
    "ffplay": ("-ss", "{start}"),
    "celluloid": ("--mpv-start={start}",),
    "iina": ("--mpv-start={start}",),
    "smplayer": ("-ss", "{start}"),
}
AUTO_PLAYERS = ("mpv", "vlc")


class PlayerError(Exception):
    """No player can be found or started; the message is one line meant for the user."""


@dataclass(frozen=True)
class PlayerCommand:
    """argv: the command to run. seeks: whether it starts playback at the requested second."""

    argv: list[str]
    seeks: bool


def _program_name(program: str) -> str:
    name = Path(program).name.lower()
    return name[:-4] if name.endswith(".exe") else name


def _platform_opener() -> list[str] | None:
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform.startswith("win"):
        return ["explorer"]
    opener = shutil.which("xdg-open")
    return [opener] if opener else None


def player_command(path: str | Path, start: float, spec: str | None = None) -> PlayerCommand:
    """The command that plays ``path`` from ``start`` seconds (see the module docstring)."""
    path, start_text = str(path), seconds_arg(start)
    spec = spec or os.environ.get(PLAYER_ENV) or None
    if spec:
        try:
            argv = shlex.split(spec)
        except ValueError as exc:
            raise PlayerError(f"cannot parse player command {spec!r}: {exc}") from exc
        if not argv:
            raise PlayerError("the player command is empty")
        if any("{path}" in arg or "{start}" in arg for arg in argv):
            filled = [arg.replace("{path}", path).replace("{start}", start_text) for arg in argv]
            return PlayerCommand(filled, seeks=any("{start}" in arg for arg in argv))
        flags = START_FLAGS.get(_program_name(argv[0]))
        if flags is None:
            return PlayerCommand([*argv, path], seeks=False)
        return PlayerCommand([*argv, *(f.replace("{start}", start_text) for f in flags), path], seeks=True)
    for name in AUTO_PLAYERS:
        program = shutil.which(name)
        if program:
            flags = START_FLAGS[name]
            return PlayerCommand([program, *(f.replace("{start}", start_text) for f in flags), path], seeks=True)
    opener = _platform_opener()
    if opener is None:
        raise PlayerError(f"no video player found: install mpv or vlc, or set ${PLAYER_ENV}")
    return PlayerCommand([*opener, path], seeks=False)


def launch(command: PlayerCommand) -> subprocess.Popen[bytes]:
    """Start the player detached from the terminal (its output must not draw over the TUI)."""
    try:
        return subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise PlayerError(f"cannot start {command.argv[0]}: {exc.strerror or exc}") from exc
