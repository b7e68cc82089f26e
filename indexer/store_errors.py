"""Errors of the library store; every message is one line a user can act on."""

from __future__ import annotations


class LibraryError(RuntimeError):
    """The library cannot be opened or the operation cannot be done (one-line message)."""


class LibraryBusyError(LibraryError):
    """Another process kept the DuckDB file locked for longer than the retry budget."""


class SchemaTooNewError(LibraryError):
    """The database was written by a newer vsearch than this one."""


class EncoderMismatchError(LibraryError):
    """The library is bound to a different encoder identity than the one requested."""
