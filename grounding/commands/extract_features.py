"""``vsearch extract-features``: dataset clip and query features with a vsearch encoder.

A thin layer over :func:`grounding.extract_features.extract_features`. Exit codes: 0 the run
completed (missing or undecodable videos are listed, not fatal), 1 the encoder could not be loaded,
2 unusable input or output folders, 130 interrupted (files written so far are complete; rerun to resume).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _library_encoder(library: Optional[Path]) -> Optional[str]:
    """The encoder spec the library is bound to, or None when there is no indexed library."""
    from indexer.library import Library, LibraryError

    try:
        with Library.open(library, readonly=True) as lib:
            return lib.identity.spec if lib.identity else None
    except (LibraryError, OSError):
        return None


def _rich_progress(console: Any) -> tuple[Any, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from grounding.extract_features import ExtractionProgress

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
    tasks: dict[str, Any] = {}
    clips = [0]

    def start(videos: int, texts: int) -> None:
        tasks["text"] = bar.add_task("queries", total=texts, info="")
        tasks["video"] = bar.add_task("videos ", total=videos, info="")

    def video(vid: str, n_clips: int) -> None:
        clips[0] += n_clips
        bar.update(tasks["video"], advance=1, info=f"{clips[0]} clips")

    def texts(n: int) -> None:
        bar.update(tasks["text"], advance=n)

    return bar, ExtractionProgress(start=start, video=video, texts=texts)


def register(app: typer.Typer) -> None:
    """Add ``extract-features`` to ``app``."""

    @app.command("extract-features")
    def extract_features_command(
        annotations: Path = typer.Option(..., "--annotations", help="Annotation JSONL with qid, query, vid per row (QVHighlights format)."),
        videos: Path = typer.Option(..., "--videos", help="Folder holding the videos as {vid}.<ext> (searched recursively)."),
        out_video: Path = typer.Option(..., "--out-video", help="Output folder for {vid}.npz['features']."),
        out_text: Path = typer.Option(..., "--out-text", help="Output folder for qid{qid}.npz['last_hidden_state']."),
        encoder: Optional[str] = typer.Option(None, "--encoder", help="clip, tiny, internvideo2 or package.module:attr. Default: the library's encoder, else clip."),
        encoder_path: Optional[str] = typer.Option(None, "--encoder-path", help="Weights (local directory/file or HF id) for the encoder."),
        clip_seconds: float = typer.Option(2.0, "--clip-seconds", min=0.001, help="Clip length: 2 for QVHighlights/TACoS, 1 for Charades-STA."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N]"),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips (or queries) per encoder call."),
        library: Optional[Path] = typer.Option(None, "--library", help="Library whose encoder is the default."),
        json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    ) -> None:
        """Write clip features and per-token query features for a grounding dataset (resumable)."""
        from rich.console import Console

        from grounding.data.annotations import AnnotationError
        from grounding.extract_features import ExtractionError, extract_features
        from indexer.encoders.registry import EncoderLoadError, default_encoder_spec, load_encoder

        spec = encoder or _library_encoder(library) or default_encoder_spec(device)
        try:
            model = load_encoder(spec, device=device, path=encoder_path)
        except EncoderLoadError as exc:
            _fail(str(exc), 1)
        console = Console(stderr=True)
        bar, progress = _rich_progress(console)
        try:
            with bar:
                summary = extract_features(model, annotations=annotations, videos=videos, out_video=out_video,
                                           out_text=out_text, clip_seconds=clip_seconds, encoder_spec=spec,
                                           batch_size=batch_size, progress=progress)
        except (AnnotationError, ExtractionError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted; the files written so far are complete, run the same command to resume", 130)
        if json_out:
            typer.echo(json.dumps({"encoder": spec, **summary.to_dict()}, indent=2))
            return
        rate = summary.clips / summary.seconds if summary.seconds > 0 else 0.0
        typer.echo(f"encoder {spec}: videos written {summary.videos_written}, kept {summary.videos_skipped}, "
                   f"missing {len(summary.missing)}, failed {len(summary.failed)}; queries written "
                   f"{summary.texts_written}, kept {summary.texts_skipped}; {summary.clips} clips in "
                   f"{summary.seconds:.1f} s ({rate:.1f} clips/s)")
        if summary.truncated_batches:
            typer.echo(f"warning: queries over {model.name}'s token limit were truncated "
                       f"(in {summary.truncated_batches} batch(es) of {batch_size})", err=True)
        if summary.missing:
            shown = ", ".join(summary.missing[:10]) + (" ..." if len(summary.missing) > 10 else "")
            typer.echo(f"no video file for {len(summary.missing)} vid(s): {shown}")
        for vid, error in summary.failed:
            typer.echo(f"failed {vid}: {error}")
