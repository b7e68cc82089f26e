"""``vsearch eval``: score a prediction file with the official QVHighlights metrics.

A thin layer over :func:`grounding.eval.evaluate`; the heavy lifting (and numpy) is imported inside the
command. Exit codes: 0 scored, 2 unusable input (the message names the file and line).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NoReturn, Optional

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def render_tables(metrics: dict, *, queries: int, seconds: float) -> list:
    """Rich tables of a metrics dict: moment retrieval per length bucket, highlight detection per level."""
    from rich.table import Table

    tables = []
    buckets = [name for name in ("full", "short", "middle", "long") if name in metrics]
    if buckets:
        extended = "MR-mIoU" in metrics["full"]
        r1_keys = ["0.3", "0.5", "0.7"] if extended else ["0.5", "0.7"]
        table = Table(title=f"Moment retrieval ({queries} queries, scored in {seconds:.2f} s)")
        table.add_column("GT windows")
        for key in r1_keys:
            table.add_column(f"R1@{key}", justify="right")
        for key in ("mAP@0.5", "mAP@0.75", "mAP"):
            table.add_column(key, justify="right")
        if extended:
            table.add_column("mIoU", justify="right")
        for name in buckets:
            block = metrics[name]
            cells = [f"{block['MR-R1'][k]:.2f}" for k in r1_keys]
            cells += [f"{block['MR-mAP'][k]:.2f}" for k in ("0.5", "0.75", "average")]
            if extended:
                cells.append(f"{block['MR-mIoU']:.2f}")
            table.add_row(name, *cells)
        tables.append(table)
    levels = [key for key in metrics if key.startswith("HL-min-")]
    if levels:
        table = Table(title="Highlight detection")
        table.add_column("positive clips")
        table.add_column("HD mAP", justify="right")
        table.add_column("HIT@1", justify="right")
        for level in levels:
            table.add_row("score >= " + level.removeprefix("HL-min-"), f"{metrics[level]['HL-mAP']:.2f}",
                          f"{metrics[level]['HL-Hit1']:.2f}")
        tables.append(table)
    return tables


def register(app: typer.Typer) -> None:
    """Add ``eval`` to ``app``."""

    @app.command("eval")
    def eval_command(
        predictions: Path = typer.Option(..., "--predictions", help="Prediction JSONL (official submission format)."),
        annotations: Path = typer.Option(..., "--annotations", help="Ground-truth JSONL (QVHighlights, Charades-STA or TACoS)."),
        clip_seconds: float = typer.Option(2.0, "--clip-seconds", min=0.001, help="Clip length of the saliency scores (2 QVHighlights/TACoS, 1 Charades)."),
        extended: Optional[bool] = typer.Option(None, "--extended/--official", help="Add R1@0.3 and mIoU (CG-DETR). Default: on for ground truth without saliency."),
        json_out: bool = typer.Option(False, "--json", help="Print the metrics JSON instead of tables."),
        out: Optional[Path] = typer.Option(None, "--out", help="Also write the metrics JSON to this file."),
    ) -> None:
        """Score moment retrieval (R1, mAP, length buckets) and highlight detection (HD mAP, HIT@1)."""
        from grounding.data.annotations import AnnotationError, load_annotations
        from grounding.eval import PredictionError, evaluate, read_predictions

        try:
            ground_truth = load_annotations(annotations, clip_seconds=clip_seconds)
            rows, lines = read_predictions(predictions)
            start = time.perf_counter()
            metrics = evaluate(rows, ground_truth, extended=extended, lines=lines, source=str(predictions))
            seconds = time.perf_counter() - start
        except (AnnotationError, PredictionError) as exc:
            _fail(str(exc))
        text = json.dumps(metrics, indent=4)
        if out is not None:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(text + "\n")
            except OSError as exc:
                _fail(f"cannot write {out}: {exc.strerror or exc}")
        if json_out:
            typer.echo(text)
            return
        from rich.console import Console

        console = Console()
        for table in render_tables(metrics, queries=len(ground_truth), seconds=seconds):
            console.print(table)
        if out is not None:
            console.print(f"metrics written to {out}")
