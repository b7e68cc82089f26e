"""``vsearch bench grounding``: inference latency of a grounding model for one query.

A randomly initialised model of the chosen preset is written as a real checkpoint and loaded through
:class:`grounding.predictor.Grounder`, the path ``vsearch query`` takes. Each timed call grounds one
query (``--tokens`` token features) in ``--windows`` windows of ``--clips`` raw clip embeddings,
normalisation and temporal-endpoint features included. Baselines measured in the same run, calls
interleaved so load on a shared machine hits all alike: the same windows one call per window (what a
per-window Python loop would cost; ``speedup_p50`` = loop / batched) and the other precision
(``bf16_speedup`` = fp32 p50 / bf16 p50). ``gflop_per_query`` counts the floating-point operations of one
query's forward pass (matrix products, attention, convolutions) and ``achieved_gflops`` divides it by the p50:
how close the model runs to the CPU's arithmetic peak, i.e. the floor for this model size.
Weights do not change the cost, so random weights measure the real thing.

Threads: ``--threads 0`` keeps PyTorch's default, one thread per physical core, which is what one
interactive query should get; a server answering several queries at once should give each worker
fewer threads (``--threads 1`` shows that case).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import typer


@dataclass(frozen=True)
class GroundingBenchResult:
    model: str
    preset: str
    precision: str
    device: str
    threads: int
    windows: int
    clips_per_window: int
    tokens: int
    video_dim: int
    text_dim: int
    p50_ms: float
    p95_ms: float
    loop_p50_ms: float
    speedup_p50: float
    fp32_p50_ms: float
    bf16_p50_ms: float
    bf16_speedup: float
    gflop_per_query: float
    achieved_gflops: float
    windows_per_s: float
    date: str


def _percentile(samples: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def _count_gflop(grounder, video: list, query) -> float:
    """Floating-point operations of the model's forward pass for one query, in GFLOP (matrix products,
    attention and convolutions, as counted by :class:`torch.utils.flop_counter.FlopCounterMode`)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from grounding.predictor import prepare_windows

    clips, clip_mask = prepare_windows(video, temporal_endpoints=grounder.meta.temporal_endpoints)
    text = torch.from_numpy(query).unsqueeze(0).expand(len(video), -1, -1)
    text_mask = torch.ones(text.shape[:2], dtype=torch.bool)
    counter = FlopCounterMode(display=False)
    with counter:  # outside inference mode: the counter's module tracker hooks into autograd
        grounder.model(clips.to(grounder.device), clip_mask.to(grounder.device), text.to(grounder.device),
                       text_mask.to(grounder.device))
    return counter.get_total_flops() / 1e9


