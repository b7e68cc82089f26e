"""One ``vsearch index`` run: discover, mark and sweep, then decode + encode what changed.

Incremental rules (mark-and-sweep keyed on path, size, mtime and a content fingerprint):

* unchanged (same path, size, mtime and fingerprint, status indexed): skipped; only the mtime
  changed (``touch``, a copy that kept the bytes): the new mtime is recorded, nothing re-encoded;
* changed (same path, anything else differs): re-indexed; the old clips and vectors are replaced
  in the same transaction that stores the new ones. A failed file is retried once it changes
  (size or mtime), or when it could not even be read before;
* new path whose fingerprint equals an indexed video whose file is gone: a move or rename, re-linked
  to the new path without re-encoding;
* an indexed or failed video under a directory root of this run that was not found: removed
  (unless it sits in a folder that could not be listed this time);
* a file that cannot be decoded: recorded as failed with a one-line reason; the run goes on.

Crash safety comes from the store: each video's row, clips and vectors are written in one
``add_video`` transaction, so a killed run leaves only whole videos, and rerunning it redoes exactly
the videos that were not stored. A video the process died on twice is recorded as failed instead
of crashing every later run (:mod:`indexer.crash_ledger`). Ctrl-C asks the pipeline to stop after
the videos in flight; a second Ctrl-C aborts at once (nothing partial is stored either way).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.crash_ledger import MAX_ATTEMPTS, CrashLedger
from indexer.decoding import Backend
from indexer.discovery import DiscoveryResult, FoundVideo, discover, is_under
from indexer.encoders.registry import (
    ENCODER_PATH_SETTING,
    default_encoder_spec,
    encoder_identity,
    load_encoder,
    normalize_encoder_path,
)
from indexer.fingerprint import fingerprint
from indexer.paths import resolve_library_dir
from indexer.pipeline import (ClipsEncoded, EncodedVideo, FailedVideo, IndexPipeline, PipelineConfig,
                              VideoJob, VideoStarted)
from indexer.progress import IndexProgress, NullProgress
from indexer.writer_lock import run_in_progress

DEFAULT_CLIP_SECONDS = 2.0
UNREADABLE = "cannot read file"  # failure reason prefix of files that could not even be opened


@dataclass(frozen=True)
class IndexOptions:
    """Options of a run; ``None`` means "the library's own setting, else the default".

    encoder: built-in name or ``package.module:attr``; encoder_path: weights directory for it.
    clip_seconds: clip length (a library keeps the one it was created with).
    device: ``"auto" | "cpu" | "cuda"`` for the encoder.
    batch_size: clips per encoder call; decode_workers: videos decoded concurrently.
    backend: decoder backend (see :mod:`indexer.decoding`).
    """

    encoder: str | None = None
    encoder_path: str | None = None
    clip_seconds: float | None = None
    device: str = "auto"
    batch_size: int = 32
    decode_workers: int | None = None
    backend: Backend = "auto"


@dataclass
class IndexSummary:
    """What a run did. ``seconds`` is wall time; ``failures`` are (path, one-line reason)."""

    library: str
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    relinked: int = 0
    removed: int = 0
    clips_added: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def clips_per_second(self) -> float:
        return self.clips_added / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "library": self.library, "indexed": self.indexed, "skipped": self.skipped, "failed": self.failed,
            "relinked": self.relinked, "removed": self.removed, "clips_added": self.clips_added,
            "seconds": round(self.seconds, 3), "clips_per_second": round(self.clips_per_second, 2),
            "interrupted": self.interrupted,
            "failures": [{"path": p, "error": e} for p, e in self.failures], "warnings": self.warnings,
        }


@dataclass(frozen=True)
class _Work:
    """A file to encode (new, changed or previously failed) and its fingerprint."""

    found: FoundVideo
    fingerprint: str


@contextmanager
def _graceful_interrupt(pipeline: IndexPipeline, progress: IndexProgress) -> Iterator[None]:
    """First Ctrl-C: stop after the videos in flight. Second: KeyboardInterrupt as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if pipeline.stopping:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        pipeline.stop()
        progress.message("stopping after the current video(s); press Ctrl-C again to abort now")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _resolve_encoder_choice(options: IndexOptions, identity: Any) -> tuple[str, float]:
    """(spec, clip_seconds) for this run: the library keeps its own unless others are named."""
    from indexer.library import EncoderMismatchError

    spec = options.encoder or (identity.spec if identity else default_encoder_spec(options.device))
    if options.clip_seconds is not None:  # an explicit 0 must be rejected, not read as "unset"
        clip_seconds = float(options.clip_seconds)
    else:
        clip_seconds = float(identity.clip_seconds if identity else DEFAULT_CLIP_SECONDS)
    if not (math.isfinite(clip_seconds) and clip_seconds > 0):
        raise ValueError(f"clip seconds must be positive and finite, got {clip_seconds:g}")
    if identity is not None and clip_seconds != float(identity.clip_seconds):
        raise EncoderMismatchError(
            f"library is bound to {identity.clip_seconds:g} s clips, not {clip_seconds:g} s; "
            f"use --clip-seconds {identity.clip_seconds:g} or another --library")
    return spec, clip_seconds


