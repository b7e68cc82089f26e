"""Shared test setup: every test gets its own library directory and single-threaded torch."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_library(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``VSEARCH_LIBRARY`` (and platformdirs' data dir) at a fresh temp dir for each test."""
    root = tmp_path_factory.mktemp("vsearch-home")
    monkeypatch.setenv("VSEARCH_LIBRARY", str(root / "library"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "xdg-config"))
