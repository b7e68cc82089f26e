"""The example plug-in printed in README.md (Encoders) works as documented (docs cannot drift)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from indexer.encoders import load_encoder
from indexer.encoders.base import Encoder
from indexer.videogen import Segment, write_video
from vsearch.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (source,) = [b for b in blocks if b.startswith('"""colorsearch.py')]
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "colorsearch.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.delitem(__import__("sys").modules, "colorsearch", raising=False)
    return "colorsearch:ColorHistogramEncoder"


def test_example_plugin_meets_the_contract(plugin: str) -> None:
    encoder = load_encoder(plugin, device="cpu")
    assert isinstance(encoder, Encoder) and encoder.device == "cpu"
    clips = np.zeros((2, 2, 64, 64, 3), dtype=np.uint8)
    clips[0] = (220, 40, 40)
    clips[1] = (40, 60, 220)
    vectors = encoder.encode_clips(clips)
    assert vectors.shape == (2, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    red, blue = encoder.encode_text(["a red car", "blue"])
    assert red.tokens.shape == (1, 64) and abs(np.linalg.norm(red.pooled) - 1) < 1e-6
    assert (vectors @ red.pooled).argmax() == 0 and (vectors @ blue.pooled).argmax() == 1


def test_example_plugin_indexes_and_finds_its_colour(plugin: str, tmp_path: Path) -> None:
    from indexer.library import Library

    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "v.mp4", [Segment(4, (220, 40, 40)), Segment(4, (40, 60, 220))],
                fps=8, size=(64, 64))
    library = tmp_path / "library"
    result = CliRunner().invoke(app, ["index", str(tmp_path / "videos"), "--library", str(library),
                                      "--encoder", plugin, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["clips_added"] == 4
    query = load_encoder(plugin).encode_text(["blue"])[0].pooled[None]
    with Library.open(library, readonly=True) as lib:
        _, clip_ids = lib.search_vectors(query, k=1)
        _, clip_index = lib.clip_locations(clip_ids[0])
    assert clip_index[0] in (2, 3)  # the blue half of the video
