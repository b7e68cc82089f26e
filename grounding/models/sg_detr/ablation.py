"""The Table 2 ablation study of SG-DETR: train rows (a)-(e) over several seeds and summarise.

Each row is the base config with the switches of :data:`ABLATION_ROWS` (see :func:`ablation_config`);
every (row, seed) pair is one ordinary training run (:class:`grounding.trainer.Trainer`) in its own
run directory, scored on the val set with the official metric keys at its best epoch (by
``MR-full-mAP``, as the trainer keeps checkpoints).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding.models.sg_detr.config import ABLATION_ROWS, SGDETRConfig, ablation_config

#: Columns of the table: the official QVHighlights keys (``grounding.eval``).
METRIC_KEYS: tuple[str, ...] = (
    "MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mAP", "HL-min-VeryGood-mAP", "HL-min-VeryGood-Hit1",
)


@dataclass(frozen=True)
class AblationRun:
    """One trained (row, seed): val metrics of its best epoch, wall time in seconds."""

    row: str
    seed: int
    best_epoch: int
    metrics: dict[str, float]
    seconds: float
    run_dir: Path


def parse_rows(rows: str) -> tuple[str, ...]:
    """``"abcde"`` / ``"a,c,e"`` -> ordered unique rows; ValueError naming an unknown letter."""
    letters = [r for r in rows.replace(",", "").strip()]
    unknown = [r for r in letters if r not in ABLATION_ROWS]
    if unknown or not letters:
        raise ValueError(f"unknown ablation row {''.join(unknown) or rows!r}; choose from {''.join(ABLATION_ROWS)}")
    return tuple(dict.fromkeys(letters))


def run_ablation(
    *,
    base: SGDETRConfig,
    train_set: Any,
    val_set: Any,
    source: Any,
    out_dir: Path,
    rows: Sequence[str] = tuple(ABLATION_ROWS),
    seeds: Sequence[int] = (0,),
    device: str = "cpu",
    progress: bool = False,
    on_run: Callable[[AblationRun], None] | None = None,
) -> list[AblationRun]:
    """Train every (row, seed) on ``train_set`` and score it on ``val_set``.

    ``source`` is the :class:`grounding.trainer.FeatureSource` of the features; runs go to
    ``out_dir/row_<r>/seed_<s>``. ``on_run`` is called after each run (progress reporting).
    """
    from grounding.trainer import Trainer

    runs: list[AblationRun] = []
    for row in rows:
        for seed in seeds:
            config = ablation_config(row, base)
            config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, seed=seed))
            run_dir = Path(out_dir) / f"row_{row}" / f"seed_{seed}"
            started = time.perf_counter()
            trainer = Trainer(model_name="sg_detr", config=config, train_set=train_set, val_set=val_set,
                              run_dir=run_dir, source=source, device=device, progress=progress)
            result = trainer.fit()
            run = AblationRun(row=row, seed=seed, best_epoch=result.best_epoch, metrics=dict(result.best_metrics),
                              seconds=time.perf_counter() - started, run_dir=run_dir)
            runs.append(run)
            if on_run is not None:
                on_run(run)
    return runs


def summarize(
    runs: Sequence[AblationRun], keys: Sequence[str] = METRIC_KEYS
) -> dict[str, dict[str, tuple[float, float]]]:
    """row -> metric key -> (mean, sample std over seeds; 0 for one seed), rows in run order."""
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for row in dict.fromkeys(r.row for r in runs):
        of_row = [r for r in runs if r.row == row]
        table[row] = {}
        for key in keys:
            values = [r.metrics[key] for r in of_row if key in r.metrics]
            if not values:
                continue
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            table[row][key] = (mean, std)
    return table
