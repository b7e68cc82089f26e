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



def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"vsearch {version('vsearch')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("vsearch (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Local video search: index a library of videos, then find moments by describing them."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
