"""Schema of a blank database, migration of a v1 database, refusal of a newer one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from indexer import catalog
from indexer.catalog_db import DATABASE_FILE
from indexer.encoders.registry import EncoderIdentity
from indexer.library import Library, LibraryError
from indexer.migrations import MIGRATIONS, SCHEMA_VERSION
from indexer.store_errors import SchemaTooNewError

IDENTITY = EncoderIdentity(spec="tiny", name="tiny", model_id="tiny-random-v1", dim=8, clip_seconds=2.0)

EXPECTED_COLUMNS = {
    "schema_migrations": ["name", "applied_at"],
    "library_meta": ["key", "value"],
    "settings": ["key", "value"],
    "videos": ["id", "path", "size", "mtime", "fingerprint", "duration", "fps", "width", "height", "clip_count",
               "status", "error", "created_at", "updated_at", "first_clip_id", "encoder"],
    "clip_tombstones": ["seq", "first_id", "end_id"],
    "clips": ["id", "video_id", "clip_index", "start_s", "end_s", "embedding"],
}


def columns(db_path: Path) -> dict[str, dict[str, str]]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        out.setdefault(table, {})[column] = kind
    return out


def test_blank_database_schema(tmp_path: Path) -> None:
    Library.create_or_open(tmp_path / "lib", IDENTITY).close()
    schema = columns(tmp_path / "lib" / DATABASE_FILE)
    assert {t: list(c) for t, c in schema.items()} == EXPECTED_COLUMNS
    assert schema["clips"]["embedding"] == "FLOAT[8]"
    assert schema["videos"]["mtime"] == "DOUBLE" and schema["videos"]["size"] == "BIGINT"
    # The SQLAlchemy tables the code queries describe exactly what the migrations create.
    for table in catalog.metadata.sorted_tables:
        assert sorted(c.name for c in table.columns) == sorted(EXPECTED_COLUMNS[table.name]), table.name
    assert sorted(c.name for c in catalog.clips_table(8).columns) == sorted(EXPECTED_COLUMNS["clips"])

    con = duckdb.connect(str(tmp_path / "lib" / DATABASE_FILE), read_only=True)
    names = [r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
    meta = dict(con.execute("SELECT key, value FROM library_meta").fetchall())
    con.close()
    assert names == [m.name for m in MIGRATIONS] and len(names) == SCHEMA_VERSION
    assert meta["encoder_model_id"] == "tiny-random-v1" and meta["dim"] == "8"
    assert meta["next_clip_id"] == "1" and meta["tombstone_seq"] == "0" and len(meta["library_uuid"]) == 32


def make_v1_library(directory: Path, rng: np.random.Generator) -> np.ndarray:
    """A library as the first schema wrote it: two videos, clip ids allocated per video in blocks."""
    directory.mkdir(parents=True)
    engine = create_engine(f"duckdb:///{directory / DATABASE_FILE}", poolclass=NullPool)
    vectors = rng.normal(size=(7, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"))
        MIGRATIONS[0].apply(conn)
        conn.execute(text("INSERT INTO schema_migrations VALUES ('m001_initial', now())"))
        conn.execute(text(
            "INSERT INTO library_meta VALUES ('encoder_spec', 'tiny'), ('encoder_name', 'tiny'),"
            " ('encoder_model_id', 'tiny-random-v1'), ('dim', '8'), ('clip_seconds', '2.0')"))
        conn.execute(text("UPDATE library_meta SET value = '8' WHERE key = 'next_clip_id'"))
        conn.execute(text("UPDATE library_meta SET value = '3' WHERE key = 'next_video_id'"))
        conn.execute(text(
            "CREATE TABLE clips (id BIGINT PRIMARY KEY, video_id BIGINT NOT NULL, clip_index INTEGER NOT NULL,"
            " start_s DOUBLE NOT NULL, end_s DOUBLE NOT NULL, embedding FLOAT[8] NOT NULL)"))
        now = datetime(2026, 1, 1)
        for vid, path, n in [(1, "/v/a.mp4", 4), (2, "/v/b.mp4", 3)]:
            conn.execute(text(
                "INSERT INTO videos VALUES (:id, :p, 10, 1.0, 'fp', :d, 25.0, 64, 48, :n, 'indexed', NULL, :t, :t)"),
                {"id": vid, "p": path, "d": 2.0 * n, "n": n, "t": now})
        for clip_id in range(1, 8):
            vid, index = (1, clip_id - 1) if clip_id <= 4 else (2, clip_id - 5)
            conn.execute(text("INSERT INTO clips VALUES (:i, :v, :c, :s, :e, :emb)"),
                         {"i": clip_id, "v": vid, "c": index, "s": 2.0 * index, "e": 2.0 * index + 2,
                          "emb": vectors[clip_id - 1].tolist()})
    engine.dispose()
    return vectors


def test_v1_database_is_migrated_and_usable(tmp_path: Path) -> None:
    vectors = make_v1_library(tmp_path / "lib", np.random.default_rng(0))
    with pytest.raises(LibraryError, match="older schema"):
        Library.open(tmp_path / "lib", readonly=True)

    with Library.create_or_open(tmp_path / "lib", IDENTITY) as lib:
        stats = lib.stats()
        assert (stats.videos_indexed, stats.clips, stats.vectors) == (2, 7, 7)
        assert [v.path for v in lib.videos()] == ["/v/a.mp4", "/v/b.mp4"]
        _, ids = lib.search_vectors(vectors[5][None], 1)
        assert ids[0, 0] == 6
        assert [x.tolist() for x in lib.clip_locations(ids[0])] == [[2], [1]]
        span = lib.clip_embeddings([(2, 0, 3)])[0]
        assert np.allclose(span, vectors[4:7], rtol=0, atol=2.0**-11)  # float16 vector cache rows
        lib.remove_video(1)  # tombstones work on migrated data
        assert lib.stats().vectors == 3

    schema = columns(tmp_path / "lib" / DATABASE_FILE)
    assert list(schema["videos"]) == EXPECTED_COLUMNS["videos"]
    con = duckdb.connect(str(tmp_path / "lib" / DATABASE_FILE), read_only=True)
    assert con.execute("SELECT first_clip_id, encoder FROM videos").fetchall() == [(5, "tiny")]
    con.close()
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        assert lib.stats().clips == 3


def test_newer_database_is_refused(tmp_path: Path) -> None:
    Library.create_or_open(tmp_path / "lib", IDENTITY).close()
    con = duckdb.connect(str(tmp_path / "lib" / DATABASE_FILE))
    con.execute("INSERT INTO schema_migrations VALUES ('m099_from_the_future', now())")
    con.close()
    for readonly in (False, True):
        with pytest.raises(SchemaTooNewError, match="newer vsearch .*m099_from_the_future.*upgrade vsearch"):
            Library.open(tmp_path / "lib", readonly=readonly)


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    for _ in range(3):
        Library.open(tmp_path / "lib").close()
    engine = create_engine(f"duckdb:///{tmp_path / 'lib' / DATABASE_FILE}", poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_migrations")).scalar_one() == SCHEMA_VERSION
        assert not inspect(conn).has_table("clips")  # no encoder bound yet
    engine.dispose()
