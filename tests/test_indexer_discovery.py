"""Video discovery: extensions, hidden folders, symlinks and loops, bad roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.discovery import DiscoveryError, discover, is_under


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    for name in ["a.MP4", "b.mkv", "c.WebM", "d.mov", "e.avi", "f.m4v", "g.mpg", "h.MPEG", "i.ts", "j.wmv",
                 "k.flv", "notes.txt", "photo.jpg", "sub/deeper/l.mp4", ".hidden/m.mp4", ".n.mp4",
                 "sub/.cache/o.mp4"]:
        touch(root / name)
    (root / "folder.mp4").mkdir()  # a directory with a video extension is a folder, not a video
    touch(root / "folder.mp4" / "p.mkv")
    outside = touch(tmp_path / "outside" / "q.mp4")
    os.symlink(outside.parent, root / "linked")          # symlinked folder: followed
    os.symlink(root, root / "sub" / "loop")              # loop back to the root: not re-entered
    os.symlink(root / "b.mkv", root / "sub" / "b-again.mkv")  # same file twice: reported once
    os.symlink(tmp_path / "gone.mp4", root / "dangling.mp4")  # dangling: ignored
    return root


def test_finds_every_video_once_skipping_hidden_and_non_videos(tree: Path) -> None:
    result = discover([tree])
    names = sorted(os.path.relpath(v.path, tree) for v in result.videos)
    assert names == sorted(["a.MP4", "b.mkv", "c.WebM", "d.mov", "e.avi", "f.m4v", "g.mpg", "h.MPEG", "i.ts",
                            "j.wmv", "k.flv", "sub/deeper/l.mp4", "folder.mp4/p.mkv", "linked/q.mp4"])
    assert result.unreadable_dirs == []
    assert all(os.path.isabs(v.path) and v.size == 1 for v in result.videos)
    # paths are kept as found (under the root), not resolved through the symlink
    assert str(tree / "linked" / "q.mp4") in {v.path for v in result.videos}


def test_overlapping_roots_and_single_files(tree: Path) -> None:
    result = discover([tree / "sub", tree, tree / "a.MP4"])
    paths = [v.path for v in result.videos]
    assert len(paths) == len(set(paths))
    assert str(tree / "sub" / "deeper" / "l.mp4") in paths
    single = discover([tree / "a.MP4"])
    assert [v.path for v in single.videos] == [str(tree / "a.MP4")]


def test_bad_roots_raise_one_line_errors(tree: Path) -> None:
    with pytest.raises(DiscoveryError, match="no such file or directory"):
        discover([tree / "nope"])
    with pytest.raises(DiscoveryError, match="not a directory or video file"):
        discover([tree / "notes.txt"])


def test_unlistable_folders_are_reported_not_fatal(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir = os.scandir
    blocked = str(tree / "sub")

    def scandir(path: str):  # root can read anything, so simulate a folder without read permission
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = discover([tree])
    assert result.unreadable_dirs == [(blocked, "Permission denied")]
    assert not any(v.path.startswith(blocked + os.sep) for v in result.videos)
    assert any(v.path.endswith("a.MP4") for v in result.videos)


def test_is_under() -> None:
    assert is_under("/v/a/b.mp4", "/v/a") and is_under("/v/a", "/v/a") and is_under("/v/a/b.mp4", "/v/a/")
    assert not is_under("/v/ab/c.mp4", "/v/a")