def _mark_and_sweep(library: Any, found: DiscoveryResult, summary: IndexSummary,
                    progress: IndexProgress) -> list[_Work]:
    """Apply the cheap rules (skip, relink, sweep, unreadable) and return the files to encode."""
    known = {rec.path: rec for rec in library.videos(status=None)}
    seen = {v.path for v in found.videos}
    dir_roots = [r for r in found.roots if os.path.isdir(r)]
    blocked = [d for d, _ in found.unreadable_dirs]
    # Indexed videos whose files are gone: candidates for a move/rename, keyed by fingerprint.
    vanished = {rec.fingerprint: rec for path, rec in known.items()
                if rec.status == "indexed" and rec.fingerprint and path not in seen and not os.path.exists(path)}
    relinked: set[int] = set()
    work: list[_Work] = []
    for video in found.videos:
        rec = known.get(video.path)
        try:
            fp = fingerprint(video.path)
        except OSError as exc:
            reason = f"{UNREADABLE}: {exc.strerror or exc}"
            library.record_failure(video.path, video.size, video.mtime, reason)
            summary.failed += 1
            summary.failures.append((video.path, reason))
            progress.message(f"failed {video.path}: {reason}")
            continue
        if rec is not None:
            same_stat = rec.size == video.size and rec.mtime == video.mtime
            # A file that failed to decode is retried once it changes; one that could not be read
            # (permissions) is retried every run, since fixing permissions does not touch mtime.
            failed_before = rec.status == "failed" and not (rec.error or "").startswith(UNREADABLE)
            if same_stat and (rec.fingerprint == fp or failed_before):
                summary.skipped += 1
            elif rec.status == "indexed" and rec.size == video.size and rec.fingerprint == fp:
                library.relink_video(rec.id, video.path, video.size, video.mtime)  # touched, same bytes
                summary.skipped += 1
            else:
                work.append(_Work(video, fp))
            continue
        moved = vanished.pop(fp, None)
        if moved is not None:
            library.relink_video(moved.id, video.path, video.size, video.mtime)
            relinked.add(moved.id)
            summary.relinked += 1
            progress.message(f"relinked {moved.path} -> {video.path}")
            continue
        work.append(_Work(video, fp))
    for path, rec in known.items():
        if (path not in seen and rec.id not in relinked and any(is_under(path, r) for r in dir_roots)
                and not any(is_under(path, b) for b in blocked)):
            library.remove_video(rec.id)
            summary.removed += 1
    return work


def _gave_up(library: Any, ledger: CrashLedger, work: _Work, summary: IndexSummary,
             progress: IndexProgress) -> bool:
    """Record ``work`` as failed, and return True, when earlier runs died on it too often."""
    attempts = ledger.attempts(work.found.path)
    if attempts < MAX_ATTEMPTS:
        return False
    reason = (f"the indexer died {attempts} times while processing this file (decoder crash or kill); "
              f"it is retried when the file changes")
    library.record_failure(work.found.path, work.found.size, work.found.mtime, reason)
    ledger.finished(work.found.path)
    summary.failed += 1
    summary.failures.append((work.found.path, reason))
    progress.message(f"failed {work.found.path}: {reason}")
    return True