def run_grounding_benchmark(*, model: str, preset: str = "default", windows: int = 20, clips: int = 75,
                            tokens: int = 32, video_dim: int = 512, text_dim: int = 512, repeats: int = 30,
                            device: str = "cpu", precision: str = "fp32", threads: int = 0,
                            seed: int = 0) -> GroundingBenchResult:
    """Time ``Grounder.predict`` for one query over ``windows`` windows (see the module docstring)."""
    import dataclasses

    import numpy as np
    import torch

    from grounding.checkpoint import CheckpointMeta, save_checkpoint
    from grounding.config_tree import to_dict
    from grounding.models import build_model
    from grounding.models import preset as model_preset
    from grounding.predictor import Grounder

    if precision not in Grounder.PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of: {', '.join(Grounder.PRECISIONS)}")
    if threads < 0:
        raise ValueError(f"--threads must be >= 0 (0 = one per physical core), got {threads}")
    if threads:
        torch.set_num_threads(threads)
    config = model_preset(model, preset)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, video_dim=video_dim, text_dim=text_dim))
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-grounding-") as tmp:
        save_checkpoint(Path(tmp), build_model(model, config), CheckpointMeta(
            model=model, config=to_dict(config), video_dim=video_dim, text_dim=text_dim, clip_seconds=2.0))
        grounders = {p: Grounder.from_checkpoint(Path(tmp), device=device, precision=p) for p in Grounder.PRECISIONS}
    grounder = grounders[precision]
    rng = np.random.default_rng(seed)
    video = [rng.standard_normal((clips, video_dim)).astype(np.float32) for _ in range(windows)]
    query = rng.standard_normal((tokens, text_dim)).astype(np.float32)
    calls = {
        "fp32": lambda: grounders["fp32"].predict(video, query),
        "bf16": lambda: grounders["bf16"].predict(video, query),
        "loop": lambda: [grounder.predict([w], query) for w in video],
    }
    for fn in calls.values():
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            if grounder.device.type == "cuda":
                torch.cuda.synchronize()
            samples[name].append(time.perf_counter() - start)
    p50 = {name: _percentile(values, 50) for name, values in samples.items()}
    gflop = _count_gflop(grounders["fp32"], video, query)
    return GroundingBenchResult(
        model=model, preset=preset, precision=precision, device=str(grounder.device), threads=torch.get_num_threads(),
        windows=windows, clips_per_window=clips, tokens=tokens, video_dim=video_dim, text_dim=text_dim,
        p50_ms=round(p50[precision], 2), p95_ms=round(_percentile(samples[precision], 95), 2),
        loop_p50_ms=round(p50["loop"], 2), speedup_p50=round(p50["loop"] / p50[precision], 2),
        fp32_p50_ms=round(p50["fp32"], 2), bf16_p50_ms=round(p50["bf16"], 2),
        bf16_speedup=round(p50["fp32"] / p50["bf16"], 2), gflop_per_query=round(gflop, 3),
        achieved_gflops=round(gflop / (p50["fp32"] / 1000.0), 1),
        windows_per_s=round(windows / (p50[precision] / 1000.0), 1),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``vsearch bench grounding`` to ``bench_app``."""

    @bench_app.command("grounding")
    def grounding(
        model: str = typer.Option("sg_detr", "--model", help="sg_detr (default) or qd_detr."),
        preset: str = typer.Option("default", "--preset", help="Model preset (default = the paper's size)."),
        windows: int = typer.Option(20, "--windows", min=1, help="Windows grounded per query."),
        clips: int = typer.Option(75, "--clips", min=1, help="Clips per window."),
        tokens: int = typer.Option(32, "--tokens", min=1, help="Query tokens."),
        dim: int = typer.Option(512, "--dim", min=2, help="Clip and token embedding dim."),
        repeats: int = typer.Option(30, "--repeats", min=3, help="Timed queries."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda[:N] or auto."),
        precision: str = typer.Option("fp32", "--precision", help="fp32 or bf16 (autocast); the other is the baseline."),
        threads: int = typer.Option(0, "--threads", min=0, help="Torch threads (0 = one per physical core)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Grounding latency per query: all windows in one batch vs one call per window."""
        from grounding.models import UnknownModelError

        try:
            result = run_grounding_benchmark(model=model, preset=preset, windows=windows, clips=clips, tokens=tokens,
                                             video_dim=dim, text_dim=dim, repeats=repeats, device=device,
                                             precision=precision, threads=threads)
        except (UnknownModelError, ValueError, RuntimeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if json_out:
            typer.echo(json.dumps(asdict(result)))
            return
        from rich.console import Console
        from rich.table import Table

        from benchmarks.ratio import speed_ratio_text

        table = Table(title=f"vsearch bench grounding: {result.model} ({result.preset}), {result.windows} windows x "
                            f"{result.clips_per_window} clips, {result.tokens} tokens, {result.precision}, {result.device} x{result.threads} ({result.date})")
        table.add_column("figure")
        table.add_column("measured", justify="right")
        table.add_column("baseline (same run)", justify="right")
        table.add_column("ratio", justify="right")
        table.add_row(f"p50 ms / query, batched, {result.precision}", f"{result.p50_ms:.2f}",
                      f"{result.loop_p50_ms:.2f} one call per window", speed_ratio_text(result.speedup_p50, 2))
        table.add_row("p50 ms / query, bf16 vs fp32", f"{result.bf16_p50_ms:.2f}", f"{result.fp32_p50_ms:.2f}",
                      speed_ratio_text(result.bf16_speedup, 2))
        table.add_row(f"p95 ms / query, {result.precision}", f"{result.p95_ms:.2f}", "", "")
        table.add_row("windows / s", f"{result.windows_per_s:.0f}", "", "")
        table.add_row("GFLOP / query; achieved GFLOP/s (fp32)", f"{result.gflop_per_query:.2f}",
                      f"{result.achieved_gflops:.0f}", "")
        Console().print(table)
