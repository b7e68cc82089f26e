"""The tiny encoder: contract, determinism across processes, sensitivity to frame content."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from indexer.encoders import encoder_identity, load_encoder
from indexer.encoders.base import Encoder, TextFeatures


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny", device="cpu")


def _solid_clips(colors: list[tuple[int, int, int]], frames: int = 2, size: int = 32) -> np.ndarray:
    clips = np.zeros((len(colors), frames, size, size, 3), dtype=np.uint8)
    for i, color in enumerate(colors):
        clips[i] = np.asarray(color, dtype=np.uint8)
    return clips


def test_contract_attributes(tiny) -> None:
    assert isinstance(tiny, Encoder)
    assert (tiny.name, tiny.dim, tiny.frames_per_clip, tiny.frame_size) == ("tiny", 32, 2, 32)
    identity = encoder_identity("tiny", tiny, 2.0)
    assert identity.model_id == "tiny-clip-seed0" and identity.dim == 32


def test_encode_clips_shape_norm_and_content(tiny) -> None:
    clips = _solid_clips([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 0)])
    out = tiny.encode_clips(clips)
    assert out.shape == (4, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[0], out[3], atol=1e-6)
    assert np.abs(out[0] - out[1]).max() > 1e-3 and np.abs(out[1] - out[2]).max() > 1e-3
    assert tiny.encode_clips(np.zeros((0, 2, 32, 32, 3), np.uint8)).shape == (0, 32)


def test_batching_and_resolution_do_not_change_results(tiny) -> None:
    rng = np.random.default_rng(1)
    clips = rng.integers(0, 256, (7, 2, 32, 32, 3), dtype=np.uint8)
    whole = tiny.encode_clips(clips)
    one_by_one = np.concatenate([tiny.encode_clips(clips[i:i + 1]) for i in range(7)])
    np.testing.assert_allclose(whole, one_by_one, atol=1e-5)
    # Non-square frames are resized/cropped inside; a solid colour stays the same colour.
    wide = _solid_clips([(10, 200, 30)], size=32).repeat(2, axis=3)
    np.testing.assert_allclose(tiny.encode_clips(wide), tiny.encode_clips(_solid_clips([(10, 200, 30)])), atol=1e-5)


def test_encode_text(tiny) -> None:
    feats = tiny.encode_text(["a cat on a mat", "dog", ""])
    assert len(feats) == 3 and all(isinstance(f, TextFeatures) for f in feats)
    assert feats[0].tokens.shape == (12, 32)  # 10 byte tokens + start + end
    assert feats[1].tokens.shape == (5, 32) and feats[2].tokens.shape == (2, 32)
    for f in feats:
        assert f.tokens.dtype == np.float32 and f.pooled.shape == (32,)
        assert abs(np.linalg.norm(f.pooled) - 1.0) < 1e-5
    # Padding in a batch does not leak into shorter texts.
    alone = tiny.encode_text(["dog"])[0]
    np.testing.assert_allclose(alone.tokens, feats[1].tokens, atol=1e-5)
    np.testing.assert_allclose(alone.pooled, feats[1].pooled, atol=1e-5)


def test_long_text_is_truncated_with_warning(tiny) -> None:
    with pytest.warns(UserWarning, match="truncated"):
        feats = tiny.encode_text(["word " * 50])
    assert feats[0].tokens.shape[0] == tiny.max_text_tokens


def test_deterministic_across_processes(tiny) -> None:
    script = (
        "import json, numpy as np; from indexer.encoders import load_encoder\n"
        "e = load_encoder('tiny', device='cpu')\n"
        "x = np.arange(2 * 2 * 32 * 32 * 3, dtype=np.int64).reshape(2, 2, 32, 32, 3) % 251\n"
        "print(json.dumps(e.encode_clips(x.astype(np.uint8)).tolist()))\n"
        "print(json.dumps(e.encode_text(['red car'])[0].pooled.tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    clips_line, text_line = out.strip().splitlines()[-2:]
    x = (np.arange(2 * 2 * 32 * 32 * 3).reshape(2, 2, 32, 32, 3) % 251).astype(np.uint8)
    np.testing.assert_allclose(np.array(json.loads(clips_line)), tiny.encode_clips(x), atol=2e-5)
    np.testing.assert_allclose(np.array(json.loads(text_line)), tiny.encode_text(["red car"])[0].pooled, atol=2e-5)


def test_rejects_bad_frames(tiny) -> None:
    with pytest.raises(ValueError, match="uint8"):
        tiny.encode_clips(np.zeros((1, 2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="n_clips"):
        tiny.encode_clips(np.zeros((2, 32, 32, 3), np.uint8))
