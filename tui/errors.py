"""Turn an exception from the core into the one line a notification shows (never a traceback)."""

from __future__ import annotations

CORE_PACKAGES = ("search", "indexer", "grounding", "tui")


def user_message(exc: BaseException) -> str:
    """The message of an error vsearch raises on purpose, or ``"<Type>: message"`` for anything else.

    vsearch's own exceptions (defined in the core packages) carry messages written for users;
    OS errors name the file; other exceptions are bugs and keep their type name for the report.
    """
    text = " ".join(str(exc).split())  # one line
    own = type(exc).__module__.split(".")[0] in CORE_PACKAGES
    if own and text:
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
