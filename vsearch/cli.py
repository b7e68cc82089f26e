"""The ``vsearch`` command: one Typer app assembled from each package's ``cli`` module.

Each package owns its commands (``indexer.cli``, ``search.cli``, ``grounding.cli``, ``tui.cli``,
``benchmarks.cli``) and exposes ``register(app)``. Those modules import nothing heavy at module
level (no torch, no faiss) so ``vsearch --help`` stays instant.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = ("indexer.cli", "search.cli", "grounding.cli", "tui.cli", "benchmarks.cli")

app = typer.Typer(
    name="vsearch",
    help="Local video search: index a library of videos, then find moments by describing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
