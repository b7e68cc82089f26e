"""One vector writer per library: an advisory ``flock`` on ``writer.lock`` held while indexing.

DuckDB's own lock only lasts as long as a connection, and vsearch keeps connections short, so it
cannot tell an index run apart from a reader. This lock can: the writer holds it for its whole
lifetime (the kernel drops it when the process dies, SIGKILL included), a second writer is refused,
and ``run_in_progress`` probes it without waiting.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "writer.lock"


class WriterLock:
    """Non-blocking exclusive lock on ``directory/writer.lock``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock; False (and nothing held) when another process has it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None


def run_in_progress(directory: Path) -> bool:
    """True when some open file description (any process, this one included) holds the lock."""
    try:
        fd = os.open(directory / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the probe's shared lock
    return False
