"""CLI commands of the tui package (registered on the root app by :mod:`vsearch.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

LIBRARY_HELP = "Library directory (default: $VSEARCH_LIBRARY, else the user data dir)."
GROUNDING_HELP = "Grounding checkpoint RUN_DIR, or 'none' for training-free (default: the library's setting)."
PLAYER_HELP = "Player command, e.g. 'mpv --fs' or 'vlc' (default: $VSEARCH_PLAYER, else mpv, vlc, the system opener)."
EXPORT_HELP = "Folder that 'e' proposes for clips (default: $VSEARCH_EXPORT_DIR, else ~/Videos/vsearch clips)."


def register(app: typer.Typer) -> None:
    """Add ``vsearch tui`` to ``app``."""

    @app.command("tui")
    def tui_command(
        query: Annotated[str | None, typer.Argument(metavar="QUERY", help="Search for this right away.")] = None,
        library: Annotated[Path | None, typer.Option("--library", help=LIBRARY_HELP)] = None,
        grounding: Annotated[str | None, typer.Option(help=GROUNDING_HELP)] = None,
        device: Annotated[str, typer.Option(help="Torch device: auto, cpu, cuda[:N].")] = "auto",
        player: Annotated[str | None, typer.Option(help=PLAYER_HELP)] = None,
        export_dir: Annotated[Path | None, typer.Option(help=EXPORT_HELP)] = None,
        top: Annotated[int, typer.Option(min=1, max=200, help="How many moments to list.")] = 20,
    ) -> None:
        """Search and browse moments in a terminal UI (/ search, Enter play, e export, y copy, ? help)."""
        from indexer.paths import resolve_library_dir
        from tui.app import VsearchApp
        from tui.backend import searcher_factory, stats_reader
        from tui.settings import TuiSettings

        library_dir = resolve_library_dir(library)
        settings = TuiSettings(player=player, top=top)
        if export_dir is not None:
            settings.export_dir = export_dir.expanduser()
        VsearchApp(
            searcher_factory(library_dir, grounding=grounding, device=device),
            stats_reader(library_dir),
            settings=settings,
            query=query or "",
        ).run()
