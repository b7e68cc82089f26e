"""Content fingerprints: equal for copies, different for edits anywhere a video changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.fingerprint import fingerprint


@pytest.fixture()
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes())
    return path


def test_a_renamed_copy_has_the_same_fingerprint(big: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "renamed.mkv"
    copy.parent.mkdir()
    shutil.copy(big, copy)
    assert fingerprint(copy) == fingerprint(big)
    assert fingerprint(big).startswith("b2-3000000-") and len(fingerprint(big).split("-")[2]) == 32


@pytest.mark.parametrize("offset", [0, 1_500_000 - 100, 2_999_999])
def test_an_edit_in_head_middle_or_tail_changes_it(big: Path, offset: int) -> None:
    before = fingerprint(big)
    data = bytearray(big.read_bytes())
    data[offset] ^= 0xFF
    big.write_bytes(bytes(data))
    assert fingerprint(big) != before


def test_appending_changes_it_and_small_files_are_hashed_whole(big: Path, tmp_path: Path) -> None:
    before = fingerprint(big)
    with big.open("ab") as f:
        f.write(b"\0")
    assert fingerprint(big) != before
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 1000 + b"1" + b"x" * 1000)
    b.write_bytes(b"x" * 1000 + b"2" + b"x" * 1000)
    assert fingerprint(a) != fingerprint(b)


def test_unreadable_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        fingerprint(tmp_path / "missing.mp4")
