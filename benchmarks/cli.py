"""``vsearch bench``: one sub-command per benchmark module (query, index, grounding, train)."""

from __future__ import annotations

import importlib

import typer

BENCHMARKS = ("query", "index", "grounding", "train")

bench_app = typer.Typer(
    help="Benchmarks: each figure is a ratio to a baseline measured in the same run.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``vsearch bench ...`` to ``app``."""
    for name in BENCHMARKS:
        importlib.import_module(f"benchmarks.{name}").register(bench_app)
    app.add_typer(bench_app, name="bench")
