"""``vsearch bench grounding``: inference latency of a grounding model for one query.

A randomly initialised model of the chosen preset is written as a real checkpoint and loaded through
:class:`grounding.predictor.Grounder`, the path ``vsearch query`` takes. Each timed call grounds one
query (``--tokens`` token features) in ``--windows`` windows of ``--clips`` raw clip embeddings,
normalisation and temporal-endpoint features included. The baseline in the same run grounds the same
windows one call per window (what a per-window Python loop would cost); ``speedup_p50`` is their ratio.
Weights do not change the cost, so random weights measure the real thing.
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
    windows_per_s: float
    date: str


def _percentile(samples: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def run_grounding_benchmark(*, model: str, preset: str = "default", windows: int = 20, clips: int = 75,
                            tokens: int = 32, video_dim: int = 512, text_dim: int = 512, repeats: int = 30,
                            device: str = "cpu", precision: str = "fp32", seed: int = 0) -> GroundingBenchResult:
    """Time ``Grounder.predict`` for one query over ``windows`` windows (see the module docstring)."""
    import dataclasses

    import numpy as np
    import torch

    from grounding.checkpoint import CheckpointMeta, save_checkpoint
    from grounding.config_tree import to_dict
    from grounding.models import build_model
    from grounding.models import preset as model_preset
    from grounding.predictor import Grounder

    config = model_preset(model, preset)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, video_dim=video_dim, text_dim=text_dim))
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-grounding-") as tmp:
        save_checkpoint(Path(tmp), build_model(model, config), CheckpointMeta(
            model=model, config=to_dict(config), video_dim=video_dim, text_dim=text_dim, clip_seconds=2.0))
        grounder = Grounder.from_checkpoint(Path(tmp), device=device, precision=precision)
    rng = np.random.default_rng(seed)
    video = [rng.standard_normal((clips, video_dim)).astype(np.float32) for _ in range(windows)]
    query = rng.standard_normal((tokens, text_dim)).astype(np.float32)

    def timed(fn) -> list[float]:
        for _ in range(3):
            fn()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            if grounder.device.type == "cuda":
                torch.cuda.synchronize()
            samples.append(time.perf_counter() - start)
        return samples

    batched = timed(lambda: grounder.predict(video, query))
    loop = timed(lambda: [grounder.predict([w], query) for w in video])
    p50, loop_p50 = _percentile(batched, 50), _percentile(loop, 50)
    return GroundingBenchResult(
        model=model, preset=preset, precision=precision, device=str(grounder.device), threads=torch.get_num_threads(), windows=windows,
        clips_per_window=clips, tokens=tokens, video_dim=video_dim, text_dim=text_dim,
        p50_ms=round(p50, 2), p95_ms=round(_percentile(batched, 95), 2), loop_p50_ms=round(loop_p50, 2),
        speedup_p50=round(loop_p50 / p50, 2), windows_per_s=round(windows / (p50 / 1000.0), 1),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def register(bench_app: typer.Typer) -> None:
    """Add ``vsearch bench grounding`` to ``bench_app``."""

    @bench_app.command("grounding")
    def grounding(
        model: str = typer.Option("qd_detr", "--model", help="qd_detr or sg_detr."),
        preset: str = typer.Option("default", "--preset", help="Model preset (default = the paper's size)."),
        windows: int = typer.Option(20, "--windows", min=1, help="Windows grounded per query."),
        clips: int = typer.Option(75, "--clips", min=1, help="Clips per window."),
        tokens: int = typer.Option(32, "--tokens", min=1, help="Query tokens."),
        dim: int = typer.Option(512, "--dim", min=2, help="Clip and token embedding dim."),
        repeats: int = typer.Option(30, "--repeats", min=3, help="Timed queries."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda[:N] or auto."),
        precision: str = typer.Option("fp32", "--precision", help="fp32 or bf16 (autocast)."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Grounding latency per query: all windows in one batch vs one call per window."""
        from grounding.models import UnknownModelError

        try:
            result = run_grounding_benchmark(model=model, preset=preset, windows=windows, clips=clips, tokens=tokens,
                                             video_dim=dim, text_dim=dim, repeats=repeats, device=device,
                                             precision=precision)
        except (UnknownModelError, ValueError, RuntimeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if json_out:
            typer.echo(json.dumps(asdict(result)))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"vsearch bench grounding: {result.model} ({result.preset}), {result.windows} windows x "
                            f"{result.clips_per_window} clips, {result.tokens} tokens, {result.precision}, {result.device} x{result.threads} ({result.date})")
        table.add_column("figure")
        table.add_column("batched", justify="right")
        table.add_column("per-window loop", justify="right")
        table.add_column("ratio", justify="right")
        table.add_row("p50 ms / query", f"{result.p50_ms:.2f}", f"{result.loop_p50_ms:.2f}", f"{result.speedup_p50:.1f}x faster")
        table.add_row("p95 ms / query", f"{result.p95_ms:.2f}", "", "")
        table.add_row("windows / s", f"{result.windows_per_s:.0f}", "", "")
        Console().print(table)
