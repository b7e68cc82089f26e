"""``vsearch predict``: run a trained checkpoint over annotations and write the official submission file.

Rows follow the QVHighlights submission format: ``pred_relevant_windows`` sorted by score (first =
top-1) and one ``pred_saliency_scores`` entry per clip. When every query of the file is labelled the
predictions are also scored. Exit codes: 0 written, 2 unusable input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``predict`` to ``app``."""

    @app.command("predict")
    def predict_command(
        checkpoint: Path = typer.Option(..., "--checkpoint", help="Run directory written by vsearch train."),
        annotations: Path = typer.Option(..., "--annotations", help="Queries to ground (QVHighlights JSONL format)."),
        video_features: list[Path] = typer.Option(..., "--video-features", help="Directory of {vid}.npz (repeat to concatenate)."),
        text_features: Path = typer.Option(..., "--text-features", help="Directory of qid{qid}.npz."),
        out: Path = typer.Option(..., "--out", help="Prediction JSONL to write."),
        batch_size: int = typer.Option(64, "--batch-size", min=1, help="Queries per forward pass."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON summary (with metrics when labelled)."),
    ) -> None:
        """Predict moments and per-clip saliency for every query of --annotations."""
        from grounding.checkpoint import CheckpointError, config_of, load_checkpoint
        from grounding.commands.train import feature_encoder_identity
        from grounding.data.annotations import AnnotationError, load_annotations, write_jsonl
        from grounding.data.dataset import GroundingDataset
        from grounding.data.features import FeatureConfig, FeatureError, FeatureStore
        from grounding.eval import PredictionError
        from grounding.predictor import predict_dataset
        from grounding.trainer import evaluate_rows
        from indexer.encoders.device import resolve_device
        from indexer.encoders.registry import EncoderLoadError

        if out.is_dir():  # fail before the model runs, not after
            _fail(f"--out {out} is a directory: give the prediction file's path, e.g. {out / 'preds.jsonl'}")
        try:
            torch_device = resolve_device(device)
            model, meta = load_checkpoint(checkpoint, device=torch_device)
            queries = load_annotations(annotations, clip_seconds=meta.clip_seconds)
            if not queries:
                _fail(f"{annotations}: no annotations")
            store = FeatureStore(FeatureConfig(video_dirs=tuple(video_features), text_dir=text_features))
            store.prepare([a.vid for a in queries], [a.qid for a in queries])
            meta.check_features(video_dim=store.video_dim, text_dim=store.text_dim,
                                encoder=feature_encoder_identity(video_features), source="these features")
            data = config_of(meta).data
            rows = predict_dataset(model, GroundingDataset(queries, store, data), batch_size=batch_size, device=torch_device)
            try:
                write_jsonl(out, rows)
            except OSError as exc:
                _fail(f"cannot write {out}: {exc.strerror or exc}")
            metrics = evaluate_rows(rows, queries) if all(a.labelled for a in queries) else None
        except (AnnotationError, FeatureError, CheckpointError, PredictionError, EncoderLoadError, ValueError) as exc:
            _fail(str(exc))
        summary = {"predictions": str(out), "queries": len(rows), "metrics": metrics}
        if json_out:
            typer.echo(json.dumps(summary, indent=2))
            return
        typer.echo(f"wrote {len(rows)} predictions to {out}")
        if metrics:
            typer.echo("  ".join(f"{k} {metrics[k]:.2f}" for k in ("MR-full-R1@0.5", "MR-full-mAP", "HL-min-VeryGood-mAP") if k in metrics))
