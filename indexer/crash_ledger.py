"""Crash ledger: the videos an index run was working on when the process died.

A file whose decoding kills the process (a decoder crash, an out-of-memory kill) would kill every
later run too, and the library could never finish indexing. The ledger, ``inflight.json`` in the
library directory, counts per path the runs that started a video and never finished it. A video
started :data:`MAX_ATTEMPTS` times without finishing is recorded as failed by the next run instead
of being tried again (it is retried once the file changes, like any failed file). One kill, e.g. a
user's ``kill -9``, costs an attempt but never a video: the next run redoes it.

The file is rewritten atomically (temp file + rename) on every change; only the process holding
the library's writer lock uses it.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

LEDGER_FILE = "inflight.json"
MAX_ATTEMPTS = 2


class CrashLedger:
    """Attempts per video path, persisted in ``directory / LEDGER_FILE``."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LEDGER_FILE
        self._lock = threading.Lock()
        self._started_now: set[str] = set()
        try:
            raw = json.loads(self.path.read_text())
            self._attempts = {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        except (OSError, ValueError):
            self._attempts = {}

    def attempts(self, path: str) -> int:
        """Earlier runs that started ``path`` and died before finishing it."""
        with self._lock:
            return self._attempts.get(path, 0)

    def started(self, path: str) -> None:
        """A decode worker is about to open ``path`` (thread-safe)."""
        with self._lock:
            self._attempts[path] = self._attempts.get(path, 0) + 1
            self._started_now.add(path)
            self._save()

    def finished(self, path: str) -> None:
        """``path`` was stored or recorded as failed: it no longer counts."""
        with self._lock:
            self._started_now.discard(path)
            if self._attempts.pop(path, None) is not None:
                self._save()

    def release_unfinished(self) -> None:
        """The run is ending by choice (Ctrl-C): what it started and did not finish was no crash."""
        with self._lock:
            for path in self._started_now:
                left = self._attempts.get(path, 0) - 1
                if left > 0:
                    self._attempts[path] = left
                else:
                    self._attempts.pop(path, None)
            self._started_now.clear()
            self._save()

    def _save(self) -> None:
        if not self._attempts:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._attempts, indent=0, sort_keys=True))
        os.replace(tmp, self.path)