def _store(library: Any, event: EncodedVideo | FailedVideo, summary: IndexSummary,
           progress: IndexProgress) -> None:
    """Write one pipeline result: the video's clips and vectors, or its failure."""
    from indexer.library import NewVideo

    w: _Work = event.job.payload
    if isinstance(event, FailedVideo):
        library.record_failure(w.found.path, w.found.size, w.found.mtime, event.error)
        summary.failed += 1
        summary.failures.append((w.found.path, event.error))
        progress.video_done(w.found.path, False, event.error)
        return
    info = event.info
    library.add_video(  # replaces an older row of the same path in the same transaction
        NewVideo(path=w.found.path, size=w.found.size, mtime=w.found.mtime, fingerprint=w.fingerprint,
                 duration=event.duration, fps=info.fps, width=info.width, height=info.height),
        event.embeddings, event.clip_times)
    n = len(event.embeddings)
    summary.indexed += 1
    summary.clips_added += n
    note = f"{n} clips"
    if event.truncated:
        note += f", truncated: frames end at {event.duration:.1f} s of {info.duration:.1f} s"
        summary.warnings.append(f"{w.found.path}: {note}")
    progress.video_done(w.found.path, True, note)


def run_index(
    paths: Sequence[str | os.PathLike[str]],
    *,
    library_dir: str | os.PathLike[str] | None = None,
    options: IndexOptions = IndexOptions(),
    progress: IndexProgress | None = None,
) -> IndexSummary:
    """Index the videos under ``paths`` into the library at ``library_dir``.

    Raises ``DiscoveryError`` (bad path), ``LibraryError`` (cannot open, another run is writing,
    ``EncoderMismatchError``), ``EncoderLoadError`` and ``ValueError`` (bad option); problems of
    single videos are not raised but recorded as failures in the summary and the library.
    """
    from indexer.library import Library, LibraryBusyError

    progress = progress or NullProgress()
    started = time.perf_counter()
    directory = Path(resolve_library_dir(library_dir))
    found = discover(paths)
    summary = IndexSummary(library=str(directory))
    summary.warnings += [f"cannot list {d}: {why}" for d, why in found.unreadable_dirs]
    if run_in_progress(directory):
        raise LibraryBusyError(f"another vsearch index run is writing to {directory}")

    library = Library.open(directory)
    encoder: Any = None
    try:
        spec, clip_seconds = _resolve_encoder_choice(options, library.identity)

        def bind() -> None:
            """Load the encoder and bind (or check) the library's identity."""
            nonlocal encoder, library
            weights = options.encoder_path or library.get_setting(ENCODER_PATH_SETTING)
            encoder = load_encoder(spec, device=options.device, path=weights)
            identity = encoder_identity(spec, encoder, clip_seconds)
            if library.identity != identity:
                library.close()
                library = Library.create_or_open(directory, identity)
            if options.encoder_path:
                library.set_setting(ENCODER_PATH_SETTING, normalize_encoder_path(options.encoder_path))

        if options.encoder is not None:
            bind()  # a named encoder is checked against the library before anything changes
        work = _mark_and_sweep(library, found, summary, progress)
        ledger = CrashLedger(directory)
        work = [w for w in work if not _gave_up(library, ledger, w, summary, progress)]
        progress.begin(len(work), summary.skipped)
        if work:
            if encoder is None:
                bind()
            config = PipelineConfig(
                clip_seconds=clip_seconds, batch_size=options.batch_size, backend=options.backend,
                **({"decode_workers": options.decode_workers} if options.decode_workers else {}))
            pipeline = IndexPipeline(encoder, config, on_start=lambda job: ledger.started(job.path))
            jobs = [VideoJob(key=i, path=w.found.path, payload=w) for i, w in enumerate(work)]
            finished = 0
            try:
                with _graceful_interrupt(pipeline, progress):
                    for event in pipeline.run(jobs):
                        if isinstance(event, VideoStarted):
                            progress.video_started(event.job.path, event.n_clips)
                        elif isinstance(event, ClipsEncoded):
                            progress.clips_encoded(event.job.path, event.n)
                        else:
                            _store(library, event, summary, progress)
                            ledger.finished(event.job.path)
                            finished += 1
            except BaseException:
                ledger.release_unfinished()  # Ctrl-C or an error, not a crash: no attempt counts
                raise
            ledger.release_unfinished()  # stopped on purpose after Ctrl-C: the same
            summary.interrupted = finished < len(jobs)
    finally:
        progress.end()
        library.close()
    summary.seconds = time.perf_counter() - started
    return summary
