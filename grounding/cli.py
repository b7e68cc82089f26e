"""CLI commands of the grounding package: one module per command under ``grounding/commands``."""

from __future__ import annotations

import importlib

import typer

COMMANDS = ("eval", "train", "predict", "ablation", "extract_features", "pseudo_label")


def register(app: typer.Typer) -> None:
    """Add every grounding command to ``app``."""
    for name in COMMANDS:
        importlib.import_module(f"grounding.commands.{name}").register(app)
