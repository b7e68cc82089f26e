"""``vsearch pseudo-label``: InterVid-MR moment and saliency labels from timestamped captions (SG-DETR §4.3.2).

A thin layer over :func:`grounding.intervid_mr.build_pseudo_labels`. Exit codes: 0 the run completed
(captions that could not be labelled are listed), 1 the encoder could not be loaded, 2 unusable input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn, Optional

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``pseudo-label`` to ``app``."""

    @app.command("pseudo-label")
    def pseudo_label_command(
        captions: Path = typer.Option(..., "--captions", help="Caption JSONL: video, caption, start, end per line (InternVid fields accepted)."),
        out: Path = typer.Option(..., "--out", help="Output QVHighlights-format JSONL."),
        features: Path = typer.Option(..., "--features", help="Folder of {video}.npz clip features from the same encoder (filled from --videos when given)."),
        videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of the videos ({video}.<ext>); clip features missing from --features are extracted."),
        out_video: Optional[Path] = typer.Option(None, "--out-video", help="Also write the segments' clip features here ({vid}.npz)."),
        out_text: Optional[Path] = typer.Option(None, "--out-text", help="Also write the captions' token features here (qid{qid}.npz)."),
        encoder: str = typer.Option("clip", "--encoder", help="Encoder of the clip features and captions: clip, tiny, internvideo2 or package.module:attr."),
        encoder_path: Optional[str] = typer.Option(None, "--encoder-path", help="Weights (local directory/file or HF id) for the encoder."),
        clip_seconds: float = typer.Option(2.0, "--clip-seconds", min=0.001, help="Clip length of the features."),
        window_seconds: float = typer.Option(150.0, "--window-seconds", min=0.001, help="Longest segment trimmed around a caption."),
        threshold_std: float = typer.Option(3.0, "--threshold-std", min=0.0, help="k in S_min = mean - k*std of the caption's clips (eq. 11)."),
        grade_std: float = typer.Option(1.5, "--grade-std", min=0.0, help="k in the mu +- k*sigma grade bands of the positive clips (eq. 12)."),
        first_qid: int = typer.Option(0, "--first-qid", min=0, help="qid of the first caption; caption i gets first_qid + i."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N]"),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips (or captions) per encoder call."),
        json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    ) -> None:
        """Turn captions into moment-retrieval training rows with graded saliency (InterVid-MR recipe)."""
        from rich.console import Console
        from rich.progress import Progress

        from grounding.data.annotations import AnnotationError
        from grounding.extract_features import ExtractionError
        from grounding.intervid_mr import build_pseudo_labels
        from grounding.pseudo_label import PseudoLabelConfig
        from indexer.encoders.registry import EncoderLoadError, load_encoder

        if out.is_dir():  # fail before any encoding, not at the final rename
            _fail(f"--out {out} is a directory: give the JSONL file's path, e.g. {out / 'intervid_mr.jsonl'}")
        try:
            config = PseudoLabelConfig(window_seconds=window_seconds, threshold_std=threshold_std,
                                       grade_std=grade_std, clip_seconds=clip_seconds)
        except ValueError as exc:
            _fail(str(exc))
        try:
            model = load_encoder(encoder, device=device, path=encoder_path)
        except EncoderLoadError as exc:
            _fail(str(exc), 1)
        progress = Progress(console=Console(stderr=True))
        try:
            with progress:
                task = progress.add_task("captions", total=None)
                summary = build_pseudo_labels(
                    model, captions_path=captions, features=features, out=out, videos=videos, out_video=out_video,
                    out_text=out_text, config=config, encoder_spec=encoder, first_qid=first_qid,
                    batch_size=batch_size, on_caption=lambda n: progress.update(task, advance=n))
        except (AnnotationError, ExtractionError) as exc:
            _fail(str(exc))
        if json_out:
            typer.echo(json.dumps(summary.to_dict(), indent=2))
            return
        typer.echo(f"{summary.rows} of {summary.captions} captions labelled -> {out} ({summary.windows} windows, "
                   f"{100 * summary.mean_positive_fraction:.0f}% of segment clips positive on average, "
                   f"{summary.seconds:.1f} s)")
        for video, caption, reason in summary.skipped[:20]:
            typer.echo(f"skipped {video} {caption!r}: {reason}")
        if len(summary.skipped) > 20:
            typer.echo(f"... and {len(summary.skipped) - 20} more skipped")
