"""InternVideo2 Stage2 at a tiny size: official key layout, loading, contract, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.encoders import load_encoder
from indexer.encoders.internvideo2.checkpoint import (
    CONFIG_FILENAME,
    InternVideo2CheckpointError,
    load_official_state_dict,
    read_state_dict,
)
from indexer.encoders.internvideo2.config import STAGE2_1B, InternVideo2Config
from indexer.encoders.internvideo2.encoder import InternVideo2Encoder
from indexer.encoders.internvideo2.model import InternVideo2Stage2
from indexer.encoders.internvideo2.testing import (
    TINY_CONFIG,
    TINY_WEIGHTS_NAME,
    build_tiny_bert_tokenizer,
    build_tiny_model,
    write_tiny_checkpoint,
)
from indexer.encoders.internvideo2.vision import sincos_pos_embed_3d


def official_retrieval_keys(config: InternVideo2Config) -> set[str]:
    """Key names of the retrieval parts, spelled out from the official PretrainInternVideo2 / xbert code."""
    keys = {"vision_encoder.cls_token", "vision_encoder.pos_embed", "vision_encoder.img_pos_embed",
            "vision_encoder.patch_embed.proj.weight", "vision_encoder.patch_embed.proj.bias",
            "vision_proj.weight", "vision_proj.bias", "text_proj.weight", "text_proj.bias"}
    for i in range(config.vision.depth):
        keys |= {f"vision_encoder.blocks.{i}.{name}" for name in (
            "norm1.weight", "attn.qkv.weight", "attn.proj.weight", "attn.proj.bias", "attn.q_norm.weight",
            "attn.k_norm.weight", "ls1.gamma", "norm2.weight", "mlp.fc1.weight", "mlp.fc1.bias",
            "mlp.fc2.weight", "mlp.fc2.bias", "ls2.gamma")}
    pool = "vision_encoder.clip_projector."
    keys |= {pool + n for n in ("norm1_q.weight", "norm1_q.bias", "norm1_k.weight", "norm1_k.bias", "norm1_v.weight",
                                "norm1_v.bias", "cross_attn.q.weight", "cross_attn.k.weight", "cross_attn.v.weight",
                                "cross_attn.q_bias", "cross_attn.k_bias", "cross_attn.v_bias",
                                "cross_attn.proj.weight", "cross_attn.proj.bias")}
    emb = "text_encoder.bert.embeddings."
    keys |= {emb + n for n in ("word_embeddings.weight", "position_embeddings.weight",
                               "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")}
    for i in range(config.text.fusion_layer):
        layer = f"text_encoder.bert.encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                     "output.dense", "output.LayerNorm"):
            keys |= {layer + part + ".weight", layer + part + ".bias"}
    return keys


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("iv2") / "InternVideo2-tiny")


@pytest.fixture(scope="module")
def encoder(checkpoint_dir: Path) -> InternVideo2Encoder:
    return load_encoder("internvideo2", path=str(checkpoint_dir), device="cpu")


def test_model_parameters_are_exactly_the_official_retrieval_keys() -> None:
    assert set(build_tiny_model().state_dict()) == official_retrieval_keys(TINY_CONFIG)


def test_default_config_is_the_stage2_1b_model() -> None:
    v, t = STAGE2_1B.vision, STAGE2_1B.text
    assert (v.embed_dim, v.depth, v.num_heads, v.patch_size, v.image_size, v.num_frames) == (1408, 40, 16, 14, 224, 4)
    assert v.mlp_hidden_dim == int(1408 * 48 / 11) and v.clip_embed_dim == 768
    assert (t.hidden_size, t.num_hidden_layers, t.fusion_layer, t.vocab_size) == (1024, 24, 19, 30522)
    assert STAGE2_1B.embed_dim == 512
    assert InternVideo2Config.from_dict(json.loads(json.dumps(STAGE2_1B.to_dict()))) == STAGE2_1B


def test_tiny_official_checkpoint_loads_with_nothing_missing_or_unexpected(checkpoint_dir: Path) -> None:
    state = read_state_dict(checkpoint_dir / TINY_WEIGHTS_NAME)  # {"module": ...} wrapper, bf16
    model = InternVideo2Stage2(TINY_CONFIG, initialize=False)
    report = load_official_state_dict(model, state, fusion_layer=TINY_CONFIG.text.fusion_layer)
    assert report.missing == [] and report.unexpected == []
    assert set(report.loaded) == official_retrieval_keys(TINY_CONFIG)
    assert any(k.startswith("text_encoder.bert.encoder.layer.2.crossattention.") for k in report.ignored)
    assert {"temp", "itm_head.weight", "text_encoder.cls.predictions.bias"} <= set(report.ignored)
    reference = build_tiny_model()
    for key in ("vision_encoder.blocks.1.attn.qkv.weight", "text_encoder.bert.encoder.layer.1.output.dense.weight"):
        torch.testing.assert_close(model.state_dict()[key], reference.state_dict()[key].bfloat16().float())


def test_unknown_or_missing_keys_are_rejected(checkpoint_dir: Path) -> None:
    state = read_state_dict(checkpoint_dir / TINY_WEIGHTS_NAME)
    model = InternVideo2Stage2(TINY_CONFIG)
    with pytest.raises(InternVideo2CheckpointError, match="1 unexpected .*vision_encoder.extra_head.weight"):
        load_official_state_dict(model, {**state, "vision_encoder.extra_head.weight": torch.zeros(1)}, fusion_layer=2)
    incomplete = {k: v for k, v in state.items() if k != "vision_proj.weight"}
    with pytest.raises(InternVideo2CheckpointError, match="1 missing .*vision_proj.weight"):
        load_official_state_dict(model, incomplete, fusion_layer=2)
    with pytest.raises(InternVideo2CheckpointError, match="vision_proj.weight has shape"):
        load_official_state_dict(model, {**state, "vision_proj.weight": torch.zeros(3, 3)}, fusion_layer=2)


def test_encoder_contract_shapes_norms_and_determinism(encoder: InternVideo2Encoder, checkpoint_dir: Path) -> None:
    assert (encoder.name, encoder.dim, encoder.frames_per_clip, encoder.frame_size) == ("internvideo2", 16, 4, 32)
    assert encoder.model_id == TINY_WEIGHTS_NAME and encoder.max_text_tokens == 16
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (5, 4, 36, 48, 3), dtype=np.uint8)
    out = encoder.encode_clips(clips)
    assert out.shape == (5, 16) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out, encoder.encode_clips(clips), atol=0)
    again = load_encoder("internvideo2", path=str(checkpoint_dir), device="cpu")
    np.testing.assert_allclose(again.encode_clips(clips), out, atol=1e-6)
    # Batching does not change results, and frame order matters (temporal position embedding).
    np.testing.assert_allclose(np.concatenate([encoder.encode_clips(clips[i:i + 1]) for i in range(5)]), out, atol=1e-5)
    assert np.abs(encoder.encode_clips(clips[:, ::-1].copy()) - out).max() > 1e-4
    assert encoder.encode_clips(np.zeros((0, 4, 32, 32, 3), np.uint8)).shape == (0, 16)
    with pytest.raises(ValueError, match="4 frames per clip"):
        encoder.encode_clips(clips[:, :3])


def test_encode_text_projects_every_token(encoder: InternVideo2Encoder) -> None:
    feats = encoder.encode_text(["A red car on the beach", "dog"])
    assert feats[0].tokens.shape == (8, 16)  # [CLS] a red car on the beach [SEP]
    assert feats[1].tokens.shape == (3, 16)
    for f in feats:
        assert f.tokens.dtype == np.float32 and f.pooled.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(f.pooled), 1.0, atol=1e-5)
        # pooled is the normalised projection of [CLS], the first token.
        np.testing.assert_allclose(f.pooled, f.tokens[0] / np.linalg.norm(f.tokens[0]), atol=1e-5)
    alone = encoder.encode_text(["dog"])[0]
    np.testing.assert_allclose(alone.tokens, feats[1].tokens, atol=1e-5)
    with pytest.warns(UserWarning, match="truncated"):
        assert encoder.encode_text(["dog " * 40])[0].tokens.shape == (16, 16)


def test_from_model_matches_checkpoint_load(encoder: InternVideo2Encoder) -> None:
    direct = InternVideo2Encoder.from_model(build_tiny_model(), build_tiny_bert_tokenizer(), model_id="x",
                                            device="cpu")
    clips = np.random.default_rng(3).integers(0, 256, (2, 4, 32, 32, 3), dtype=np.uint8)
    # The checkpoint is bf16, so only bf16 rounding separates the two.
    np.testing.assert_allclose(direct.encode_clips(clips), encoder.encode_clips(clips), atol=0.05)


def test_sincos_position_embedding_layout() -> None:
    table = sincos_pos_embed_3d(32, grid=2, frames=3)
    assert table.shape == (1, 1 + 3 * 4, 32)
    assert torch.all(table[0, 0] == 0)
    # Temporal quarter: equal within a frame, different across frames; spatial part repeats per frame.
    assert torch.equal(table[0, 1, :8], table[0, 4, :8]) and not torch.equal(table[0, 1, :8], table[0, 5, :8])
    assert torch.equal(table[0, 1:5, 8:], table[0, 5:9, 8:])


@pytest.mark.parametrize("layout", ["empty-dir", "two-files", "bad-file", "missing"])
def test_bad_checkpoint_paths_give_one_clear_message(tmp_path: Path, checkpoint_dir: Path, layout: str) -> None:
    target = tmp_path / "weights"
    if layout == "empty-dir":
        target.mkdir()
        expected = "no InternVideo2 weights .* in .*hf auth login"
    elif layout == "two-files":
        target.mkdir()
        (target / "a.pt").write_bytes(b"x")
        (target / "b.pt").write_bytes(b"x")
        expected = "several weight files"
    elif layout == "bad-file":
        target = tmp_path / "broken.pt"
        target.write_bytes(b"not a checkpoint")
        expected = "cannot read .*broken.pt"
    else:
        expected = "not found at .*--encoder-path DIR"
    with pytest.raises(InternVideo2CheckpointError, match=expected) as info:
        load_encoder("internvideo2", path=str(target), device="cpu")
    assert "\n" not in str(info.value)


def test_hub_download_failure_explains_access(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InternVideo2CheckpointError, match="InternVideo2-Stage2_1B-224p-f4.*HF_TOKEN"):
        load_encoder("internvideo2", device="cpu")


def test_config_file_selects_the_size(tmp_path: Path, checkpoint_dir: Path) -> None:
    (tmp_path / TINY_WEIGHTS_NAME).write_bytes((checkpoint_dir / TINY_WEIGHTS_NAME).read_bytes())
    # Without internvideo2_config.json the 1B default is assumed and the shapes cannot match.
    with pytest.raises(InternVideo2CheckpointError, match=f"has shape .*{CONFIG_FILENAME}"):
        load_encoder("internvideo2", path=str(tmp_path / TINY_WEIGHTS_NAME), device="cpu")


def test_vsearch_index_with_a_tiny_official_checkpoint(tmp_path: Path, checkpoint_dir: Path) -> None:
    from typer.testing import CliRunner

    from indexer.videogen import Segment, write_video
    from vsearch.cli import app

    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "a.mp4", [Segment(3, (200, 0, 0)), Segment(3, (0, 0, 200))], fps=8, size=(64, 48))
    library = tmp_path / "library"
    result = CliRunner().invoke(app, ["index", str(tmp_path / "videos"), "--library", str(library),
                                      "--encoder", "internvideo2", "--encoder-path", str(checkpoint_dir),
                                      "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["clips_added"] == 3
    status = json.loads(CliRunner().invoke(app, ["status", "--library", str(library), "--json"]).stdout)
    assert status["encoder"]["name"] == "internvideo2" and status["encoder"]["dim"] == 16
    assert status["clips"] == status["vectors"] == 3
    # The query must reload the same local weights (not the gated hub default).
    query = CliRunner().invoke(app, ["query", "a red square", "--library", str(library), "--device", "cpu", "--json"])
    assert query.exit_code == 0, query.output
    assert json.loads(query.stdout)["results"][0]["path"].endswith("a.mp4")
