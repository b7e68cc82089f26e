"""CLI commands of the tui package (registered on the root app by :mod:`vsearch.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add ``vsearch tui`` to ``app``."""

    @app.command("tui")
    def tui_command(
        query: Annotated[Optional[str], typer.Argument(help="Search for this right away.")] = None,
        library: Annotated[
            Optional[Path], typer.Option("--library", help="Library directory (default: $VSEARCH_LIBRARY, else the user data dir).")
        ] = None,
        grounding: Annotated[
            Optional[str], typer.Option(help="Grounding checkpoint RUN_DIR, or 'none' (default: the library's setting).")
        ] = None,
        device: Annotated[str, typer.Option(help="Torch device for the encoder and grounding model.")] = "auto",
        player: Annotated[
            Optional[str], typer.Option(help="Player command, e.g. 'mpv' or 'vlc --fullscreen' (default: $VSEARCH_PLAYER, mpv, vlc, system opener).")
        ] = None,
        export_dir: Annotated[
            Optional[Path], typer.Option(help="Folder proposed by 'e' (default: $VSEARCH_EXPORT_DIR, else ~/Videos/vsearch clips).")
        ] = None,
        top: Annotated[int, typer.Option(min=1, max=200, help="How many moments to list.")] = 20,
    ) -> None:
        """Search and browse moments in a terminal UI (keys: / search, Enter play, e export, ? help)."""
        from indexer.paths import resolve_library_dir
        from tui.app import VsearchApp
        from tui.backend import searcher_factory, stats_reader
        from tui.settings import TuiSettings

        library_dir = resolve_library_dir(library)
        settings = TuiSettings(player=player, top=top)
        if export_dir is not None:
            settings.export_dir = export_dir.expanduser()
        app_ = VsearchApp(
            searcher_factory(library_dir, grounding=grounding, device=device),
            stats_reader(library_dir),
            settings=settings,
            query=query or "",
        )
        app_.run()
