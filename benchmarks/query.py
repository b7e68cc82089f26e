"""``vsearch bench query``: coarse-retrieval latency and shortlist recall at library scale.

One run builds a synthetic library of ``--clips`` clips (:mod:`benchmarks.synthetic_library`,
vectors written straight into the store), lets the library build the FAISS index its size policy
picks (``build_s``), then, in a fresh process that opens the library read-only as ``vsearch query``
does, times the coarse retrieval of each query: ``search_vectors`` with the query engine's adaptive
``k`` + ``clip_locations`` + grouping hits by video into the shortlist (no text encoder, no
grounding). The baseline in the same run is exact search (FAISS flat inner product over every
stored vector) through the same shortlist code. ``recall`` is the share of the videos the exact
shortlist holds that the fast shortlist also holds; ``rss_mb`` is the resident memory of the query
process after the queries (``anon_mb``: without memory-mapped file pages; ``peak_rss_mb``: its
high-water mark).

The same process then times the whole engine, ``Searcher.search_features`` with training-free
grounding (everything ``vsearch query`` does after the text encoder): ``engine_p50_ms`` /
``engine_p95_ms``, the per-stage p50s from ``SearchResponse.timings_ms`` (retrieve = FAISS +
shortlist + windows, load = window embeddings, ground, rank) and the DuckDB connections opened per
query (0 on an unchanged library: the catalog and the windows come from in-process caches).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import typer


@dataclass(frozen=True)
class QueryBenchConfig:
    """What to measure: library size, vector dim, number of timed queries, shortlist size."""

    clips: int
    dim: int = 512
    queries: int = 200
    warmup: int = 10
    shortlist_videos: int = 20
    seed: int = 0
    theme_share: float = 0.6
    nprobe_fraction: float | None = None
    workdir: Path | None = None
    keep: bool = False

    def store_config(self) -> Any:
        from indexer.vector_index import IndexPolicy
        from indexer.vector_store import StoreConfig

        if self.nprobe_fraction is None:
            return StoreConfig()
        return StoreConfig(policy=IndexPolicy(nprobe_fraction=self.nprobe_fraction))


@dataclass(frozen=True)
class QueryBenchResult:
    clips: int
    dim: int
    videos: int
    index_type: str
    nprobe: int
    k: int
    shortlist_videos: int
    p50_ms: float
    p95_ms: float
    exact_p50_ms: float
    exact_p95_ms: float
    speedup_p50: float
    recall: float
    clip_recall: float
    rss_mb: float
    anon_mb: float
    peak_rss_mb: float
    engine_p50_ms: float
    engine_p95_ms: float
    engine_retrieve_p50_ms: float
    engine_load_p50_ms: float
    engine_ground_p50_ms: float
    engine_rank_p50_ms: float
    engine_db_opens_per_query: float
    open_s: float
    write_s: float
    build_s: float
    date: str


def shortlist_k(n_clips: int) -> int:
    """The number of clips the query engine asks FAISS for (its adaptive k)."""
    from search.coarse_retrieval import CoarseConfig, adaptive_k

    return adaptive_k(n_clips, CoarseConfig())


def shortlist(scores: np.ndarray, video_ids: np.ndarray, size: int) -> list[int]:
    """Best ``size`` videos by their best clip score (``scores``/``video_ids`` (k,), -1 = none)."""
    valid = video_ids >= 0
    best: dict[int, float] = {}
    for vid, score in zip(video_ids[valid].tolist(), scores[valid].tolist()):
        if score > best.get(vid, -np.inf):
            best[vid] = score
    return sorted(best, key=lambda v: -best[v])[:size]


def _time_fast_path(directory: str, queries: np.ndarray, k: int, size: int, warmup: int,
                    config: QueryBenchConfig) -> dict[str, Any]:
    """Runs in a fresh process: open read-only, time coarse retrieval per query, then the engine."""
    import faiss
    import psutil

    from search.searcher import SearchConfig, Searcher

    faiss.omp_set_num_threads(1)  # one query at a time: latency, not throughput
    started = time.perf_counter()
    searcher = Searcher(Path(directory), grounding="none", device="cpu",
                        config=SearchConfig(store=config.store_config()))
    library = searcher.library
    assert library is not None
    library.search_vectors(queries[:1], k)
    open_s = time.perf_counter() - started
    latencies, lists, hits = [], [], []
    for i, q in enumerate(np.concatenate([queries[:warmup], queries])):
        t0 = time.perf_counter()
        scores, ids = library.search_vectors(q[None], k)
        video_ids, _ = library.clip_locations(ids[0])
        chosen = shortlist(scores[0], video_ids, size)
        elapsed = time.perf_counter() - t0
        if i >= warmup:
            latencies.append(elapsed * 1000)
            lists.append(chosen)
            hits.append(ids[0].tolist())
    engine = _time_engine(searcher, queries, warmup)
    stats = library.stats()
    rss_mb = psutil.Process().memory_info().rss / 2**20
    anon_mb = _anonymous_rss_mb()
    nprobe = library.vector_search_params().get("nprobe", 0)
    searcher.close()
    return {"nprobe": nprobe, "anon_mb": anon_mb, "latencies": latencies, "lists": lists, "hits": hits, "rss_mb": rss_mb, "open_s": open_s,
            "index_type": stats.index_type, "vectors": stats.vectors, "peak_rss_mb": _peak_rss_mb(), **engine}


ENGINE_STAGES = ("retrieve", "load", "ground", "rank")


def _time_engine(searcher: Any, queries: np.ndarray, warmup: int) -> dict[str, float]:
    """Whole-engine latency per query (text encoder excluded) with per-stage p50s, in ms."""
    from indexer.encoders.base import EncodedText

    library = searcher.library
    totals: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in ENGINE_STAGES}
    opens = 0
    for i, q in enumerate(np.concatenate([queries[:warmup], queries])):
        features = EncodedText(tokens=q[None].copy(), pooled=q)
        opens_before = library.db_opens
        t0 = time.perf_counter()
        response = searcher.search_features("synthetic", features)
        elapsed = time.perf_counter() - t0
        if i >= warmup:
            opens += library.db_opens - opens_before
            totals.append(elapsed * 1000)
            for stage in ENGINE_STAGES:
                stages[stage].append(response.timings_ms.get(stage, 0.0))
    p50, p95 = np.percentile(totals, [50, 95])
    return {"engine_p50_ms": float(p50), "engine_p95_ms": float(p95),
            **{f"engine_{stage}_p50_ms": float(np.median(v)) for stage, v in stages.items()},
            "engine_db_opens_per_query": opens / max(len(totals), 1)}


def _peak_rss_mb() -> float:
    """High-water mark of this process's resident memory (``VmHWM``), -1 where /proc is unavailable.

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the forking parent, so a spawned
    worker would report the benchmark parent's peak (the library build) instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def _anonymous_rss_mb() -> float:
    """Resident anonymous memory (heap, FAISS index) without the page-cache pages of memory-mapped
    files such as ``vectors.f16``, which RSS also counts; -1 where /proc is unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def _exact_baseline(directory: Path, queries: np.ndarray, k: int, size: int
                    ) -> tuple[list[float], list[list[int]], list[list[int]]]:
    """Exact flat inner-product search over all stored vectors, through the same shortlist code."""
    import faiss

    from indexer.catalog_db import DATABASE_FILE, CatalogDB
    from indexer.library import Library
    from indexer.vector_store import fetch_vectors, read_token

    db = CatalogDB(directory / DATABASE_FILE, readonly=True)
    with db.read() as conn:
        token, _ = read_token(conn)
    dim = queries.shape[1]
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    for first in range(1, token.next_clip_id, 200_000):
        with db.read() as conn:
            ids, vectors = fetch_vectors(conn, first, min(first + 200_000, token.next_clip_id))
        flat.add_with_ids(vectors, ids)
    db.dispose()
    faiss.omp_set_num_threads(1)
    latencies, lists, hits = [], [], []
    with Library.open(directory, readonly=True) as library:
        library.clip_locations(np.zeros(1, np.int64))  # load the clip map outside the timing
        for q in queries:
            t0 = time.perf_counter()
            scores, ids = flat.search(q[None], k)
            video_ids, _ = library.clip_locations(ids[0])
            chosen = shortlist(scores[0], video_ids, size)
            latencies.append((time.perf_counter() - t0) * 1000)
            lists.append(chosen)
            hits.append(ids[0].tolist())
    return latencies, lists, hits


def run_query_benchmark(config: QueryBenchConfig, log: Any = print) -> QueryBenchResult:
    """Build the synthetic library, then measure the fast path against exact search."""
    import faiss

    from benchmarks.synthetic_library import SyntheticConfig, SyntheticLibrary, write_synthetic_library
    from indexer.library import Library

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    root = Path(tempfile.mkdtemp(prefix="vsearch-bench-query-", dir=config.workdir))
    directory = root / "library"
    try:
        generator = SyntheticLibrary(SyntheticConfig(clips=config.clips, dim=config.dim, seed=config.seed,
                                                     theme_share=config.theme_share))
        t0 = time.perf_counter()
        videos = write_synthetic_library(directory, generator)
        write_s = time.perf_counter() - t0
        log(f"wrote {config.clips} clips of {videos} videos in {write_s:.1f} s")
        t0 = time.perf_counter()
        with Library.open(directory) as library:
            library.rebuild_vectors()
        build_s = time.perf_counter() - t0
        log(f"built the vector index in {build_s:.1f} s")

        queries = generator.queries(config.queries + config.warmup, seed=config.seed + 1)
        k = shortlist_k(config.clips)
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            fast = pool.submit(_time_fast_path, str(directory), queries[config.warmup:], k,
                               config.shortlist_videos, config.warmup, config).result()
        exact_ms, exact_lists, exact_hits = _exact_baseline(directory, queries[config.warmup:], k,
                                                            config.shortlist_videos)
        recall = float(np.mean([len(set(f) & set(e)) / max(len(e), 1)
                                for f, e in zip(fast["lists"], exact_lists)]))
        clip_recall = float(np.mean([len(set(f) & set(e)) / max(len([x for x in e if x >= 0]), 1)
                                     for f, e in zip(fast["hits"], exact_hits)]))
        p50, p95 = np.percentile(fast["latencies"], [50, 95])
        e50, e95 = np.percentile(exact_ms, [50, 95])
        return QueryBenchResult(
            clips=config.clips, dim=config.dim, videos=videos, index_type=str(fast["index_type"]),
            nprobe=int(fast["nprobe"]), k=k,
            shortlist_videos=config.shortlist_videos, p50_ms=round(float(p50), 3), p95_ms=round(float(p95), 3),
            exact_p50_ms=round(float(e50), 3), exact_p95_ms=round(float(e95), 3),
            speedup_p50=round(float(e50 / p50), 2), recall=round(recall, 4), clip_recall=round(clip_recall, 4),
            rss_mb=round(float(fast["rss_mb"]), 1), anon_mb=round(float(fast["anon_mb"]), 1),
            peak_rss_mb=round(float(fast["peak_rss_mb"]), 1),
            **{key: round(float(fast[key]), 3) for key in (
                "engine_p50_ms", "engine_p95_ms", "engine_db_opens_per_query",
                *(f"engine_{stage}_p50_ms" for stage in ENGINE_STAGES))},
            open_s=round(float(fast["open_s"]), 2),
            write_s=round(write_s, 1), build_s=round(build_s, 1),
            date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )
    finally:
        if config.keep:
            log(f"kept the library at {directory}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def register(bench_app: typer.Typer) -> None:
    """Add ``vsearch bench query`` to ``bench_app``."""

    @bench_app.command("query")
    def query(
        clips: int = typer.Option(1_000_000, "--clips", min=1_000, help="Clips in the synthetic library."),
        dim: int = typer.Option(512, "--dim", min=8, help="Embedding dimension (a multiple of 64 for IVF-PQ)."),
        queries: int = typer.Option(200, "--queries", min=10, help="Timed queries."),
        theme_share: float = typer.Option(0.6, "--theme-share", min=0.0, max=0.99,
                                          help="How much topics share broader themes (0 = unrelated topics, harder)."),
        nprobe_fraction: float | None = typer.Option(None, "--nprobe-fraction", min=0.0001, max=1.0,
                                                     help="IVF lists scanned per query (default: the library policy)."),
        workdir: Path | None = typer.Option(None, "--workdir", help="Where to build the library (default: temp)."),
        keep: bool = typer.Option(False, "--keep", help="Keep the synthetic library afterwards."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Query latency and shortlist recall on a synthetic library vs exact search."""
        if workdir is not None and not workdir.is_dir():
            typer.echo(f"error: --workdir {workdir} is not a directory", err=True)
            raise typer.Exit(2)
        from rich.console import Console

        console = Console(stderr=True)
        result = run_query_benchmark(
            QueryBenchConfig(clips=clips, dim=dim, queries=queries, theme_share=theme_share,
                             nprobe_fraction=nprobe_fraction, workdir=workdir, keep=keep),
            log=(lambda msg: console.log(msg)) if not json_out else (lambda msg: None),
        )
        if json_out:
            typer.echo(json.dumps(asdict(result)))
            return
        _print_table(result)


