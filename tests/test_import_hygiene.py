"""The core packages never import the UI, and `vsearch --help` stays light (no torch at import)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_PACKAGES = ("indexer", "search", "grounding")


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_never_imports_the_ui(package: str) -> None:
    offenders = []
    for path in _python_files(package):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")) and (
                " textual" in stripped or " tui" in stripped.replace("tuition", "")
            ):
                words = stripped.replace(",", " ").split()
                if any(w == "tui" or w.startswith(("tui.", "textual")) for w in words):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {stripped}")
    assert not offenders, "core imports the UI:\n" + "\n".join(offenders)


def test_help_imports_no_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from vsearch.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('torch', 'faiss', 'transformers', 'duckdb', 'textual') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"`vsearch --help` imported heavy modules: {out.stdout.strip()}"


def test_help_lists_every_command() -> None:
    from typer.testing import CliRunner

    from vsearch.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("index", "status", "reindex-vectors", "query", "config", "tui", "eval", "train",
                    "predict", "extract-features", "pseudo-label", "bench"):
        assert command in result.output, f"`vsearch --help` lacks {command}"


def test_version_flag() -> None:
    from importlib.metadata import version

    from typer.testing import CliRunner

    from vsearch.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"vsearch {version('vsearch')}"
