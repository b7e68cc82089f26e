"""Model-agnostic training loop for the grounding models (QD-DETR, SG-DETR).

Per epoch: shuffle (seeded by ``optim.seed + epoch``), forward, criterion, backward, gradient clipping,
AdamW step with the schedule of :mod:`grounding.optim`; then predict the val set, score it with
:func:`grounding.eval.evaluate` and keep the best epoch by ``"MR-full-mAP"``. Every epoch also writes
``RUN_DIR/last/`` (weights, optimizer, RNG) so ``--resume`` continues exactly where it stopped, and
appends one line to ``RUN_DIR/history.jsonl``.

On CPU a run is deterministic for a seed: same seed, same data -> bitwise the same weights, also across
a resume.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from grounding.checkpoint import (
    LAST_DIR,
    CheckpointError,
    CheckpointMeta,
    config_of,
    load_checkpoint,
    load_training_state,
    read_meta,
    save_checkpoint,
    save_training_state,
)
from grounding.config_tree import to_dict
from grounding.data.dataset import collate
from grounding.eval import evaluate
from grounding.models import build
from grounding.optim import build_optimizer, set_learning_rate
from grounding.predictor import predict_dataset

BEST_METRIC = "MR-full-mAP"
HISTORY_FILE = "history.jsonl"


@dataclass(frozen=True)
class FeatureSource:
    """What the features are: raw dims (before temporal endpoints), clip length (s), encoder identity."""

    video_dim: int
    text_dim: int
    clip_seconds: float
    encoder: dict[str, Any] | None = None


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`. ``history``: one dict per epoch (loss terms, lr, val metrics)."""

    run_dir: Path
    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)


def _brief(metrics: dict[str, Any]) -> dict[str, float]:
    """The flat ``brief`` block of an evaluation result (or the dict itself when it is already flat)."""
    return dict(metrics.get("brief", metrics))


def evaluate_rows(rows: list[dict], annotations: list[Any]) -> dict[str, float]:
    """Official-identical metrics (``brief`` block) of submission ``rows`` against ``annotations``."""
    return _brief(evaluate(rows, annotations))


