"""Content fingerprint of a file: its size and a hash of three sampled blocks.

Reading a whole video to hash it would cost as much I/O as decoding it. Three 256 KiB blocks (head,
middle, tail) plus the exact size tell renamed copies apart from edited files in practice: container
headers (head), the index or trailing packets (tail) and a slice of the payload (middle) all change
when a video is re-encoded, trimmed or appended to. The fingerprint is only used to recognise a moved
file and to confirm "unchanged"; size and mtime are checked first.

Format: ``"b2-<size>-<32 hex digits>"`` (BLAKE2b-128 of the blocks), stable across runs and machines.
"""

from __future__ import annotations

import hashlib
import os

BLOCK_BYTES = 256 * 1024


def fingerprint(path: str | os.PathLike[str], *, block_bytes: int = BLOCK_BYTES) -> str:
    """Fingerprint the file at ``path``; raises ``OSError`` when it cannot be read."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest.update(size.to_bytes(8, "little"))
        if size <= 3 * block_bytes:
            digest.update(f.read())
        else:
            for offset in (0, (size - block_bytes) // 2, size - block_bytes):
                f.seek(offset)
                digest.update(f.read(block_bytes))
    return f"b2-{size}-{digest.hexdigest()}"
