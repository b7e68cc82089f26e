"""CLI commands of the indexer package (registered on the root app by :mod:`vsearch.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to ``app``."""