class Trainer:
    """Trains one model on a train/val pair of :class:`grounding.data.dataset.GroundingDataset`.

    Args:
        model_name: key of :data:`grounding.models.MODELS`.
        config: the model's config tree (``model.video_dim`` / ``text_dim`` are set from ``source``).
        train_set, val_set: datasets built with ``config.data`` (val with ``train=False``).
        run_dir: where checkpoints go (created).
        source: the features' dims, clip length and encoder identity (stored in the checkpoint).
        device: torch device.
        progress: show a rich progress bar and per-epoch lines on stderr.
        init_from: a run directory whose weights initialise the model (same model and dims).
    """

    def __init__(self, *, model_name: str, config: Any, train_set: Any, val_set: Any, run_dir: Path,
                 source: FeatureSource, device: torch.device | str = "cpu", progress: bool = True,
                 init_from: Path | None = None) -> None:
        self.model_name = model_name
        self.config = dataclasses.replace(
            config, model=dataclasses.replace(config.model, video_dim=source.video_dim, text_dim=source.text_dim)
        )
        self.train_set, self.val_set = train_set, val_set
        self.run_dir = Path(run_dir)
        self.source = source
        self.device = torch.device(device)
        self.progress = progress
        torch.manual_seed(self.config.optim.seed)
        model, criterion = build(model_name, self.config)
        if init_from is not None:
            self._init_weights(model, Path(init_from))
        self.model = model.to(self.device)
        self.criterion = criterion.to(self.device)
        self.optimizer = build_optimizer(self.model, self.config.optim)
        self.start_epoch = 0
        self.best_metric = -math.inf
        self.best_epoch = -1
        self.best_metrics: dict[str, float] = {}

    def _init_weights(self, model: torch.nn.Module, init_from: Path) -> None:
        meta = read_meta(init_from)
        if meta.model != self.model_name:
            raise CheckpointError(f"--init {init_from} holds a {meta.model} model, not {self.model_name}")
        meta.check_features(video_dim=self.source.video_dim, text_dim=self.source.text_dim,
                            encoder=self.source.encoder, source="the training features")
        loaded, _ = load_checkpoint(init_from)
        model.load_state_dict(loaded.state_dict())

    @classmethod
    def resume(cls, run_dir: Path, *, train_set: Any, val_set: Any, device: torch.device | str = "cpu",
               epochs: int | None = None, progress: bool = True) -> Trainer:
        """Continue the run in ``run_dir`` from its last finished epoch (``epochs`` may extend it)."""
        last = Path(run_dir) / LAST_DIR
        meta = read_meta(last)
        config = config_of(meta)
        if epochs is not None:
            config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, epochs=epochs))
        source = FeatureSource(meta.video_dim, meta.text_dim, meta.clip_seconds, meta.encoder)
        trainer = cls(model_name=meta.model, config=config, train_set=train_set, val_set=val_set, run_dir=run_dir,
                      source=source, device=device, progress=progress)
        model, _ = load_checkpoint(last, device=trainer.device)
        trainer.model.load_state_dict(model.state_dict())
        state = load_training_state(last, trainer.optimizer)
        trainer.start_epoch = int(state["epoch"]) + 1
        trainer.best_metric = float(state["best_metric"])
        trainer.best_epoch = int(state["best_epoch"])
        trainer.best_metrics = dict(state["best_metrics"])
        return trainer

    def _meta(self, epoch: int, metrics: dict[str, float]) -> CheckpointMeta:
        return CheckpointMeta(
            model=self.model_name, config=to_dict(self.config), video_dim=self.source.video_dim,
            text_dim=self.source.text_dim, clip_seconds=self.source.clip_seconds, encoder=self.source.encoder,
            epoch=epoch, metrics=metrics,
        )

    def train_epoch(self, epoch: int, on_step: Any = None) -> dict[str, float]:
        """One pass over the train set; returns the mean of every loss term and the final lr."""
        optim = self.config.optim
        self.train_set.set_epoch(epoch)
        loader = DataLoader(self.train_set, batch_size=optim.batch_size, shuffle=True, collate_fn=collate,
                            generator=torch.Generator().manual_seed(optim.seed + epoch))
        self.model.train()
        sums: dict[str, float] = {}
        steps = len(loader)
        lr = optim.lr
        for step, batch in enumerate(loader):
            lr = set_learning_rate(self.optimizer, epoch + step / steps, optim, steps_per_epoch=steps)
            batch = batch.to(self.device)
            outputs = self.model(batch.video_feats, batch.video_mask, batch.text_feats, batch.text_mask, batch.targets)
            losses = self.criterion(outputs, batch)
            loss = torch.stack(list(losses.values())).sum()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch} step {step}; lower --lr")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), optim.grad_clip)
            self.optimizer.step()
            sums["loss"] = sums.get("loss", 0.0) + loss.item()
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.item()
            if on_step is not None:
                on_step(loss.item())
        means = {name: total / max(steps, 1) for name, total in sums.items()}
        means["lr"] = lr
        return means

    def validate(self) -> dict[str, float]:
        """Predict the val set and score it (``brief`` metrics, official key names)."""
        rows = predict_dataset(self.model, self.val_set, batch_size=self.config.optim.batch_size, device=self.device)
        return evaluate_rows(rows, self.val_set.annotations)

    def fit(self) -> TrainResult:
        """Train from ``start_epoch`` to ``optim.epochs``; returns the best epoch and the history."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.run_dir.mkdir(parents=True, exist_ok=True)
        console = Console(stderr=True, quiet=not self.progress)
        epochs = self.config.optim.epochs
        history = self._read_history()
        steps_per_epoch = math.ceil(len(self.train_set) / self.config.optim.batch_size)
        with Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(),
                      console=console, disable=not self.progress, transient=True) as bar:
            for epoch in range(self.start_epoch, epochs):
                task = bar.add_task("train", total=steps_per_epoch, epoch=f"{epoch + 1}/{epochs}", loss=float("nan"))
                started = time.perf_counter()
                train_stats = self.train_epoch(epoch, on_step=lambda loss, t=task: bar.update(t, advance=1, loss=loss))
                bar.remove_task(task)
                metrics = self.validate()
                record = {"epoch": epoch, "seconds": round(time.perf_counter() - started, 3), **train_stats, **metrics}
                history.append(record)
                improved = metrics.get(BEST_METRIC, -math.inf) > self.best_metric or self.best_epoch < 0
                if improved:
                    self.best_metric = metrics.get(BEST_METRIC, -math.inf)
                    self.best_epoch, self.best_metrics = epoch, metrics
                    save_checkpoint(self.run_dir, self.model, self._meta(epoch, metrics))
                self._save_last(epoch, metrics)
                with (self.run_dir / HISTORY_FILE).open("a") as f:
                    f.write(json.dumps(record) + "\n")
                console.print(
                    f"epoch {epoch + 1}/{epochs}  loss {train_stats['loss']:.4f}  "
                    + "  ".join(f"{k} {metrics[k]:.2f}" for k in ("MR-full-R1@0.5", "MR-full-mAP", "HL-min-VeryGood-mAP") if k in metrics)
                    + ("  [best]" if improved else ""),
                    soft_wrap=True,
                )
        return TrainResult(run_dir=self.run_dir, best_epoch=self.best_epoch, best_metrics=self.best_metrics, history=history)

    def _save_last(self, epoch: int, metrics: dict[str, float]) -> None:
        last = self.run_dir / LAST_DIR
        save_checkpoint(last, self.model, self._meta(epoch, metrics))
        save_training_state(last, self.optimizer, {
            "epoch": epoch, "best_metric": self.best_metric if math.isfinite(self.best_metric) else -1e9,
            "best_epoch": self.best_epoch, "best_metrics": self.best_metrics,
        })

    def _read_history(self) -> list[dict[str, Any]]:
        path = self.run_dir / HISTORY_FILE
        if self.start_epoch == 0 or not path.is_file():
            if path.is_file():
                path.unlink()
            return []
        return [r for r in (json.loads(line) for line in path.read_text().splitlines() if line) if r["epoch"] < self.start_epoch]
