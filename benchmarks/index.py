"""``vsearch bench index``: indexing throughput, stage by stage, on generated videos.

For each generated video (codecs x resolutions, natural-looking moving content so decoders work
as hard as on camera footage) and each encoder (the ``tiny`` test encoder and a randomly initialised
CLIP ViT-B/32-sized model, whose cost equals the real one's) three figures in video-seconds per
wall-second ("x realtime"), measured in the same run:

* ``decode``: :func:`indexer.decoding.open_video` + ``read_clips`` with the encoder's frames per clip
  and frame size (seeking, lazy conversion: what indexing really decodes);
* ``encode``: ``encode_clips`` on batches of random frames of the same shape;
* ``pipeline``: :class:`indexer.pipeline.IndexPipeline` (decode worker overlapped with encoding).

``pipeline_vs_slower_stage = pipeline / min(decode, encode)``: 1.0 means the overlap is perfect.
Headline keys aggregate all rows (total video seconds / total wall seconds per stage). With
``--long-minutes N`` an end-to-end ``run_index`` (store writes included) on an N-minute 640x360
H.264 video reports clips/s for the tiny encoder and for decoding alone. Videos are cached under
the user cache dir, so only the first run pays for generating them.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer

RESOLUTIONS = {"360p": (640, 360), "1080p": (1920, 1080)}
CODECS = {"h264": ("libx264", ".mp4"), "vp9": ("libvpx-vp9", ".webm"), "mpeg4": ("mpeg4", ".avi"),
          "hevc": ("libx265", ".mkv")}


@dataclass(frozen=True)
class IndexBenchConfig:
    """What to measure. ``seconds`` per resolution; ``gop_seconds`` is the keyframe interval;
    each stage is timed ``repeats`` times and the best run kept (the machine is shared and noisy)."""

    codecs: tuple[str, ...] = ("h264", "vp9")
    resolutions: tuple[str, ...] = ("360p", "1080p")
    seconds: dict[str, float] = field(default_factory=lambda: {"360p": 60.0, "1080p": 20.0})
    fps: float = 30.0
    gop_seconds: float = 5.0
    encoders: tuple[str, ...] = ("tiny", "clip-b32-random")
    batch_size: int = 32
    clip_seconds: float = 2.0
    long_minutes: float = 0.0
    repeats: int = 2
    encode_seconds: float = 2.0
    cache_dir: Path | None = None


@dataclass(frozen=True)
class StageRow:
    video: str
    codec: str
    resolution: str
    seconds: float
    encoder: str
    decode_x_realtime: float
    encode_x_realtime: float
    pipeline_x_realtime: float
    pipeline_vs_slower_stage: float
    decode_backend: str


@dataclass
class IndexBenchResult:
    decode_x_realtime: float
    encode_x_realtime: float
    pipeline_x_realtime: float
    pipeline_vs_slower_stage: float
    worst_pipeline_vs_slower_stage: float
    peak_rss_mb: float
    rows: list[StageRow]
    long_video: dict[str, float] | None
    threads: int
    date: str


# ------------------------------------------------------------------------------------ videos
def _texture(rng: Any, width: int, height: int) -> Any:
    """A smooth random RGB texture twice the frame size (low-frequency noise, bilinear upsampled)."""
    import numpy as np
    from scipy.ndimage import zoom

    coarse = rng.integers(0, 256, (height // 12 + 2, width // 12 + 2, 3)).astype(np.float32)
    big = zoom(coarse, (2 * height / coarse.shape[0], 2 * width / coarse.shape[1], 1), order=1)
    return np.clip(big, 0, 255).astype(np.uint8)[: 2 * height, : 2 * width]


def generate_video(path: Path, codec: str, size: tuple[int, int], seconds: float, fps: float,
                   gop_seconds: float, seed: int = 0) -> Path:
    """Write a video of panning textures with a moving block and a scene cut every 10 s."""
    from fractions import Fraction

    import numpy as np

    from indexer.videogen import encode_frames

    width, height = size
    rng = np.random.default_rng(seed)
    codec_name, _ = CODECS[codec]
    gop = str(max(1, int(round(gop_seconds * fps))))
    options = {"libx264": {"preset": "veryfast", "g": gop},
               "libx265": {"preset": "ultrafast", "g": gop},
               "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "g": gop, "b": "1M"},
               "mpeg4": {"g": gop, "b": "2M"}}[codec_name]

    def frames() -> Any:
        texture = _texture(rng, width, height)
        for i in range(int(round(seconds * fps))):
            t = i / fps
            if i and i % int(10 * fps) == 0:
                texture = _texture(rng, width, height)
            x = int((t * 37) % width)
            y = int((t * 23) % height)
            frame = texture[y: y + height, x: x + width].copy()
            bx = int((t * 0.2 % 1.0) * (width - width // 6))
            frame[height // 3: height // 3 + height // 6, bx: bx + width // 6] = (250, 250, 250)
            yield t * 1000, frame

    tmp = path.with_suffix(".part" + path.suffix)
    encode_frames(tmp, frames(), codec=codec_name, size=size, rate=Fraction(fps).limit_denominator(1000),
                  options=options, exact_pts=False)
    tmp.replace(path)
    return path


def cached_video(cache: Path, codec: str, resolution: str, seconds: float, fps: float, gop_seconds: float) -> Path:
    _, suffix = CODECS[codec]
    path = cache / f"{codec}-{resolution}-{seconds:g}s-{fps:g}fps-g{gop_seconds:g}{suffix}"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        generate_video(path, codec, RESOLUTIONS[resolution], seconds, fps, gop_seconds)
    return path


# ------------------------------------------------------------------------------------ encoders
def build_encoder(name: str) -> Any:
    """``tiny`` (built-in) or ``clip-b32-random``: CLIP ViT-B/32 shapes, random weights, 4 frames/clip."""
    if name == "tiny":
        from indexer.encoders.registry import load_encoder

        return load_encoder("tiny", device="cpu")
    if name != "clip-b32-random":
        raise ValueError(f"unknown benchmark encoder {name!r} (tiny, clip-b32-random)")
    import torch
    from transformers import CLIPConfig, CLIPModel

    from indexer.encoders.clip import CLIPEncoder
    from indexer.encoders.preprocess import clip_transform
    from indexer.encoders.tiny import build_tiny_clip_tokenizer

    class RandomClipB32(CLIPEncoder):
        def __init__(self) -> None:
            config = CLIPConfig(text_config={"vocab_size": 514, "eos_token_id": 513, "bos_token_id": 512,
                                             "pad_token_id": 513},
                                vision_config={"image_size": 224, "patch_size": 32}, projection_dim=512)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = CLIPModel(config).eval()
            self._bind(model, build_tiny_clip_tokenizer(), clip_transform(224), name="clip-b32-random",
                       model_id="random", device="cpu", frames_per_clip=4, batch_size=64)

    return RandomClipB32()


# ------------------------------------------------------------------------------------ stages
def time_decode(path: Path, encoder: Any, clip_seconds: float) -> tuple[float, str]:
    """(x realtime, backend) of decoding exactly what indexing samples from ``path``."""
    from indexer.clip_sampler import clip_bounds, sample_times
    from indexer.decoding import open_video

    start = time.perf_counter()
    reader = open_video(str(path))
    times = sample_times(clip_bounds(reader.info.duration, clip_seconds), encoder.frames_per_clip)
    for _ in reader.read_clips(times, encoder.frame_size):
        pass
    reader.close()
    return reader.info.duration / (time.perf_counter() - start), reader.backend


def time_encode(encoder: Any, batch_size: int, clip_seconds: float, min_seconds: float = 2.0) -> float:
    """x realtime of ``encode_clips`` on random frames (clips/s x clip seconds)."""
    import numpy as np

    side = encoder.frame_size or 224
    frames = np.random.default_rng(0).integers(0, 256, (batch_size, encoder.frames_per_clip, side, side, 3),
                                               dtype=np.uint8)
    encoder.encode_clips(frames[:2])  # warm-up (lazy init, allocator)
    clips, start = 0, time.perf_counter()
    while clips == 0 or time.perf_counter() - start < min_seconds:
        encoder.encode_clips(frames)
        clips += batch_size
    return clips * clip_seconds / (time.perf_counter() - start)


def time_pipeline(path: Path, encoder: Any, batch_size: int, clip_seconds: float) -> float:
    """x realtime of the overlapped decode -> encode pipeline on ``path``."""
    from indexer.pipeline import EncodedVideo, FailedVideo, IndexPipeline, PipelineConfig, VideoJob

    pipeline = IndexPipeline(encoder, PipelineConfig(clip_seconds=clip_seconds, batch_size=batch_size))
    duration, start = 0.0, time.perf_counter()
    for event in pipeline.run([VideoJob(key=0, path=str(path))]):
        if isinstance(event, FailedVideo):
            raise RuntimeError(f"{path}: {event.error}")
        if isinstance(event, EncodedVideo):
            duration = event.duration
    return duration / (time.perf_counter() - start)


def time_long_video(path: Path, minutes: float, clip_seconds: float) -> dict[str, float]:
    """End-to-end ``run_index`` (tiny) and decode-only clips/s on one long video."""
    from indexer.indexing import IndexOptions, run_index

    encoder = build_encoder("tiny")
    decode_x, _ = time_decode(path, encoder, clip_seconds)
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-") as lib:
        summary = run_index([path], library_dir=lib, options=IndexOptions(encoder="tiny", clip_seconds=clip_seconds,
                                                                           device="cpu"))
    return {"minutes": minutes,
            "index_clips_per_s": round(summary.clips_per_second, 1),
            "decode_clips_per_s": round(decode_x / clip_seconds, 1),
            "index_seconds": round(summary.seconds, 1)}


def _aggregate(rows: list[StageRow], key: str) -> float:
    wall = sum(r.seconds / getattr(r, key) for r in rows)
    return sum(r.seconds for r in rows) / wall


def run_index_benchmark(config: IndexBenchConfig, log: Any = print) -> IndexBenchResult:
    """Measure every (video, encoder) row, then the optional long-video end-to-end run."""
    import platformdirs
    import torch

    cache = config.cache_dir or Path(platformdirs.user_cache_dir("vsearch", appauthor=False)) / "bench-videos"
    videos = []
    for resolution in config.resolutions:
        for codec in config.codecs:
            log(f"video {codec} {resolution} ({config.seconds[resolution]:g} s) ...")
            videos.append((codec, resolution, cached_video(cache, codec, resolution, config.seconds[resolution],
                                                           config.fps, config.gop_seconds)))
    rows: list[StageRow] = []
    for name in config.encoders:
        encoder = build_encoder(name)
        best = range(max(1, config.repeats))
        encode_x = max(time_encode(encoder, config.batch_size, config.clip_seconds, config.encode_seconds)
                       for _ in best)
        for codec, resolution, path in videos:
            decoded = [time_decode(path, encoder, config.clip_seconds) for _ in best]
            decode_x, backend = max(x for x, _ in decoded), decoded[0][1]
            pipeline_x = max(time_pipeline(path, encoder, config.batch_size, config.clip_seconds) for _ in best)
            row = StageRow(video=path.name, codec=codec, resolution=resolution, seconds=config.seconds[resolution],
                           encoder=name, decode_x_realtime=round(decode_x, 2), encode_x_realtime=round(encode_x, 2),
                           pipeline_x_realtime=round(pipeline_x, 2),
                           pipeline_vs_slower_stage=round(pipeline_x / min(decode_x, encode_x), 3),
                           decode_backend=backend)
            log(f"  {name:16s} {codec:5s} {resolution:5s} decode {decode_x:7.1f}x  encode {encode_x:7.1f}x  "
                f"pipeline {pipeline_x:7.1f}x  ({row.pipeline_vs_slower_stage:.2f} of the slower stage)")
            rows.append(row)
    long_video = None
    if config.long_minutes > 0:
        log(f"long video: {config.long_minutes:g} min h264 360p ...")
        path = cached_video(cache, "h264", "360p", config.long_minutes * 60, config.fps, config.gop_seconds)
        long_video = time_long_video(path, config.long_minutes, config.clip_seconds)
    decode = _aggregate(rows, "decode_x_realtime")
    encode = _aggregate(rows, "encode_x_realtime")
    pipeline = _aggregate(rows, "pipeline_x_realtime")
    return IndexBenchResult(
        decode_x_realtime=round(decode, 2), encode_x_realtime=round(encode, 2),
        pipeline_x_realtime=round(pipeline, 2), pipeline_vs_slower_stage=round(pipeline / min(decode, encode), 3),
        worst_pipeline_vs_slower_stage=min(r.pipeline_vs_slower_stage for r in rows),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        rows=rows, long_video=long_video, threads=torch.get_num_threads(),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


# ------------------------------------------------------------------------------------ CLI
def register(bench_app: typer.Typer) -> None:
    """Add ``vsearch bench index``."""

    @bench_app.command("index")
    def index(
        codecs: str = typer.Option("h264,vp9", help=f"Comma-separated codecs: {', '.join(CODECS)}."),
        resolutions: str = typer.Option("360p,1080p", help="Comma-separated: 360p, 1080p."),
        seconds_360p: float = typer.Option(60.0, "--seconds-360p", help="Length of each 640x360 video."),
        seconds_1080p: float = typer.Option(20.0, "--seconds-1080p", help="Length of each 1920x1080 video."),
        encoders: str = typer.Option("tiny,clip-b32-random", help="Comma-separated: tiny, clip-b32-random."),
        batch_size: int = typer.Option(32, "--batch-size", min=1),
        long_minutes: float = typer.Option(0.0, "--long-minutes", min=0, help="Also index an N-minute video end to end."),
        repeats: int = typer.Option(2, "--repeats", min=1, help="Runs per stage; the best is kept."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Indexing throughput: decode, encode and the overlapped pipeline, in x realtime."""
        import sys

        def split(text: str, known: Any) -> tuple[str, ...]:
            items = tuple(s.strip() for s in text.split(",") if s.strip())
            bad = [s for s in items if s not in known]
            if bad or not items:
                typer.echo(f"error: unknown value {bad[0] if bad else text!r}; choose from {', '.join(known)}", err=True)
                raise typer.Exit(2)
            return items

        config = IndexBenchConfig(
            codecs=split(codecs, CODECS), resolutions=split(resolutions, RESOLUTIONS),
            seconds={"360p": seconds_360p, "1080p": seconds_1080p},
            encoders=split(encoders, ("tiny", "clip-b32-random")), batch_size=batch_size, long_minutes=long_minutes,
            repeats=repeats)
        result = run_index_benchmark(config, log=lambda s: print(s, file=sys.stderr, flush=True))
        if json_out:
            typer.echo(json.dumps(asdict(result), indent=2))
        else:
            _print_table(result)


