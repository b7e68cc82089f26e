"""Measure what the built-in encoders cost on this machine, with no weights downloaded.

Compute does not depend on weight values, so each encoder is built at its real size with random
weights (CLIP ViT-B/32 from transformers' default ``CLIPConfig``, InternVideo2 Stage2 1B from
:data:`~indexer.encoders.internvideo2.config.STAGE2_1B`) and timed on random frames through its
real ``encode_clips`` on frames of the encoder's ``frame_size`` (normalisation included, decoding
excluded). FLOPs per clip are counted with
``torch.utils.flop_counter`` on meta tensors (a multiply-add counts 2).

    python -m indexer.encoders.throughput --encoders tiny,clip,internvideo2 --clips 8 --device cpu

An encoder too slow to time (``--skip-timing``) gets an estimate: the measured clips/s of the
fastest timed encoder scaled by the FLOP ratio, marked ``estimated``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ENCODERS = ("tiny", "clip", "internvideo2")


@dataclass(frozen=True)
class Throughput:
    """One encoder's cost: ``gflops_per_clip`` (2 per multiply-add) and clips/s of ``encode_clips``."""

    encoder: str
    frames_per_clip: int
    frame_size: int
    gflops_per_clip: float
    clips_per_second: float
    estimated: bool
    device: str
    threads: int


def build_random_encoder(kind: str, device: str = "cpu", seed: int = 0) -> Any:
    """The built-in encoder ``kind`` at its real size with seeded random weights."""
    from indexer.encoders.tiny import TinyEncoder

    if kind == "tiny":
        return TinyEncoder(device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "clip":
            from transformers import CLIPConfig, CLIPModel

            from indexer.encoders.clip import DEFAULT_FRAMES_PER_CLIP, CLIPEncoder
            from indexer.encoders.preprocess import clip_transform
            from indexer.encoders.tiny import build_tiny_clip_tokenizer

            encoder = CLIPEncoder.__new__(CLIPEncoder)
            encoder._bind(CLIPModel(CLIPConfig()), build_tiny_clip_tokenizer(), clip_transform(224),
                          name="clip:random-vit-b-32", model_id="random", device=device,
                          frames_per_clip=DEFAULT_FRAMES_PER_CLIP, batch_size=64)
            return encoder
        if kind == "internvideo2":
            from indexer.encoders.internvideo2.config import STAGE2_1B
            from indexer.encoders.internvideo2.encoder import InternVideo2Encoder
            from indexer.encoders.internvideo2.model import InternVideo2Stage2
            from indexer.encoders.internvideo2.testing import build_tiny_bert_tokenizer

            return InternVideo2Encoder.from_model(InternVideo2Stage2(STAGE2_1B), build_tiny_bert_tokenizer(),
                                                  model_id="random", device=device)
    raise ValueError(f"unknown encoder {kind!r}: use {', '.join(ENCODERS)}")


def gflops_per_clip(kind: str) -> float:
    """Forward FLOPs of one clip's frames through the video tower (meta tensors, nothing allocated)."""
    from transformers import CLIPConfig, CLIPModel

    from indexer.encoders.clip import DEFAULT_FRAMES_PER_CLIP
    from indexer.encoders.internvideo2.config import STAGE2_1B
    from indexer.encoders.internvideo2.model import InternVideo2Stage2
    from indexer.encoders.tiny import TINY_FRAME_SIZE, TINY_FRAMES_PER_CLIP, build_tiny_clip_config

    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        if kind == "internvideo2":
            size = STAGE2_1B.vision.image_size
            InternVideo2Stage2(STAGE2_1B).encode_video(torch.empty(1, STAGE2_1B.vision.num_frames, 3, size, size))
        else:
            config, frames, size = ((build_tiny_clip_config(), TINY_FRAMES_PER_CLIP, TINY_FRAME_SIZE) if kind == "tiny"
                                    else (CLIPConfig(), DEFAULT_FRAMES_PER_CLIP, 224))
            CLIPModel(config).get_image_features(pixel_values=torch.empty(frames, 3, size, size))
    return counter.get_total_flops() / 1e9


def time_encoder(encoder: Any, clips: int, *, repeats: int = 2) -> float:
    """Best-of-``repeats`` clips/s of ``encode_clips`` (one warm-up call first) on random frames of
    ``frame_size`` x ``frame_size``, the size the indexing pipeline decodes to."""
    rng = np.random.default_rng(0)
    size = int(encoder.frame_size)
    frames = rng.integers(0, 256, (clips, encoder.frames_per_clip, size, size, 3), dtype=np.uint8)
    encoder.encode_clips(frames[:1])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode_clips(frames)
        if encoder.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return clips / best


def main(argv: list[str] | None = None) -> list[Throughput]:
    parser = argparse.ArgumentParser(prog="python -m indexer.encoders.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated, from " + ",".join(ENCODERS))
    parser.add_argument("--clips", type=int, default=8, help="clips per timed call")
    parser.add_argument("--device", default="cpu", help="cpu | cuda[:N]")
    parser.add_argument("--skip-timing", default="", help="encoders to estimate from FLOPs instead of timing")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.encoders.split(",") if k.strip()]
    skip = {k.strip() for k in args.skip_timing.split(",") if k.strip()}
    results: list[Throughput] = []
    for kind in kinds:
        flops = gflops_per_clip(kind)
        rate, estimated = float("nan"), kind in skip
        encoder = None if estimated else build_random_encoder(kind, args.device)
        if encoder is not None:
            rate = time_encoder(encoder, args.clips)
            frames, size = encoder.frames_per_clip, int(encoder.frame_size)
            del encoder
        else:
            frames, size = (4, 224) if kind != "tiny" else (2, 32)
        results.append(Throughput(kind, frames, size, round(flops, 3), rate, estimated, args.device,
                                  torch.get_num_threads()))
    timed = [r for r in results if not r.estimated and r.encoder != "tiny"] or [r for r in results if not r.estimated]
    if timed:
        reference = max(timed, key=lambda r: r.gflops_per_clip)
        results = [r if not r.estimated else
                   Throughput(**{**asdict(r), "clips_per_second": reference.clips_per_second
                                 * reference.gflops_per_clip / r.gflops_per_clip}) for r in results]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        for r in results:
            note = " (estimated from FLOPs)" if r.estimated else ""
            print(f"{r.encoder:13s} {r.frames_per_clip} x {r.frame_size}px  {r.gflops_per_clip:10.2f} GFLOP/clip  "
                  f"{r.clips_per_second:10.3f} clips/s{note}  [{r.device}, {r.threads} threads]")
    return results


if __name__ == "__main__":
    main()
