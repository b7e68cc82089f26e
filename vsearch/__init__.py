"""vsearch: local video search. The console entry point lives in :mod:`vsearch.cli`."""

__version__ = "0.1.0"