def _print_table(result: QueryBenchResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from benchmarks.ratio import speed_ratio_text

    table = Table(title=f"vsearch bench query: {result.clips:,} clips, dim {result.dim} ({result.date})")
    table.add_column("figure")
    table.add_column("fast path", justify="right")
    table.add_column("exact flat", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row("index", f"{result.index_type} (nprobe {result.nprobe})" if result.nprobe else result.index_type,
                  "flat", "")
    table.add_row("p50 ms", f"{result.p50_ms:.2f}", f"{result.exact_p50_ms:.2f}", speed_ratio_text(result.speedup_p50))
    table.add_row("p95 ms", f"{result.p95_ms:.2f}", f"{result.exact_p95_ms:.2f}",
                  speed_ratio_text(result.exact_p95_ms / result.p95_ms))
    table.add_row(f"recall (top {result.shortlist_videos} videos)", f"{result.recall:.3f}", "1.000",
                  f"{result.recall:.3f}")
    table.add_row(f"clip recall (top {result.k} clips)", f"{result.clip_recall:.3f}", "1.000", "")
    table.add_row("engine p50 / p95 ms (search_features)", f"{result.engine_p50_ms:.2f} / {result.engine_p95_ms:.2f}",
                  "", f"{result.exact_p50_ms / result.engine_p50_ms:.1f}x exact FAISS p50")
    table.add_row("engine stage p50 ms: retrieve / load / ground / rank",
                  f"{result.engine_retrieve_p50_ms:.2f} / {result.engine_load_p50_ms:.2f} / "
                  f"{result.engine_ground_p50_ms:.2f} / {result.engine_rank_p50_ms:.2f}", "", "")
    table.add_row("engine DuckDB opens per query", f"{result.engine_db_opens_per_query:.2f}", "", "")
    table.add_row("rss MB (query process; anonymous; peak)",
                  f"{result.rss_mb:.0f} ({result.anon_mb:.0f}; {result.peak_rss_mb:.0f})", "", "")
    table.add_row("open s / write s / build s", f"{result.open_s} / {result.write_s} / {result.build_s}", "", "")
    Console().print(table)
