"""The library catalog: SQLAlchemy Core tables of the DuckDB database (the single source of truth).

Tables (the schema a blank database gets after all migrations in :mod:`indexer.migrations`):

``schema_migrations``  one row per applied named migration.
``library_meta``       key/value facts about the library: ``library_uuid``, ``next_clip_id``,
                       ``tombstone_seq`` and, once bound, the encoder identity (``encoder_spec``,
                       ``encoder_name``, ``encoder_model_id``, ``dim``, ``clip_seconds``).
``settings``           user key/value settings (e.g. ``grounding``).
``videos``             one row per known file, ``status`` ``indexed`` or ``failed``.
``clips``              one row per clip: ``id`` (global, never reused), ``video_id``, ``clip_index``,
                       ``start_s``/``end_s`` (seconds from the container), ``embedding FLOAT[dim]``.
                       A video's clip ids are one contiguous block starting at
                       ``videos.first_clip_id`` so ``id = first_clip_id + clip_index``.
``clip_tombstones``    one row per removed block of clip ids, ordered by ``seq``; the FAISS index
                       catches up by replaying tombstones newer than its watermark.

``clips`` is created when the library is bound to an encoder, because its embedding column has
the encoder's fixed dimension (a DuckDB ``ARRAY`` type).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TIMESTAMP,
)
from sqlalchemy.types import UserDefinedType

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("name", String, primary_key=True),
    Column("applied_at", TIMESTAMP, nullable=False),
)

library_meta = Table(
    "library_meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

videos = Table(
    "videos",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("path", Text, nullable=False, unique=True),
    Column("size", BigInteger),
    Column("mtime", Float),
    Column("fingerprint", String),
    Column("duration", Float),
    Column("fps", Float),
    Column("width", Integer),
    Column("height", Integer),
    Column("clip_count", Integer, nullable=False, default=0),
    Column("first_clip_id", BigInteger),
    Column("status", String, nullable=False),
    Column("error", Text),
    Column("encoder", String),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
)

clip_tombstones = Table(
    "clip_tombstones",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("first_id", BigInteger, nullable=False),
    Column("end_id", BigInteger, nullable=False),  # exclusive
)


class EmbeddingArray(UserDefinedType[object]):
    """DuckDB fixed-size ``FLOAT[dim]`` column (embeddings move as numpy through the raw driver)."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)

    def get_col_spec(self, **_: object) -> str:
        return f"FLOAT[{self.dim}]"


def clips_table(dim: int) -> Table:
    """The ``clips`` table for an embedding dimension (its own MetaData: the dim varies per library)."""
    return Table(
        "clips",
        MetaData(),
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("video_id", BigInteger, nullable=False),
        Column("clip_index", Integer, nullable=False),
        Column("start_s", Float, nullable=False),
        Column("end_s", Float, nullable=False),
        Column("embedding", EmbeddingArray(dim), nullable=False),
    )


# library_meta keys
META_UUID = "library_uuid"
META_NEXT_CLIP_ID = "next_clip_id"
META_NEXT_VIDEO_ID = "next_video_id"
META_TOMBSTONE_SEQ = "tombstone_seq"
META_CATALOG_SEQ = "catalog_seq"   # bumped by every change of the videos table (absent = 0)
META_ENCODER_KEYS = ("encoder_spec", "encoder_name", "encoder_model_id", "dim", "clip_seconds")