def _print_table(result: IndexBenchResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vsearch bench index ({result.date}, {result.threads} torch threads)")
    for column in ("encoder", "video", "decode x", "encode x", "pipeline x", "pipeline / slower", "decoder"):
        table.add_column(column)
    for r in result.rows:
        table.add_row(r.encoder, f"{r.codec} {r.resolution} {r.seconds:g}s", f"{r.decode_x_realtime:.1f}",
                      f"{r.encode_x_realtime:.1f}", f"{r.pipeline_x_realtime:.1f}", f"{r.pipeline_vs_slower_stage:.2f}",
                      r.decode_backend)
    table.add_row("all", "", f"{result.decode_x_realtime:.1f}", f"{result.encode_x_realtime:.1f}",
                  f"{result.pipeline_x_realtime:.1f}", f"{result.pipeline_vs_slower_stage:.2f}", "")
    console = Console()
    console.print(table)
    console.print(f"peak RSS {result.peak_rss_mb:.0f} MB")
    if result.long_video:
        lv = result.long_video
        console.print(f"{lv['minutes']:.1f}-minute video, tiny encoder: {lv['index_clips_per_s']:.1f} clips/s end to end "
                      f"({lv['index_seconds']:.0f} s), decode alone {lv['decode_clips_per_s']:.1f} clips/s")
