"""Short-lived DuckDB connections through SQLAlchemy, with retries around DuckDB's file lock.

DuckDB lets one process hold a database file for writing and then refuses every other process,
readers included. vsearch therefore never keeps the file open: each read or write is one short
connection (``NullPool``: closing the connection closes the file) and a process that finds the file
locked retries with exponential backoff for a few seconds before giving up with
:class:`LibraryBusyError`.

Bulk vector transfer bypasses SQLAlchemy's row objects and uses the DuckDB driver connection
(:func:`raw_connection`), which moves ``FLOAT[dim]`` columns as numpy arrays.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from indexer.store_errors import LibraryBusyError, LibraryError

DATABASE_FILE = "library.duckdb"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for another process to release the DuckDB file (seconds)."""

    total_s: float = 5.0
    first_delay_s: float = 0.01
    max_delay_s: float = 0.25


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return ("Could not set lock on file" in text or "Conflicting lock is held" in text
            # the same process has the file open read-write (a writer thread) and read-only at once
            or "different configuration" in text)


class CatalogDB:
    """Opens the library's DuckDB file for one transaction at a time.

    ``readonly=True`` opens DuckDB in read-only mode (several reader processes may share the
    file); otherwise connections are read-write and exclusive while they last. Within one
    process all connections share DuckDB's database instance, so threads of the same process
    never lock each other out.
    """

    def __init__(self, path: Path, *, readonly: bool, retry: RetryPolicy | None = None) -> None:
        self.path = path
        self.readonly = readonly
        self.retry = retry or RetryPolicy()
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self.opens = 0   # connections opened so far (benchmarks report DuckDB opens per query)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                f"duckdb:///{self.path}",
                poolclass=NullPool,
                connect_args={"read_only": self.readonly},
            )
        return self._engine

    def _connect(self) -> Connection:
        self.opens += 1
        deadline = time.monotonic() + self.retry.total_s
        delay = self.retry.first_delay_s
        while True:
            try:
                return self.engine.connect()
            except (DBAPIError, duckdb.Error) as exc:
                if not _is_lock_error(exc):
                    raise LibraryError(f"cannot open {self.path}: {_first_line(exc)}") from exc
                if time.monotonic() >= deadline:
                    raise LibraryBusyError(
                        f"library {self.path.parent} is busy: another process kept it locked for "
                        f"{self.retry.total_s:.0f} s; try again"
                    ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.retry.max_delay_s)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One connection for reads; the file is closed when the block exits."""
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One connection and one transaction: committed on success, rolled back on error."""
        if self.readonly:
            raise LibraryError(f"library {self.path.parent} was opened read-only")
        with self._lock:
            conn = self._connect()
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def raw_connection(conn: Connection) -> Any:
    """The DuckDB driver connection behind a SQLAlchemy connection (same transaction)."""
    return conn.connection.driver_connection


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
