"""``vsearch ablation``: SG-DETR's Table 2 ablation (rows a-e) on a dataset, one table of official metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_HELP = """Train SG-DETR ablation rows and print one table (val metrics, mean ± std over seeds).

Rows (Table 2 of the SG-DETR paper), each adding one part to the previous:
a = CA + DETR head + local saliency head, b = + SGCA, c = + IoU scoring,
d = + global saliency module, e = + hybrid ATSS-DETR (full SG-DETR).

Every (row, seed) is a normal training run saved under OUT/row_<r>/seed_<s>; its metrics are those of
its best epoch by MR-full-mAP.

Example: vsearch ablation --train train.jsonl --val val.jsonl --video-features feats/video
--text-features feats/text --epochs 30 --seeds 3 --preset tiny
"""


def ablation(
    train: Path = typer.Option(..., "--train", help="Training annotations (QVHighlights-style JSON Lines)."),
    val: Path = typer.Option(..., "--val", help="Validation annotations with labels."),
    video_features: list[Path] = typer.Option(
        ..., "--video-features", help="Directory of {vid}.npz clip features; repeat to concatenate."
    ),
    text_features: Path = typer.Option(..., "--text-features", help="Directory of qid{qid}.npz token features."),
    out: Path = typer.Option(Path("runs/sg_detr_ablation"), "--out", help="Where the runs are written."),
    preset: str = typer.Option("default", "--preset", help="Base config: default/qvhighlights, charades, tacos, tiny."),
    config_file: Optional[Path] = typer.Option(
        None, "--config", help="JSON file of (partial) config overrides applied to the preset."
    ),
    rows: str = typer.Option("abcde", "--rows", help="Rows to train, e.g. abcde or a,e."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs per run (default: the preset's)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds per row (mean ± std when > 1)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Default: the preset's."),
    lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Default: the preset's."),
    clip_seconds: float = typer.Option(2.0, "--clip-seconds", min=0.01, help="Clip length of the features (s)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda[:N] or auto."),
    as_json: bool = typer.Option(False, "--json", help="Print the table and every run as JSON."),
) -> None:
    import dataclasses
    import json

    from grounding.commands.train import feature_encoder_identity, load_splits
    from grounding.config_tree import ConfigError, load_json, override
    from grounding.data.annotations import AnnotationError
    from grounding.data.features import FeatureError
    from grounding.models import UnknownModelError
    from grounding.models import preset as model_preset
    from grounding.models.sg_detr.ablation import METRIC_KEYS, parse_rows, run_ablation, summarize
    from grounding.trainer import FeatureSource
    from indexer.encoders.device import resolve_device

    if out.exists() and not out.is_dir():
        typer.echo(f"error: --out {out} is a file, not a directory for the runs", err=True)
        raise typer.Exit(2)
    try:
        chosen = parse_rows(rows)
        base = model_preset("sg_detr", preset)
        if config_file is not None:
            base = override(base, load_json(config_file), where=str(config_file))
        optim = dataclasses.replace(
            base.optim,
            epochs=epochs or base.optim.epochs,
            batch_size=batch_size or base.optim.batch_size,
            lr=lr or base.optim.lr,
        )
        base = dataclasses.replace(base, optim=optim)
        train_set, val_set, store = load_splits(train, val, video_features, text_features, clip_seconds,
                                                base.data, seed=0)
        source = FeatureSource(video_dim=store.video_dim, text_dim=store.text_dim, clip_seconds=clip_seconds,
                               encoder=feature_encoder_identity(video_features))
        resolved = resolve_device(device)
    except (AnnotationError, FeatureError, ConfigError, UnknownModelError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    def report(run) -> None:  # noqa: ANN001
        if not as_json:
            mr = run.metrics.get("MR-full-mAP", float("nan"))
            hd = run.metrics.get("HL-min-VeryGood-mAP", float("nan"))
            typer.echo(f"row {run.row} seed {run.seed}: MR-full-mAP {mr:.2f}  HL-min-VeryGood-mAP {hd:.2f}  "
                       f"({run.seconds:.0f} s)", err=True)

    runs = run_ablation(base=base, train_set=train_set, val_set=val_set, source=source, out_dir=out,
                        rows=chosen, seeds=range(seeds), device=str(resolved), on_run=report)
    table = summarize(runs)
    if as_json:
        typer.echo(json.dumps({
            "seeds": seeds, "epochs": base.optim.epochs,
            "table": {row: {k: {"mean": m, "std": s} for k, (m, s) in cols.items()} for row, cols in table.items()},
            "runs": [{"row": r.row, "seed": r.seed, "best_epoch": r.best_epoch, "seconds": round(r.seconds, 2),
                      "run_dir": str(r.run_dir), "metrics": r.metrics} for r in runs],
        }, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from grounding.models.sg_detr.config import ABLATION_ROWS

    out_table = Table(title=f"SG-DETR ablation ({seeds} seed{'s' if seeds > 1 else ''}, {base.optim.epochs} epochs)")
    out_table.add_column("row")
    for key in METRIC_KEYS:
        out_table.add_column(key, justify="right")
    for row, cols in table.items():
        values = (cols.get(key, (float("nan"), 0.0)) for key in METRIC_KEYS)
        cells = [f"{m:.2f} ± {s:.2f}" if seeds > 1 else f"{m:.2f}" for m, s in values]
        out_table.add_row(row, *cells)
    console = Console()
    if not console.is_terminal:  # piped into a file: keep one line per row instead of 80-column wrapping
        console.width = 160
    console.print(out_table)
    for row in table:
        console.print(f"  {row}: {ABLATION_ROWS[row]}")


def register(app: typer.Typer) -> None:
    """Add ``vsearch ablation`` to ``app``."""
    app.command("ablation", help=_HELP)(ablation)
