"""``vsearch train``: train a grounding model (QD-DETR, SG-DETR) on pre-extracted features.

A thin layer over :class:`grounding.trainer.Trainer`; torch and the data code are imported inside the
command. Exit codes: 0 trained, 2 unusable input (one line naming the file, key or dimension).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

DEFAULT_MODEL = "sg_detr"  # the paper vsearch is built around; QD-DETR stays available as its baseline

def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def feature_encoder_identity(video_dirs: list[Path]) -> dict[str, Any] | None:
    """The encoder identity the features came from, as ``vsearch extract-features`` records it in
    ``DIR/features_meta.json``; None for public features without it or when several video directories
    are concatenated (no single encoder)."""
    from grounding.extract_features import META_FILENAME

    if len(video_dirs) != 1:
        return None
    path = Path(video_dirs[0]) / META_FILENAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        _fail(f"{path}: not valid JSON")
    encoder = data.get("encoder") if isinstance(data, dict) else None
    return encoder if isinstance(encoder, dict) else None


def load_splits(train: Path, val: Path, video_features: list[Path], text_features: Path, clip_seconds: float,
                data_config: Any, seed: int) -> tuple[Any, Any, Any]:
    """Annotations + features -> ``(train_set, val_set, store)``; features preloaded when they fit in RAM."""
    from grounding.data.annotations import load_annotations
    from grounding.data.dataset import GroundingDataset
    from grounding.data.features import FeatureConfig, FeatureStore

    train_ann = load_annotations(train, clip_seconds=clip_seconds)
    val_ann = load_annotations(val, clip_seconds=clip_seconds)
    if not train_ann:
        _fail(f"{train}: no annotations")
    if not val_ann:
        _fail(f"{val}: no annotations")
    unlabelled = sum(not a.labelled for a in val_ann)
    if unlabelled:
        _fail(f"{val}: {unlabelled} queries have no relevant_windows; validation needs labelled queries")
    store = FeatureStore(FeatureConfig(video_dirs=tuple(video_features), text_dir=text_features))
    everything = train_ann + val_ann
    store.prepare([a.vid for a in everything], [a.qid for a in everything])
    train_set = GroundingDataset(train_ann, store, data_config, train=True, seed=seed)
    val_set = GroundingDataset(val_ann, store, data_config, train=False, seed=seed)
    return train_set, val_set, store


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""

    @app.command("train")
    def train_command(
        model: Optional[str] = typer.Option(None, "--model", help="sg_detr (default) or qd_detr (taken from the run when resuming)."),
        train: Path = typer.Option(..., "--train", help="Training annotations (QVHighlights JSONL format)."),
        val: Path = typer.Option(..., "--val", help="Validation annotations; the best epoch by MR-full-mAP is kept."),
        video_features: list[Path] = typer.Option(..., "--video-features", help="Directory of {vid}.npz (repeat to concatenate)."),
        text_features: Path = typer.Option(..., "--text-features", help="Directory of qid{qid}.npz."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run directory for checkpoints and history."),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Override optim.epochs."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Override optim.batch_size."),
        lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Override optim.lr."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Override optim.seed."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
        config_file: Optional[Path] = typer.Option(None, "--config", help="JSON overriding parts of the config tree."),
        preset_name: str = typer.Option("default", "--preset", help="Named config of the model (default, tiny...)."),
        resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory."),
        init: Optional[Path] = typer.Option(None, "--init", help="Initialise weights from this run directory."),
        clip_seconds: float = typer.Option(2.0, "--clip-seconds", min=0.001, help="Clip length of the features (2 QVHighlights/TACoS, 1 Charades)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar or per-epoch lines."),
    ) -> None:
        """Train a moment retrieval + highlight detection model; checkpoints go to --out."""
        import dataclasses

        from grounding.checkpoint import CONFIG_FILE, LAST_DIR, CheckpointError, config_of, read_meta
        from grounding.config_tree import ConfigError, load_json, override
        from grounding.data.annotations import AnnotationError
        from grounding.data.features import FeatureError
        from grounding.eval import PredictionError
        from grounding.models import UnknownModelError, preset
        from grounding.trainer import FeatureSource, Trainer
        from indexer.encoders.device import resolve_device
        from indexer.encoders.registry import EncoderLoadError

        try:
            torch_device = resolve_device(device)
            if resume is not None:
                if out is not None and out.resolve() != resume.resolve():
                    _fail("--resume continues in its own run directory; drop --out or point it at the same directory")
                meta = read_meta(resume / LAST_DIR)
                if model is not None and model != meta.model:
                    _fail(f"--model {model} but the run in {resume} trains {meta.model}")
                config = config_of(meta)
                run_dir, model_name, clip_seconds = resume, meta.model, meta.clip_seconds
            else:
                model = model or DEFAULT_MODEL
                if out is None:
                    _fail("--out is required: the run directory for checkpoints")
                if out.exists() and not out.is_dir():
                    _fail(f"--out {out} is a file, not a run directory")
                if (out / CONFIG_FILE).exists() or (out / LAST_DIR).exists():
                    # A fresh run would overwrite the trained weights there, perhaps a library's grounding.
                    _fail(f"{out} already holds a training run: continue it with --resume {out}, or choose another --out")
                config = preset(model, preset_name)
                if config_file is not None:
                    config = override(config, load_json(config_file), where=str(config_file))
                run_dir, model_name = out, model
            optim_overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("seed", seed)) if v is not None}
            config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, **optim_overrides))
            train_set, val_set, store = load_splits(train, val, video_features, text_features, clip_seconds,
                                                    config.data, config.optim.seed)
            encoder = feature_encoder_identity(video_features)
            if resume is not None:
                meta.check_features(video_dim=store.video_dim, text_dim=store.text_dim, encoder=encoder,
                                    source="the training features")
                trainer = Trainer.resume(resume, train_set=train_set, val_set=val_set, device=torch_device,
                                         epochs=config.optim.epochs, progress=not quiet)
            else:
                source = FeatureSource(store.video_dim, store.text_dim, clip_seconds, encoder)
                trainer = Trainer(model_name=model_name, config=config, train_set=train_set, val_set=val_set,
                                  run_dir=run_dir, source=source, device=torch_device, progress=not quiet, init_from=init)
            result = trainer.fit()
        except (AnnotationError, FeatureError, ConfigError, CheckpointError, UnknownModelError, PredictionError,
                EncoderLoadError, FloatingPointError, ValueError) as exc:
            _fail(str(exc))
        summary = {"run_dir": str(result.run_dir), "best_epoch": result.best_epoch, "metrics": result.best_metrics}
        if json_out:
            typer.echo(json.dumps(summary, indent=2))
        else:
            typer.echo(f"best epoch {result.best_epoch + 1}: MR-full-mAP {result.best_metrics.get('MR-full-mAP', float('nan')):.2f}"
                       f" -> {result.run_dir}")
