"""Find the video files under the paths given to ``vsearch index``.

Rules: recursive; a file is a video by its extension (:data:`VIDEO_EXTENSIONS`, case-insensitive);
hidden files and folders (name starts with ``.``) are skipped; symbolic links are followed, and a
directory already visited (same device + inode) is not entered again, so link loops terminate. A file
reachable through several links is reported once, under the first path that reaches it.

Paths are absolute but *not* resolved: a video is recorded under the path it was found at, so the
library's "which videos live under this root" question (the sweep of deleted files) keeps working
when a root contains symlinked folders that point elsewhere.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)


class DiscoveryError(ValueError):
    """A path given by the user cannot be indexed (one-line message)."""


@dataclass(frozen=True)
class FoundVideo:
    """A candidate video: absolute path (as found, not resolved), size in bytes, mtime in seconds."""

    path: str
    size: int
    mtime: float


@dataclass
class DiscoveryResult:
    """Videos found under ``roots`` plus the directories that could not be listed (path, reason)."""

    roots: list[str]
    videos: list[FoundVideo]
    unreadable_dirs: list[tuple[str, str]]


def is_video_name(name: str) -> bool:
    """True when ``name`` has one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def absolute(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute and normalised, ``~`` expanded, symlinks kept."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def _walk(root: str, seen_dirs: set[tuple[int, int]], seen_files: set[tuple[int, int]],
          unreadable: list[tuple[str, str]]) -> Iterator[FoundVideo]:
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            unreadable.append((directory, exc.strerror or str(exc)))
            continue
        subdirs: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue  # dangling symlink or vanished file: nothing to index
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if key not in seen_dirs:
                    seen_dirs.add(key)
                    subdirs.append(entry.path)
            elif stat.S_ISREG(st.st_mode) and is_video_name(entry.name) and key not in seen_files:
                seen_files.add(key)
                yield FoundVideo(entry.path, st.st_size, st.st_mtime)
        stack.extend(reversed(subdirs))  # depth-first, alphabetical order


def discover(paths: Iterable[str | os.PathLike[str]]) -> DiscoveryResult:
    """Walk ``paths`` (directories or single video files) and list the videos to index.

    Raises :class:`DiscoveryError` when a path does not exist or is a file without a video
    extension; directories that cannot be listed are reported in ``unreadable_dirs`` instead.
    """
    roots: list[str] = []
    videos: list[FoundVideo] = []
    unreadable: list[tuple[str, str]] = []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    for raw in paths:
        path = absolute(raw)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DiscoveryError(f"no such file or directory: {raw}") from None
        except OSError as exc:
            raise DiscoveryError(f"cannot access {raw}: {exc.strerror or exc}") from None
        roots.append(path)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISDIR(st.st_mode):
            if key not in seen_dirs:
                seen_dirs.add(key)
                videos.extend(_walk(path, seen_dirs, seen_files, unreadable))
        elif stat.S_ISREG(st.st_mode) and is_video_name(path):
            if key not in seen_files:
                seen_files.add(key)
                videos.append(FoundVideo(path, st.st_size, st.st_mtime))
        else:
            known = " ".join(sorted(ext.lstrip(".") for ext in VIDEO_EXTENSIONS))
            raise DiscoveryError(f"not a directory or video file ({known}): {raw}")
    return DiscoveryResult(roots=roots, videos=videos, unreadable_dirs=unreadable)


def is_under(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` itself or lies inside directory ``root`` (both absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


__all__ = ["VIDEO_EXTENSIONS", "DiscoveryError", "DiscoveryResult", "FoundVideo", "absolute", "discover",
           "is_under", "is_video_name"]
