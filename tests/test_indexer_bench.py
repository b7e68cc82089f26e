"""`vsearch bench index` runs end to end on a tiny configuration (figures themselves are not asserted)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from benchmarks.index import IndexBenchConfig, generate_video, run_index_benchmark
from indexer.decoding import probe
from vsearch.cli import app


def test_generated_benchmark_video_has_the_requested_shape(tmp_path: Path) -> None:
    path = generate_video(tmp_path / "v.webm", "vp9", (320, 180), 3.0, 10.0, 1.0)
    info = probe(str(path))
    assert (info.width, info.height, info.codec) == (320, 180, "vp9")
    assert abs(info.duration - 3.0) < 0.11


def test_benchmark_reports_every_stage(tmp_path: Path) -> None:
    config = IndexBenchConfig(codecs=("h264",), resolutions=("360p",), seconds={"360p": 4.0}, fps=10.0,
                              encoders=("tiny",), repeats=1, encode_seconds=0.1, long_minutes=0.05, cache_dir=tmp_path)
    result = run_index_benchmark(config, log=lambda _: None)
    (row,) = result.rows
    assert row.encoder == "tiny" and row.resolution == "360p" and row.seconds == 4.0
    for value in (result.decode_x_realtime, result.encode_x_realtime, result.pipeline_x_realtime,
                  result.pipeline_vs_slower_stage, result.peak_rss_mb):
        assert value > 0
    assert result.pipeline_vs_slower_stage == round(
        result.pipeline_x_realtime / min(result.decode_x_realtime, result.encode_x_realtime), 3)
    assert result.long_video is not None and result.long_video["index_clips_per_s"] > 0


def test_cli_rejects_unknown_codecs_in_one_line() -> None:
    result = CliRunner().invoke(app, ["bench", "index", "--codecs", "h263", "--json"])
    assert result.exit_code == 2 and "unknown value 'h263'" in result.stderr
