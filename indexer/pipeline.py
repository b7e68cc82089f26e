"""Decode and encode videos concurrently: background decode workers feed batches to the encoder.

Decode workers (threads; FFmpeg and decord release the GIL while decoding) each take the next
video, probe it, plan its clips and push every clip's sampled frames into one bounded queue. The
caller's thread (where the encoder lives, so CUDA and Ctrl-C behave) drains the queue into batches
of up to ``batch_size`` clips, possibly mixing videos, and encodes each batch. The bounded queue
gives back-pressure: whichever stage is slower sets the pace and the other waits on the queue, and
at most ``queued_clips + batch_size`` clips of frames are in memory.

:meth:`IndexPipeline.run` yields events in the caller's thread: :class:`VideoStarted`,
:class:`ClipsEncoded` (progress), and per video exactly one of :class:`EncodedVideo` or
:class:`FailedVideo`. :meth:`IndexPipeline.stop` asks for a clean stop: no new video is started and
the videos in flight are finished.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from indexer.clip_sampler import clip_bounds, sample_times
from indexer.decoding import Backend, VideoDecodeError, VideoInfo, open_video


@dataclass(frozen=True)
class PipelineConfig:
    """Pipeline knobs.

    clip_seconds: clip length in seconds.
    batch_size: clips per ``encode_clips`` call.
    decode_workers: videos decoded concurrently (threads).
    decoder_threads: FFmpeg threads per video (0 = FFmpeg's choice).
    queued_clips: decoded clips that may wait for the encoder (0 = ``2 * batch_size``).
    backend: ``"auto"`` (decord when available and exact, else PyAV), ``"pyav"`` or ``"decord"``.
    """

    clip_seconds: float = 2.0
    batch_size: int = 32
    decode_workers: int = field(default_factory=lambda: max(1, min(4, (os.cpu_count() or 2) // 2)))
    decoder_threads: int = 0
    queued_clips: int = 0
    backend: Backend = "auto"

    def __post_init__(self) -> None:
        if self.clip_seconds <= 0:
            raise ValueError(f"clip seconds must be positive, got {self.clip_seconds}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.decode_workers < 1:
            raise ValueError(f"decode workers must be >= 1, got {self.decode_workers}")


@dataclass(frozen=True)
class VideoJob:
    """A video to index: ``key`` identifies it in events, ``payload`` travels along untouched."""

    key: Hashable
    path: str
    payload: Any = None


@dataclass(frozen=True)
class VideoStarted:
    """A worker probed ``job``: it plans ``n_clips`` clips (fewer may come if the file is truncated)."""

    job: VideoJob
    info: VideoInfo
    n_clips: int


@dataclass(frozen=True)
class ClipsEncoded:
    """``n`` more clips of ``job`` were encoded."""

    job: VideoJob
    n: int


@dataclass(frozen=True)
class EncodedVideo:
    """All clips of a video, encoded.

    clip_times: float64 ``(n_clips, 2)`` clip (start, end) seconds from the video's time 0.
    embeddings: float32 ``(n_clips, dim)``, rows L2-normalised by the encoder.
    duration: seconds covered by decodable frames (< ``info.duration`` when ``truncated``).
    backend: decoder that produced the frames (``"pyav"`` or ``"decord"``).
    """

    job: VideoJob
    info: VideoInfo
    clip_times: np.ndarray
    embeddings: np.ndarray
    duration: float
    truncated: bool
    backend: str


@dataclass(frozen=True)
class FailedVideo:
    """``job`` could not be indexed; ``error`` is a one-line reason."""

    job: VideoJob
    error: str


PipelineEvent = Union[VideoStarted, ClipsEncoded, EncodedVideo, FailedVideo]


# Messages from decode workers to the encoding thread.
@dataclass(frozen=True)
class _Clip:
    key: Hashable
    index: int
    frames: np.ndarray  # uint8 (frames_per_clip, H, W, 3)


@dataclass(frozen=True)
class _Decoded:
    key: Hashable
    n_clips: int
    backend: str


@dataclass(frozen=True)
class _WorkerDone:
    pass


@dataclass
class _VideoState:
    event: VideoStarted
    bounds: np.ndarray
    chunks: dict[int, np.ndarray] = field(default_factory=dict)  # clip index -> (dim,) embedding
    n_decoded: int | None = None
    backend: str = ""


class IndexPipeline:
    """Overlapped decode -> encode for a stream of :class:`VideoJob` s (see the module docstring)."""

    def __init__(self, encoder: Any, config: PipelineConfig,
                 on_start: Callable[[VideoJob], None] | None = None) -> None:
        """``on_start(job)`` is called from a decode worker right before it opens ``job``'s file."""
        self.encoder = encoder
        self.config = config
        self.on_start = on_start
        self.frames_per_clip = int(encoder.frames_per_clip)
        self.frame_size: int | None = None if encoder.frame_size is None else int(encoder.frame_size)
        self.dim = int(encoder.dim)
        self._stop = threading.Event()
        self._abort = threading.Event()

    def stop(self) -> None:
        """Start no new video; finish the ones in flight (thread- and signal-safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- decode side -------------------------------------------------------------------------
    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Put with back-pressure; False when the run is being aborted."""
        while not self._abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode_one(self, job: VideoJob, q: queue.Queue[Any]) -> None:
        if self.on_start is not None:
            self.on_start(job)
        try:
            reader = open_video(job.path, backend=self.config.backend, threads=self.config.decoder_threads)
        except VideoDecodeError as exc:
            self._put(q, FailedVideo(job, str(exc)))
            return
        try:
            bounds = clip_bounds(reader.info.duration, self.config.clip_seconds)
            if not self._put(q, VideoStarted(job, reader.info, len(bounds))):
                return
            times = sample_times(bounds, self.frames_per_clip)
            n = 0
            for frames in reader.read_clips(times, self.frame_size):
                if not self._put(q, _Clip(job.key, n, frames)):
                    return
                n += 1
            if n == 0:
                self._put(q, FailedVideo(job, "no decodable frames"))
            else:
                self._put(q, _Decoded(job.key, n, reader.backend))
        except VideoDecodeError as exc:
            self._put(q, FailedVideo(job, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one odd file must not end the run; the reason is kept
            self._put(q, FailedVideo(job, f"decoder error: {type(exc).__name__}: {' '.join(str(exc).split())}"))
        finally:
            reader.close()

    def _worker(self, jobs: Iterator[VideoJob], lock: threading.Lock, q: queue.Queue[Any]) -> None:
        try:
            while not (self._stop.is_set() or self._abort.is_set()):
                with lock:
                    job = next(jobs, None)
                if job is None:
                    break
                self._decode_one(job, q)
        finally:
            self._put(q, _WorkerDone())

    # ---- encode side -------------------------------------------------------------------------
    def _encode(self, batch: list[_Clip], states: dict[Hashable, _VideoState]) -> list[PipelineEvent]:
        frames = np.stack([c.frames for c in batch])
        embeddings = np.asarray(self.encoder.encode_clips(frames), dtype=np.float32)
        if embeddings.shape != (len(batch), self.dim):
            raise RuntimeError(f"encoder returned {embeddings.shape} for {len(batch)} clips, expected "
                               f"({len(batch)}, {self.dim})")
        counts: dict[Hashable, int] = {}
        for clip, row in zip(batch, embeddings):
            states[clip.key].chunks[clip.index] = row
            counts[clip.key] = counts.get(clip.key, 0) + 1
        return [ClipsEncoded(states[k].event.job, n) for k, n in counts.items()]

    @staticmethod
    def _finish(state: _VideoState) -> EncodedVideo:
        n = state.n_decoded or 0
        bounds = state.bounds[:n]
        info = state.event.info
        return EncodedVideo(job=state.event.job, info=info, clip_times=bounds.copy(),
                            embeddings=np.stack([state.chunks[i] for i in range(n)]).astype(np.float32),
                            duration=float(min(info.duration, bounds[-1, 1])),
                            truncated=n < len(state.bounds), backend=state.backend)

    def run(self, jobs: Iterable[VideoJob]) -> Iterator[PipelineEvent]:
        """Index ``jobs``; yields events in the calling thread (see the module docstring)."""
        cfg = self.config
        q: queue.Queue[Any] = queue.Queue(maxsize=cfg.queued_clips or 2 * cfg.batch_size)
        lock = threading.Lock()
        job_iter = iter(jobs)
        workers = [threading.Thread(target=self._worker, args=(job_iter, lock, q), daemon=True,
                                    name=f"vsearch-decode-{i}") for i in range(cfg.decode_workers)]
        for w in workers:
            w.start()
        states: dict[Hashable, _VideoState] = {}
        batch: list[_Clip] = []
        running = len(workers)

        def completed() -> Iterator[PipelineEvent]:
            done = [k for k, s in states.items() if s.n_decoded is not None and len(s.chunks) == s.n_decoded]
            for key in done:
                yield self._finish(states.pop(key))

        def flush() -> Iterator[PipelineEvent]:
            if batch:
                yield from self._encode(batch, states)
                batch.clear()
            yield from completed()

        try:
            while running:
                item = q.get()
                if isinstance(item, _Clip):
                    if item.key not in states:
                        continue  # the video failed after this clip was queued
                    if batch and batch[0].frames.shape != item.frames.shape:
                        yield from flush()  # native-size encoders: one frame shape per batch
                    batch.append(item)
                elif isinstance(item, VideoStarted):
                    states[item.job.key] = _VideoState(item, clip_bounds(item.info.duration, cfg.clip_seconds))
                    yield item
                elif isinstance(item, _Decoded):
                    state = states[item.key]
                    state.n_decoded, state.backend = item.n_clips, item.backend
                    yield from completed()
                elif isinstance(item, FailedVideo):
                    states.pop(item.job.key, None)
                    batch[:] = [c for c in batch if c.key != item.job.key]
                    yield item
                elif isinstance(item, _WorkerDone):
                    running -= 1
                # A full batch is encoded at once; a partial one only when nothing else is waiting,
                # so batches stay full whenever decoding keeps ahead and the encoder never idles.
                if batch and (len(batch) >= cfg.batch_size or q.empty()):
                    yield from flush()
            yield from flush()
        finally:
            self._abort.set()
            while any(w.is_alive() for w in workers):  # unblock workers waiting on a full queue
                try:
                    q.get(timeout=0.05)
                except queue.Empty:
                    pass
            for w in workers:
                w.join()
