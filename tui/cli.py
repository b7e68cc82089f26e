"""CLI commands of the tui package (registered on the root app by :mod:`vsearch.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to ``app``."""
