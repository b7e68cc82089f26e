"""Searcher over libraries written straight into the store: ranking across videos, deep hits, filters, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.ranking import temporal_iou
from search.searcher import EmptyLibraryError, EmptyQueryError, Searcher
from tests.plugins.synthetic_library import build_color_library, color_identity

HOURS = 3600.0
FILM = "/videos/film.mkv"
BEACH = "/videos/holiday/beach.mp4"
PARK = "/videos/park.mp4"
DUSK = "/videos/holiday/dusk.webm"
DARK_RED = (200, 40, 40)

LIBRARY = {
    # A 3-hour film, a cyan shot in minute 140.
    FILM: [(8400.0, "gray"), (40.0, "cyan"), (3 * HOURS - 8440.0, "gray")],
    BEACH: [(60.0, "blue"), (30.0, "yellow"), (30.0, "blue")],
    PARK: [(100.0, "green"), (30.0, "red"), (170.0, "green")],
    # A competing, weaker match for "red".
    DUSK: [(20.0, "black"), (30.0, DARK_RED), (40.0, "black")],
}


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("searcher") / "library"
    build_color_library(directory, LIBRARY)
    return directory


@pytest.fixture(scope="module")
def searcher(library_dir: Path):
    with Searcher(library_dir, grounding="none", device="cpu") as s:
        yield s


def _iou(moment, start: float, end: float) -> float:
    return temporal_iou((moment.start, moment.end), (start, end))


@pytest.mark.parametrize(
    ("query", "path", "start", "end"),
    [
        ("a cyan shot", FILM, 8400.0, 8440.0),
        ("red", PARK, 100.0, 130.0),
        ("the yellow part", BEACH, 60.0, 90.0),
    ],
)
def test_right_video_first_and_moment_timed(searcher: Searcher, query: str, path: str, start: float, end: float) -> None:
    response = searcher.search(query)
    best = response.results[0]
    assert best.path == path
    assert _iou(best, start, end) >= 0.5, (best.start, best.end)
    assert best.start <= best.best_time <= best.end
    assert best.saliency_start <= best.start and best.end <= best.saliency_start + len(best.saliency) * best.clip_seconds
    assert [m.score for m in response.results] == sorted((m.score for m in response.results), reverse=True)
    assert response.warnings == [] and response.grounding == "none"


def test_deep_moment_in_a_three_hour_film_is_exact(searcher: Searcher) -> None:
    best = searcher.search("cyan").results[0]
    assert (best.start, best.end) == (8400.0, 8440.0)
    assert best.video_duration == 3 * HOURS and best.clip_seconds == 2.0
    assert len(best.saliency) == 75
    assert 8400.0 <= best.best_time < 8440.0


def test_competing_segments_rank_by_match_quality(searcher: Searcher) -> None:
    results = searcher.search("red", top=5).results
    paths = [m.path for m in results]
    assert paths[:2] == [PARK, DUSK]
    dusk = results[1]
    assert _iou(dusk, 20.0, 50.0) >= 0.5
    assert results[0].score > dusk.score


def test_filters_restrict_videos(searcher: Searcher) -> None:
    only_holiday = searcher.search("red", path_glob="*/holiday/*").results
    assert {m.path for m in only_holiday} <= {BEACH, DUSK} and only_holiday[0].path == DUSK
    long_only = searcher.search("red", min_duration=1000).results
    assert {m.path for m in long_only} == {FILM}
    short_only = searcher.search("cyan", max_duration=500).results
    assert FILM not in {m.path for m in short_only}
    nothing = searcher.search("red", path_glob="*.avi")
    assert nothing.results == [] and nothing.warnings


def test_top_and_per_video_caps(searcher: Searcher) -> None:
    assert len(searcher.search("green", top=1).results) == 1
    results = searcher.search("green", top=10, per_video=1).results
    assert len({m.path for m in results}) == len(results)


def test_query_text_edge_cases(searcher: Searcher) -> None:
    for empty in ("", "   \n\t"):
        with pytest.raises(EmptyQueryError):
            searcher.search(empty)
    long = searcher.search("red " + "very " * 40 + "long query")
    assert any("truncated" in w for w in long.warnings)
    assert long.results[0].path == PARK
    unicode = searcher.search("  красный 🚗 — yellow 黄色  ")
    assert unicode.query == "красный 🚗 — yellow 黄色"
    assert unicode.results[0].path == BEACH
    with pytest.raises(ValueError):
        searcher.search("red", top=0)
    with pytest.raises(ValueError):
        searcher.search("red", min_duration=10, max_duration=5)


def test_timings_cover_every_stage(searcher: Searcher) -> None:
    timings = searcher.search("blue").timings_ms
    assert set(timings) == {"encode", "retrieve", "load", "ground", "rank"}
    assert all(v >= 0 for v in timings.values())


def test_empty_library_is_reported(tmp_path: Path) -> None:
    from indexer.library import Library

    with Library.create_or_open(tmp_path / "empty", color_identity()):
        pass
    with Searcher(tmp_path / "empty", device="cpu") as searcher:
        with pytest.raises(EmptyLibraryError, match="no videos indexed"):
            searcher.search("red")


def test_a_searcher_made_before_the_first_index_answers_once_videos_arrive(tmp_path: Path) -> None:

    directory = tmp_path / "fresh"
    with Searcher(directory, device="cpu") as searcher:
        assert searcher.status().videos_indexed == 0
        with pytest.raises(EmptyLibraryError, match="vsearch index"):
            searcher.search("red")
        build_color_library(directory, {"/v/park.mp4": [(10.0, "green"), (6.0, "red")]})
        best = searcher.search("red").results[0]
        assert (best.path, best.start, best.end) == ("/v/park.mp4", 10.0, 16.0)
        assert searcher.status().videos_indexed == 1


def test_steady_state_queries_open_no_database_connection(library_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    with Searcher(library_dir, grounding="none", device="cpu") as searcher:
        assert searcher.library is not None and searcher.search("red").results  # warm: FAISS + catalog
        opens: list[int] = []
        inner = searcher.library._db.read

        @contextmanager
        def counted():  # type: ignore[no-untyped-def]
            opens.append(1)
            with inner() as conn:
                yield conn

        monkeypatch.setattr(searcher.library._db, "read", counted)
        for text in ("red", "cyan", "yellow"):
            response = searcher.search(text)
            assert response.results and set(response.timings_ms) >= {"retrieve", "load", "ground", "rank"}
        assert opens == []  # catalog from the store's snapshot, windows from the vector cache
        assert searcher.search("red", path_glob="*park*").results  # the glob is matched by the store
        assert len(opens) == 1


def test_package_exports_the_api_lazily() -> None:
    import search
    from search.grounding_choice import GroundingMismatchError
    from search.ranking import Moment

    assert search.Searcher is Searcher and search.Moment is Moment
    assert search.GroundingMismatchError is GroundingMismatchError
    with pytest.raises(AttributeError):
        _ = search.NotAThing
