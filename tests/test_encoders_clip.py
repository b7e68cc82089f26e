"""The clip encoder on tiny random CLIP/SigLIP models saved to disk, and the frame preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.encoders import load_encoder
from indexer.encoders.clip import CLIPEncoder
from indexer.encoders.preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    FrameTransform,
    clip_transform,
    imagenet_transform,
    transform_from_preprocessor_config,
)
from indexer.encoders.registry import EncoderLoadError
from indexer.encoders.tiny import build_tiny_clip_model, build_tiny_clip_tokenizer


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPImageProcessorPil

    directory = tmp_path_factory.mktemp("clip") / "tiny-clip"
    build_tiny_clip_model(seed=7).save_pretrained(directory)
    build_tiny_clip_tokenizer().save_pretrained(directory)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def clip(clip_dir: Path) -> CLIPEncoder:
    return load_encoder("clip", path=str(clip_dir), device="cpu", frames_per_clip=3)


def test_loads_from_a_saved_directory(clip: CLIPEncoder, clip_dir: Path) -> None:
    assert clip.name == f"clip:{clip_dir}" and clip.model_id == str(clip_dir)
    assert (clip.dim, clip.text_dim, clip.frames_per_clip, clip.frame_size, clip.max_text_tokens) == (32, 32, 3, 32, 32)


def test_clip_is_the_normalised_mean_of_normalised_frame_embeddings(clip: CLIPEncoder) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 40, 56, 3), dtype=np.uint8)
    out = clip.encode_clips(frames)
    with torch.inference_mode():
        pixels = clip_transform(32)(frames.reshape(6, 40, 56, 3))
        per_frame = clip.model.get_image_features(pixel_values=pixels).pooler_output.numpy().reshape(2, 3, 32)
    per_frame /= np.linalg.norm(per_frame, axis=-1, keepdims=True)
    expected = per_frame.mean(1)
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_text_tokens_are_the_final_layer_norm_states_and_pooled_the_projection(clip: CLIPEncoder) -> None:
    feats = clip.encode_text(["a red car", "dog"])
    with torch.inference_mode():
        ids = clip.tokenizer(["a red car"], return_tensors="pt")["input_ids"]
        text_out = clip.model.text_model(input_ids=ids)
        hidden = text_out.last_hidden_state[0]
        # Independent of transformers' pooling: the end token is the last one.
        projected = clip.model.text_projection(hidden[-1]).numpy()
    np.testing.assert_allclose(feats[0].tokens, hidden.numpy(), atol=1e-5)
    np.testing.assert_allclose(feats[0].pooled, projected / np.linalg.norm(projected), atol=1e-5)
    assert feats[1].tokens.shape == (5, 32)  # <start> d o g</w> <end>


def test_siglip_family_model(tmp_path: Path) -> None:
    from transformers import SiglipConfig, SiglipModel

    text = dict(vocab_size=514, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, pad_token_id=513, eos_token_id=513, bos_token_id=512)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    torch.manual_seed(0)
    SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).save_pretrained(tmp_path)
    build_tiny_clip_tokenizer().save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"size": {"height": 32, "width": 32}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2}))
    encoder = load_encoder("clip", path=str(tmp_path), device="cpu", frames_per_clip=2)
    assert encoder.transform == FrameTransform(size=32, mean=(0.5,) * 3, std=(0.5,) * 3, resize="square",
                                               interpolation="bilinear")
    out = encoder.encode_clips(np.full((3, 2, 32, 32, 3), 90, dtype=np.uint8))
    assert out.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    feats = encoder.encode_text(["dog", "a red car"])
    # Padded to the full 16 tokens inside (SigLIP pools the last position) but only real tokens returned.
    assert [f.tokens.shape[0] for f in feats] == [5, 9]
    np.testing.assert_allclose(feats[0].pooled, encoder.encode_text(["dog"])[0].pooled, atol=1e-5)


def test_bad_model_paths(tmp_path: Path, clip_dir: Path) -> None:
    with pytest.raises(EncoderLoadError, match="has no config.json"):
        CLIPEncoder(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EncoderLoadError, match="cannot load CLIP model"):
        CLIPEncoder(str(tmp_path))
    with pytest.raises(EncoderLoadError, match="frames_per_clip must be >= 1"):
        load_encoder("clip", path=str(clip_dir), device="cpu", frames_per_clip=0)


def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(EncoderLoadError, match="CUDA is not available"):
        load_encoder("tiny", device="cuda")


# --- preprocessing -------------------------------------------------------------------------------

def test_solid_colour_normalises_exactly() -> None:
    frame = np.zeros((1, 20, 30, 3), dtype=np.uint8)
    frame[:] = (200, 100, 50)
    out = clip_transform(16)(frame)
    assert out.shape == (1, 3, 16, 16) and out.dtype == torch.float32
    expected = (np.array([200, 100, 50]) / 255.0 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    np.testing.assert_allclose(out[0].mean(dim=(1, 2)).numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(out[0].std(dim=(1, 2)).numpy(), 0.0, atol=1e-4)


def test_shortest_edge_center_crop_versus_square_stretch() -> None:
    # 64 x 128 frame: blue | green (the middle 80 columns) | red.
    frame = np.zeros((64, 128, 3), dtype=np.uint8)
    frame[:, :24] = (0, 0, 255)
    frame[:, 24:104] = (0, 255, 0)
    frame[:, 104:] = (255, 0, 0)
    crop = clip_transform(32)(frame[None])[0]
    green = (1.0 - CLIP_MEAN[1]) / CLIP_STD[1]
    np.testing.assert_allclose(crop[1].numpy(), green, atol=1e-3)  # the crop keeps only the green middle
    stretched = imagenet_transform(32)(frame[None])[0]
    assert stretched[2, :, 0].mean() > 1.5 and stretched[0, :, -1].mean() > 1.5  # blue left, red right survive


def test_matches_the_transformers_clip_processor() -> None:
    from transformers import CLIPImageProcessorPil

    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    image = np.ascontiguousarray(np.repeat(np.repeat(image[::4, ::4], 4, 0), 4, 1))  # smooth-ish content
    reference = CLIPImageProcessorPil(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24})(
        images=image, return_tensors="pt")["pixel_values"][0]
    ours = clip_transform(24)(image[None])[0]
    assert ours.shape == reference.shape
    # PIL's and torch's antialiased bicubic kernels differ slightly; mean error well under one grey level.
    assert (ours - reference).abs().mean() < 0.05


def test_leading_dimensions_and_validation() -> None:
    frames = np.zeros((2, 3, 10, 12, 3), dtype=np.uint8)
    assert imagenet_transform(8)(frames).shape == (2, 3, 3, 8, 8)
    with pytest.raises(ValueError, match="uint8 RGB"):
        clip_transform(8)(np.zeros((2, 10, 12, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="positive"):
        FrameTransform(size=0, mean=CLIP_MEAN, std=CLIP_STD)


def test_transform_from_preprocessor_config() -> None:
    clip_like = {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}, "do_center_crop": True,
                 "resample": 3, "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD)}
    assert transform_from_preprocessor_config(clip_like, 99) == clip_transform(224)
    siglip_like = {"size": {"height": 384, "width": 384}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
                   "resample": 3}
    t = transform_from_preprocessor_config(siglip_like, 99)
    assert (t.size, t.resize, t.mean) == (384, "square", (0.5, 0.5, 0.5))
    assert transform_from_preprocessor_config({}, 64) == clip_transform(64)
