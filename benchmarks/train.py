"""``vsearch bench train``: training throughput of a grounding model at QVHighlights shapes.

Samples are generated once (batch 32, 75 clips of ``--video-dim`` features, 32 tokens, 1-3 moments,
graded saliency with sampled ranking pairs, distinct videos so negative pairs are all valid), then each
timed step runs what the trainer runs: collate, forward, criterion (Hungarian matching included),
backward, gradient clipping, AdamW. The per-stage breakdown shows where a step goes; ``samples_per_s``
is ``batch_size`` over the median fp32 step time. The baseline in the same run (``--baseline bf16``,
the default) interleaves the same steps under bfloat16 autocast on a copy of the model and optimiser:
``bf16_samples_per_s`` and ``bf16_speedup`` (bf16 / fp32 samples per second) say whether mixed
precision pays on this machine. Threads: PyTorch's default (one per physical core) unless
``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import typer

STAGES = ("collate", "forward", "criterion", "backward", "optimizer")


@dataclass(frozen=True)
class TrainBenchResult:
    model: str
    preset: str
    device: str
    threads: int
    batch_size: int
    clips: int
    tokens: int
    video_dim: int
    text_dim: int
    steps: int
    step_ms: float
    samples_per_s: float
    stage_ms: dict[str, float] = field(default_factory=dict)
    bf16_samples_per_s: float | None = None
    bf16_speedup: float | None = None
    date: str = ""


def make_samples(batch_size: int, clips: int, tokens: int, video_dim: int, text_dim: int, seed: int = 0) -> list[Any]:
    """``batch_size`` :class:`grounding.data.dataset.GroundingSample` shaped like QVHighlights samples."""
    import numpy as np

    from grounding.data.dataset import GroundingSample
    from grounding.data.features import add_temporal_endpoints

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(batch_size):
        video = rng.standard_normal((clips, video_dim)).astype(np.float32)
        video /= np.linalg.norm(video, axis=1, keepdims=True)
        text = rng.standard_normal((tokens, text_dim)).astype(np.float32)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        slots = np.arange(0, clips - 8, 8)  # moments of 1-7 clips in disjoint 8-clip slots
        n_moments = min(int(rng.integers(1, 4)), len(slots))
        starts = np.sort(rng.choice(slots, size=n_moments, replace=False))
        lengths = rng.integers(1, 8, size=n_moments)
        spans = np.stack([(starts + lengths / 2) / clips, lengths / clips], axis=1).astype(np.float32)
        saliency = np.zeros(clips, dtype=np.float32)
        for s, n in zip(starts, lengths):
            saliency[s : s + n] = rng.integers(1, 5, size=n)
        relevant, other = np.flatnonzero(saliency), np.flatnonzero(saliency == 0)
        samples.append(GroundingSample(
            qid=i, vid=f"bench{i}", duration=clips * 2.0, clip_seconds=2.0,
            video_feats=add_temporal_endpoints(video), text_feats=text, spans=spans, saliency=saliency,
            saliency_pos=rng.choice(relevant, size=4).astype(np.int64),
            saliency_neg=rng.choice(other, size=4).astype(np.int64),
        ))
    return samples


def run_train_benchmark(*, model: str, preset: str = "default", batch_size: int = 32, clips: int = 75,
                        tokens: int = 32, video_dim: int = 2816, text_dim: int = 512, steps: int = 5,
                        device: str = "cpu", baseline: str = "bf16", seed: int = 0) -> TrainBenchResult:
    """Time ``steps`` training steps after one warm-up step (see the module docstring)."""
    import copy
    import dataclasses

    import numpy as np
    import torch

    from grounding.data.dataset import collate
    from grounding.models import build
    from grounding.models import preset as model_preset
    from grounding.optim import build_optimizer
    from indexer.encoders.device import resolve_device

    config = model_preset(model, preset)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, video_dim=video_dim, text_dim=text_dim))
    torch_device = resolve_device(device)
    torch.manual_seed(seed)
    net, criterion = build(model, config)
    net, criterion = net.to(torch_device).train(), criterion.to(torch_device)
    if baseline not in ("bf16", "none"):
        raise ValueError(f"unknown baseline {baseline!r}; use bf16 or none")
    optimizer = build_optimizer(net, config.optim)
    samples = make_samples(batch_size, clips, tokens, video_dim, text_dim, seed)
    # The baseline trains its own copy so both runs see the same kind of weights and optimiser state.
    bf16_net = copy.deepcopy(net) if baseline == "bf16" else None
    bf16_optimizer = build_optimizer(bf16_net, config.optim) if bf16_net is not None else None

    def sync() -> None:
        if torch_device.type == "cuda":
            torch.cuda.synchronize()

    def step(times: dict[str, list[float]] | None, model: Any = net, opt: Any = optimizer, bf16: bool = False) -> None:
        autocast = torch.autocast(torch_device.type, dtype=torch.bfloat16, enabled=bf16)
        marks = [time.perf_counter()]
        batch = collate(samples).to(torch_device)
        sync(); marks.append(time.perf_counter())
        with autocast:
            outputs = model(batch.video_feats, batch.video_mask, batch.text_feats, batch.text_mask, batch.targets)
            sync(); marks.append(time.perf_counter())
            loss = torch.stack(list(criterion(outputs, batch).values())).sum()
        sync(); marks.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync(); marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        opt.step()
        sync(); marks.append(time.perf_counter())
        if times is not None:
            for name, a, b in zip(STAGES, marks[:-1], marks[1:]):
                times[name].append(b - a)

    step(None)
    if bf16_net is not None:
        step(None, bf16_net, bf16_optimizer, bf16=True)
    times: dict[str, list[float]] = {name: [] for name in STAGES}
    bf16_times: dict[str, list[float]] = {name: [] for name in STAGES}
    for _ in range(steps):
        step(times)
        if bf16_net is not None:
            step(bf16_times, bf16_net, bf16_optimizer, bf16=True)
    totals = np.sum([times[name] for name in STAGES], axis=0)
    step_s = float(np.median(totals))
    bf16_sps = bf16_speedup = None
    if bf16_net is not None:
        bf16_step_s = float(np.median(np.sum([bf16_times[name] for name in STAGES], axis=0)))
        bf16_sps, bf16_speedup = round(batch_size / bf16_step_s, 2), round(step_s / bf16_step_s, 2)
    return TrainBenchResult(
        model=model, preset=preset, device=str(torch_device), threads=torch.get_num_threads(), batch_size=batch_size,
        clips=clips, tokens=tokens, video_dim=video_dim, text_dim=text_dim, steps=steps,
        step_ms=round(step_s * 1000, 1), samples_per_s=round(batch_size / step_s, 2),
        stage_ms={name: round(float(np.median(times[name])) * 1000, 1) for name in STAGES},
        bf16_samples_per_s=bf16_sps, bf16_speedup=bf16_speedup,
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``vsearch bench train`` to ``bench_app``."""

    @bench_app.command("train")
    def train(
        model: str = typer.Option("sg_detr", "--model", help="sg_detr (default) or qd_detr."),
        preset: str = typer.Option("default", "--preset", help="Model preset (default = the paper's size)."),
        batch_size: int = typer.Option(32, "--batch-size", min=2, help="Samples per step."),
        clips: int = typer.Option(75, "--clips", min=16, help="Clips per sample."),
        tokens: int = typer.Option(32, "--tokens", min=1, help="Query tokens per sample."),
        video_dim: int = typer.Option(2816, "--video-dim", min=2, help="Clip feature dim (QVHighlights SlowFast+CLIP: 2816)."),
        text_dim: int = typer.Option(512, "--text-dim", min=2, help="Token feature dim (CLIP: 512)."),
        steps: int = typer.Option(5, "--steps", min=1, help="Timed steps (after one warm-up step)."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda[:N] or auto."),
        baseline: str = typer.Option("bf16", "--baseline", help="bf16 (autocast steps interleaved, the ratio) or none."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Training samples per second (fp32), the time of each stage, and bf16 autocast as a ratio."""
        from grounding.models import UnknownModelError
        from indexer.encoders.registry import EncoderLoadError

        try:
            result = run_train_benchmark(model=model, preset=preset, batch_size=batch_size, clips=clips, tokens=tokens,
                                         video_dim=video_dim, text_dim=text_dim, steps=steps, device=device,
                                         baseline=baseline)
        except (UnknownModelError, EncoderLoadError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if json_out:
            typer.echo(json.dumps(asdict(result)))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"vsearch bench train: {result.model} ({result.preset}), batch {result.batch_size} x "
                            f"{result.clips} clips x {result.tokens} tokens, {result.device} x{result.threads} ({result.date})")
        table.add_column("stage")
        table.add_column("ms / step", justify="right")
        table.add_column("share", justify="right")
        for name, ms in result.stage_ms.items():
            table.add_row(name, f"{ms:.1f}", f"{ms / result.step_ms:.0%}")
        table.add_row("[bold]step", f"[bold]{result.step_ms:.1f}", "")
        table.add_row("[bold]samples / s", f"[bold]{result.samples_per_s:.2f}", "")
        if result.bf16_samples_per_s is not None:
            table.add_row("samples / s, bf16 autocast (same run)", f"{result.bf16_samples_per_s:.2f}",
                          f"{result.bf16_speedup:.2f}x fp32")
        Console().print(table)
