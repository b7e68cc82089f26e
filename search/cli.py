"""``vsearch query`` and ``vsearch config``: thin layers over :class:`search.searcher.Searcher`.

Nothing heavy is imported at module level (``vsearch --help`` stays instant): the searcher, numpy,
torch and the store are imported inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from rich.text import Text

    from search.ranking import Moment
    from search.searcher import SearchResponse

SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24
SETTINGS = {
    "grounding": "grounding checkpoint RUN_DIR for `vsearch query`, or 'none' for training-free grounding",
    "encoder_path": "where the library's encoder weights live (set by `vsearch index --encoder-path`)",
}

LibraryOption = Annotated[
    Optional[str], typer.Option("--library", help="Library directory (default: $VSEARCH_LIBRARY or the user data dir).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

config_app = typer.Typer(help="Per-library settings, e.g. the default grounding checkpoint.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``query`` and ``config`` to ``app``."""
    app.command("query")(query)
    app.add_typer(config_app, name="config")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def query(
    text: Annotated[str, typer.Argument(help="What to find, in words (any language the encoder knows).")],
    library: LibraryOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Moments to return.")] = 10,
    per_video: Annotated[int, typer.Option("--per-video", min=1, help="At most this many moments per video.")] = 3,
    grounding: Annotated[
        Optional[str],
        typer.Option("--grounding", metavar="RUN_DIR|none",
                     help="Grounding checkpoint, or 'none' for training-free (default: `vsearch config get grounding`)."),
    ] = None,
    path: Annotated[Optional[str], typer.Option("--path", metavar="GLOB", help="Only videos whose path matches.")] = None,
    min_duration: Annotated[
        Optional[float], typer.Option("--min-duration", min=0, metavar="S", help="Only videos at least S seconds long.")
    ] = None,
    max_duration: Annotated[
        Optional[float], typer.Option("--max-duration", min=0, metavar="S", help="Only videos at most S seconds long.")
    ] = None,
    as_json: JsonOption = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N] for the encoder and grounding.")] = "auto",
) -> None:
    """Find the moments of your videos that match TEXT, best first."""
    from grounding.checkpoint import CheckpointError
    from indexer.encoders.registry import EncoderLoadError
    from indexer.paths import resolve_library_dir
    from indexer.store_errors import LibraryError
    from search.grounding_choice import GroundingMismatchError
    from search.searcher import EmptyLibraryError, EmptyQueryError, Searcher, normalise_query

    try:
        normalise_query(text)
    except EmptyQueryError as exc:
        raise typer.BadParameter(str(exc), param_hint="'TEXT'") from None
    choice = device.strip().lower()
    if not (choice in ("auto", "cpu", "cuda") or (choice.startswith("cuda:") and choice[5:].isdigit())):
        raise typer.BadParameter(f"unknown device {device!r}: use auto, cpu or cuda[:N]", param_hint="'--device'")
    if min_duration is not None and max_duration is not None and min_duration > max_duration:
        raise typer.BadParameter(f"{min_duration:g} is longer than --max-duration {max_duration:g}",
                                 param_hint="'--min-duration'")
    try:
        with Searcher(resolve_library_dir(library), grounding=grounding, device=device) as searcher:
            response = searcher.search(text, top=top, per_video=per_video, path_glob=path,
                                       min_duration=min_duration, max_duration=max_duration)
    except EmptyLibraryError as exc:
        _empty_library(text, str(exc), as_json)
        return
    except (GroundingMismatchError, CheckpointError, EncoderLoadError, LibraryError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    for warning in response.warnings:
        typer.echo(f"Warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(response_json(response), ensure_ascii=False))
    else:
        _print_table(response)


def response_json(response: SearchResponse) -> dict[str, Any]:
    """The ``--json`` document: query, results (sorted by score desc), warnings, grounding."""
    from dataclasses import asdict

    return {
        "query": response.query,
        "results": [asdict(m) for m in response.results],
        "warnings": list(response.warnings),
        "grounding": response.grounding,
    }


def _empty_library(text: str, message: str, as_json: bool) -> None:
    if as_json:
        # Same keys as a normal answer, so scripts need no special case; nothing was grounded.
        typer.echo(json.dumps({"query": text.strip(), "results": [], "warnings": [message], "grounding": None},
                              ensure_ascii=False))
    typer.echo(message, err=True)


def timecode(seconds: float) -> str:
    """``3725.4`` -> ``"1:02:05"`` (h:mm:ss, seconds rounded down)."""
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def sparkline(moment: Moment, width: int = SPARK_WIDTH) -> Text:
    """The moment's window saliency as block characters, the moment itself highlighted."""
    from rich.text import Text

    values = list(moment.saliency)
    if not values:
        return Text("")
    buckets = _resample(values, width)
    lo, hi = min(values), max(values)
    spread = hi - lo
    line = Text()
    seconds_per_bucket = len(values) * moment.clip_seconds / len(buckets)
    for i, value in enumerate(buckets):
        level = 0 if spread <= 1e-12 else round((value - lo) / spread * (len(SPARK_CHARS) - 1))
        t0 = moment.saliency_start + i * seconds_per_bucket
        inside = t0 + seconds_per_bucket > moment.start and t0 < moment.end
        line.append(SPARK_CHARS[level], style="bold green" if inside else "dim")
    return line


def _resample(values: Sequence[float], width: int) -> list[float]:
    """Max-pool ``values`` into at most ``width`` buckets (peaks must survive downsampling)."""
    if len(values) <= width:
        return list(values)
    edges = [round(i * len(values) / width) for i in range(width + 1)]
    return [max(values[a:b]) for a, b in zip(edges, edges[1:])]


def _display_path(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _print_table(response: SearchResponse) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not response.results:
        console.print(f"No moments found for {response.query!r}.")
        return
    title = response.query if len(response.query) <= 72 else response.query[:71] + "…"
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("file", overflow="fold", ratio=1)
    table.add_column("time", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("saliency", no_wrap=True)
    for rank, moment in enumerate(response.results, 1):
        table.add_row(str(rank), _display_path(moment.path), f"{timecode(moment.start)}–{timecode(moment.end)}",
                      f"{moment.score:.3f}", sparkline(moment, SPARK_WIDTH if console.width >= 100 else SPARK_WIDTH // 2))
    console.print(table)
    if response.grounding != "none":
        console.print(f"[dim]grounding: {response.grounding}[/dim]")


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help=f"Setting name: {', '.join(SETTINGS)}.")],
    value: Annotated[str, typer.Argument(help="New value (grounding: a checkpoint RUN_DIR or 'none').")],
    library: LibraryOption = None,
) -> None:
    """Store a setting in the library (used by every later query)."""
    _check_key(key)
    if not value.strip():
        raise typer.BadParameter(f"empty value; to go back to the default use `vsearch config unset {key}`",
                                 param_hint="'VALUE'")
    from grounding.checkpoint import CheckpointError, read_meta
    from indexer.encoders.registry import ENCODER_PATH_SETTING, normalize_encoder_path
    from indexer.library import Library
    from indexer.store_errors import LibraryError
    from search.grounding_choice import TRAINING_FREE, GroundingMismatchError, check_grounder_compatible, is_training_free

    stored = value.strip()
    try:
        with Library.open(_existing_library(library)) as lib:
            if key == ENCODER_PATH_SETTING:
                stored = normalize_encoder_path(stored)
            elif not is_training_free(stored):
                run_dir = Path(stored).expanduser().resolve()
                meta = read_meta(run_dir)
                if lib.identity is not None:
                    check_grounder_compatible(meta, lib.identity, str(run_dir))
                stored = str(run_dir)
            else:
                stored = TRAINING_FREE
            lib.set_setting(key, stored)
    except (CheckpointError, GroundingMismatchError, LibraryError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{key} = {stored}")


@config_app.command("get")
def config_get(
    key: Annotated[Optional[str], typer.Argument(help="Setting name (all settings when omitted).")] = None,
    library: LibraryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a setting of the library (unset settings show their default)."""
    keys = [key] if key is not None else list(SETTINGS)
    for k in keys:
        _check_key(k)
    from indexer.library import Library
    from indexer.paths import resolve_library_dir
    from indexer.store_errors import LibraryError

    library_dir = resolve_library_dir(library)
    values: dict[str, str | None] = {k: None for k in keys}
    if library_dir.exists():
        try:
            with Library.open(library_dir, readonly=True) as lib:
                values = {k: lib.get_setting(k) for k in keys}
        except LibraryError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(values))
        return
    for k, v in values.items():
        typer.echo(f"{k} = {v}" if v is not None else f"{k} is unset ({_default_of(k)})")


@config_app.command("unset")
def config_unset(
    key: Annotated[str, typer.Argument(help=f"Setting name: {', '.join(SETTINGS)}.")],
    library: LibraryOption = None,
) -> None:
    """Remove a setting from the library (back to its default)."""
    _check_key(key)
    from indexer.library import Library
    from indexer.store_errors import LibraryError

    try:
        with Library.open(_existing_library(library)) as lib:
            lib.set_setting(key, None)
    except LibraryError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{key} unset ({_default_of(key)})")


def _existing_library(library: str | None) -> Path:
    """The library directory, refusing one that does not exist (a typo must not create a library)."""
    from indexer.catalog_db import DATABASE_FILE
    from indexer.paths import resolve_library_dir

    directory = resolve_library_dir(library)
    if not (directory / DATABASE_FILE).exists():
        raise _fail(f"no library at {directory}: index videos into it first (vsearch index PATH --library {directory})")
    return directory


def _check_key(key: str) -> None:
    if key not in SETTINGS:
        known = ", ".join(f"{k} ({doc})" for k, doc in SETTINGS.items())
        raise typer.BadParameter(f"unknown setting {key!r}; known: {known}", param_hint="'KEY'")


def _default_of(key: str) -> str:
    return {"grounding": "training-free grounding", "encoder_path": "the encoder's default weights"}[key]
