"""CLI commands of the indexer package: ``index``, ``status``, ``reindex-vectors``.

A thin layer over :func:`indexer.indexing.run_index` and :class:`indexer.library.Library`. Nothing
heavy is imported at module level so ``vsearch --help`` stays instant. Exit codes: 0 when a run
completed (per-video failures are reported, not fatal), 1 when the library cannot be opened or is
busy / bound to another encoder, 2 for usage errors, 130 when interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

DEVICES = ("auto", "cpu", "cuda")


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _check_device(device: str) -> str:
    if device in DEVICES or (device.startswith("cuda:") and device[5:].isdigit()):
        return device
    _fail(f"--device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}", 2)


def _print_summary(summary: Any) -> None:
    typer.echo(
        f"indexed {summary.indexed}, skipped {summary.skipped}, failed {summary.failed}, "
        f"relinked {summary.relinked}, removed {summary.removed}; {summary.clips_added} clips added "
        f"in {summary.seconds:.1f} s ({summary.clips_per_second:.1f} clips/s)"
        + (" [interrupted]" if summary.interrupted else ""))
    if summary.failures:
        typer.echo("failures:")
        for path, error in summary.failures:
            typer.echo(f"  {path}: {error}")
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)


def status_dict(stats: Any, identity: Any) -> dict[str, Any]:
    """The ``vsearch status --json`` object (shape fixed by the foundation issue; extra keys allowed)."""
    encoder = None
    if identity is not None:
        encoder = {"name": identity.name, "dim": identity.dim, "clip_seconds": identity.clip_seconds,
                   "spec": identity.spec, "model_id": identity.model_id}
    return {
        "library": stats.library,
        "encoder": encoder,
        "videos": {"indexed": stats.videos_indexed, "failed": stats.videos_failed},
        "clips": stats.clips,
        "vectors": stats.vectors,
        "failures": [{"path": p, "error": e} for p, e in stats.failures],
        "index_type": stats.index_type,
        "run_in_progress": stats.run_in_progress,
    }


def register(app: typer.Typer) -> None:
    """Add this package's commands to ``app``."""

    @app.command("index")
    def index_command(
        paths: list[Path] = typer.Argument(..., help="Folders (searched recursively) or video files."),
        library: Optional[Path] = typer.Option(None, "--library", help="Library directory (default: $VSEARCH_LIBRARY or the user data dir)."),
        encoder: Optional[str] = typer.Option(None, "--encoder", help="Built-in encoder (clip, tiny, internvideo2) or package.module:attr. Default: the library's own, else clip."),
        encoder_path: Optional[str] = typer.Option(None, "--encoder-path", help="Local weights directory for the encoder."),
        clip_seconds: Optional[float] = typer.Option(None, "--clip-seconds", help="Clip length in seconds (default: the library's, else 2)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips per encoder call."),
        decode_workers: Optional[int] = typer.Option(None, "--decode-workers", min=1, help="Videos decoded in parallel (default: half the CPU cores, 1-4)."),
        decoder: str = typer.Option("auto", "--decoder", help="auto (decord where it is frame-exact, else PyAV) | pyav | decord"),
        json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    ) -> None:
        """Index videos: cut them into clips, embed each clip, store vectors and catalog (incremental)."""
        from indexer.discovery import DiscoveryError
        from indexer.encoders.registry import EncoderLoadError
        from indexer.indexing import IndexOptions, run_index
        from indexer.progress import IndexProgress, make_progress
        from indexer.store_errors import LibraryError

        if decoder not in ("auto", "pyav", "decord"):
            _fail(f"--decoder must be auto, pyav or decord, got {decoder!r}", 2)
        options = IndexOptions(encoder=encoder, encoder_path=encoder_path, clip_seconds=clip_seconds,
                               device=_check_device(device), batch_size=batch_size, decode_workers=decode_workers,
                               backend=decoder)  # type: ignore[arg-type]
        progress = IndexProgress() if json_out else make_progress()
        try:
            summary = run_index([str(p) for p in paths], library_dir=library, options=options, progress=progress)
        except (DiscoveryError, EncoderLoadError, ValueError) as exc:
            _fail(str(exc), 2)
        except LibraryError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            _fail("aborted; videos not yet stored will be indexed by the next run", 130)
        if json_out:
            typer.echo(json.dumps(summary.to_dict(), indent=2))
        else:
            _print_summary(summary)
        if summary.interrupted:
            raise typer.Exit(130)

    @app.command("status")
    def status_command(
        library: Optional[Path] = typer.Option(None, "--library", help="Library directory."),
        json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
    ) -> None:
        """Show what the library holds: encoder, videos, clips, vectors, failures."""
        from indexer.library import Library, LibraryError

        try:
            with Library.open(library, readonly=True) as lib:
                info = status_dict(lib.stats(), lib.identity)
        except LibraryError as exc:
            _fail(str(exc), 1)
        if json_out:
            typer.echo(json.dumps(info, indent=2))
            return
        enc = info["encoder"]
        typer.echo(f"library   {info['library']}")
        typer.echo("encoder   " + (f"{enc['spec']} ({enc['model_id']}, dim {enc['dim']}, {enc['clip_seconds']:g} s clips)"
                                  if enc else "none yet (nothing indexed)"))
        typer.echo(f"videos    {info['videos']['indexed']} indexed, {info['videos']['failed']} failed")
        typer.echo(f"clips     {info['clips']} (vectors {info['vectors']}, index {info['index_type'] or '-'})")
        if info["run_in_progress"]:
            typer.echo("an index run is in progress")
        if info["failures"]:
            typer.echo("failures:")
            for f in info["failures"]:
                typer.echo(f"  {f['path']}: {f['error']}")

    @app.command("reindex-vectors")
    def reindex_vectors_command(
        library: Optional[Path] = typer.Option(None, "--library", help="Library directory."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Rebuild the FAISS index from the catalog (DuckDB is the source of truth)."""
        from indexer.catalog_db import DATABASE_FILE
        from indexer.library import Library, LibraryError
        from indexer.paths import resolve_library_dir

        directory = resolve_library_dir(library)
        try:
            if not (directory / DATABASE_FILE).exists():
                raise LibraryError(f"no library at {directory} (index some videos first: vsearch index PATH)")
            with Library.open(directory) as lib:
                lib.rebuild_vectors()
                stats = lib.stats()
        except LibraryError as exc:
            _fail(str(exc), 1)
        if json_out:
            typer.echo(json.dumps({"library": stats.library, "clips": stats.clips, "vectors": stats.vectors,
                                   "index_type": stats.index_type}))
        else:
            typer.echo(f"rebuilt {stats.vectors} vectors from {stats.clips} clips ({stats.index_type or 'no index'})")
