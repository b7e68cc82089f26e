"""Named schema migrations of the library database, recorded in ``schema_migrations``.

Each migration is a function with frozen DDL (never the current :mod:`indexer.catalog` objects, so
replaying history on an old database gives exactly the old shapes) and is applied once, in order,
inside the caller's transaction. The schema version of a database is the number of migrations it
has applied. A database that recorded a migration this code does not know was written by a newer
vsearch and is refused (:class:`SchemaTooNewError`) instead of being misread.

History:

``m001_initial``         library_meta, settings, videos (v1 shape); ``clips`` is created when
                         the library is bound to an encoder (its column is ``FLOAT[dim]``).
``m002_clip_tombstones`` contiguous clip-id blocks per video (``videos.first_clip_id``), the
                         encoder name on each video row, and ``clip_tombstones`` so the FAISS
                         index can catch up on deletions instead of being rebuilt.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, inspect, text

from indexer.store_errors import SchemaTooNewError


@dataclass(frozen=True)
class Migration:
    """One schema step; ``apply`` runs inside an open transaction."""

    name: str
    apply: Callable[[Connection], None]


def _m001_initial(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE library_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"))
    conn.execute(text("CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"))
    conn.execute(text(
        "CREATE TABLE videos ("
        " id BIGINT PRIMARY KEY, path VARCHAR NOT NULL UNIQUE, size BIGINT, mtime DOUBLE,"
        " fingerprint VARCHAR, duration DOUBLE, fps DOUBLE, width INTEGER, height INTEGER,"
        " clip_count INTEGER NOT NULL, status VARCHAR NOT NULL, error VARCHAR,"
        " created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)"
    ))
    conn.execute(
        text("INSERT INTO library_meta VALUES ('library_uuid', :u), ('next_clip_id', '1'), ('next_video_id', '1')"),
        {"u": uuid.uuid4().hex},
    )


def _m002_clip_tombstones(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE videos ADD COLUMN first_clip_id BIGINT"))
    conn.execute(text("ALTER TABLE videos ADD COLUMN encoder VARCHAR"))
    conn.execute(text(
        "CREATE TABLE clip_tombstones (seq BIGINT PRIMARY KEY, first_id BIGINT NOT NULL, end_id BIGINT NOT NULL)"
    ))
    conn.execute(text("INSERT INTO library_meta VALUES ('tombstone_seq', '0')"))
    conn.execute(text(
        "UPDATE videos SET encoder = (SELECT value FROM library_meta WHERE key = 'encoder_name')"
    ))
    if inspect(conn).has_table("clips"):
        # v1 allocated clip ids per video in one block too, but did not record where it starts.
        conn.execute(text(
            "UPDATE videos SET first_clip_id = c.first_id FROM"
            " (SELECT video_id, min(id) AS first_id FROM clips GROUP BY video_id) AS c"
            " WHERE videos.id = c.video_id"
        ))


MIGRATIONS: tuple[Migration, ...] = (
    Migration("m001_initial", _m001_initial),
    Migration("m002_clip_tombstones", _m002_clip_tombstones),
)
SCHEMA_VERSION = len(MIGRATIONS)


def applied_migrations(conn: Connection) -> list[str]:
    """Names recorded in ``schema_migrations`` (empty for a blank database)."""
    if not inspect(conn).has_table("schema_migrations"):
        return []
    return [row[0] for row in conn.execute(text("SELECT name FROM schema_migrations ORDER BY applied_at, name"))]


def pending_migrations(conn: Connection) -> list[Migration]:
    """Migrations still to apply; raises :class:`SchemaTooNewError` for a newer database."""
    done = set(applied_migrations(conn))
    known = {m.name for m in MIGRATIONS}
    unknown = sorted(done - known)
    if unknown:
        raise SchemaTooNewError(
            f"this library was written by a newer vsearch (schema {len(done)} > {SCHEMA_VERSION}, "
            f"unknown migration {unknown[0]}); upgrade vsearch to open it"
        )
    return [m for m in MIGRATIONS if m.name not in done]


def migrate(conn: Connection) -> list[str]:
    """Apply every pending migration inside the caller's transaction; returns their names."""
    pending = pending_migrations(conn)
    if pending and not inspect(conn).has_table("schema_migrations"):
        conn.execute(text("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"))
    for migration in pending:
        migration.apply(conn)
        conn.execute(
            text("INSERT INTO schema_migrations VALUES (:name, :at)"),
            {"name": migration.name, "at": datetime.now(timezone.utc).replace(tzinfo=None)},
        )
    return [m.name for m in pending]
