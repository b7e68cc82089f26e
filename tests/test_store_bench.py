"""`vsearch bench query` at a tiny size: the figures exist, are sane and the CLI prints them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from benchmarks import query as bench_query
from benchmarks.synthetic_library import SyntheticConfig, SyntheticLibrary


def test_synthetic_clips_are_clustered_not_uniform() -> None:
    generator = SyntheticLibrary(SyntheticConfig(clips=3000, dim=64, topics=32, seed=0))
    videos = list(generator.videos())
    assert sum(len(v) for v in videos) == 3000
    x = np.concatenate(videos)
    assert x.dtype == np.float32 and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    neighbours = np.mean([np.mean(np.sum(v[1:] * v[:-1], axis=1)) for v in videos if len(v) > 1])
    random_pairs = float(np.mean(np.sum(x[:1500] * x[1500:], axis=1)))
    assert neighbours > 0.85 and neighbours > random_pairs + 0.3
    queries = generator.queries(20)
    best = (queries @ x.T).max(axis=1)
    assert np.all(best > np.median(queries @ x.T) + 0.2)  # every query has a clearly matching scene


def test_query_benchmark_small_run(tmp_path: Path) -> None:
    result = bench_query.run_query_benchmark(
        bench_query.QueryBenchConfig(clips=5000, dim=64, queries=20, warmup=2, workdir=tmp_path), log=lambda _: None)
    assert result.clips == 5000 and result.index_type == "flat" and result.videos > 10
    assert result.recall == 1.0 and result.clip_recall == 1.0  # flat is exact
    assert result.p50_ms > 0 and result.p95_ms >= result.p50_ms and result.exact_p50_ms > 0
    assert result.rss_mb > 50 and 0 < result.anon_mb <= result.rss_mb and result.build_s >= 0
    assert result.peak_rss_mb >= result.rss_mb
    stages = (result.engine_retrieve_p50_ms, result.engine_load_p50_ms, result.engine_ground_p50_ms,
              result.engine_rank_p50_ms)
    assert all(t > 0 for t in stages) and result.engine_p95_ms >= result.engine_p50_ms > 0
    assert result.engine_p50_ms >= result.engine_retrieve_p50_ms  # the whole engine includes its stages
    assert result.engine_db_opens_per_query == 0  # catalog snapshot + vector cache: no DuckDB per query
    assert list(tmp_path.iterdir()) == []  # the synthetic library is removed afterwards


def test_bench_query_command_prints_json(monkeypatch, tmp_path: Path) -> None:
    seen = {}

    def fake_run(config: bench_query.QueryBenchConfig, log=print) -> bench_query.QueryBenchResult:
        seen["config"] = config
        return bench_query.QueryBenchResult(
            clips=config.clips, dim=config.dim, videos=7, index_type="ivf_flat", nprobe=128, k=128, shortlist_videos=20,
            p50_ms=1.0, p95_ms=2.0, exact_p50_ms=10.0, exact_p95_ms=12.0, speedup_p50=10.0, recall=0.99,
            clip_recall=0.9, rss_mb=100.0, anon_mb=90.0, peak_rss_mb=120.0, engine_p50_ms=5.0, engine_p95_ms=8.0,
            engine_retrieve_p50_ms=2.0, engine_load_p50_ms=0.5, engine_ground_p50_ms=2.0, engine_rank_p50_ms=0.5,
            engine_db_opens_per_query=0.0, open_s=0.1, write_s=1.0, build_s=2.0, date="today")

    monkeypatch.setattr(bench_query, "run_query_benchmark", fake_run)
    app = typer.Typer()
    bench_query.register(app)
    app.command("other")(lambda: None)  # keep typer from collapsing a single command into the root
    out = CliRunner().invoke(app, ["query", "--clips", "2000", "--dim", "64", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    for key in ("clips", "p50_ms", "p95_ms", "exact_p50_ms", "recall", "rss_mb", "index_type", "build_s",
                "engine_p50_ms", "engine_p95_ms", "engine_load_p50_ms", "peak_rss_mb"):
        assert key in payload
    assert payload["clips"] == 2000 and seen["config"].dim == 64

    bad = CliRunner().invoke(app, ["query", "--workdir", str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "is not a directory" in bad.output
