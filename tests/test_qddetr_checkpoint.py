"""Checkpoints: safetensors round trip, config tree round trip, mismatch errors, training-state resume data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from grounding.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    CheckpointMismatchError,
    config_of,
    load_checkpoint,
    load_training_state,
    read_meta,
    save_checkpoint,
    save_training_state,
)
from grounding.config_tree import ConfigError, override, to_dict
from grounding.models import build_model, preset
from grounding.optim import build_optimizer

ENCODER = {"spec": "tiny", "name": "tiny", "model_id": "tiny-seed0", "dim": 12, "clip_seconds": 2.0}


def _config():
    cfg = preset("qd_detr", "tiny")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, video_dim=12, text_dim=10))


def _save(tmp_path: Path):
    cfg = _config()
    torch.manual_seed(0)
    model = build_model("qd_detr", cfg)
    meta = CheckpointMeta(model="qd_detr", config=to_dict(cfg), video_dim=12, text_dim=10, clip_seconds=2.0,
                          encoder=ENCODER, epoch=3, metrics={"MR-full-mAP": 12.5})
    save_checkpoint(tmp_path, model, meta)
    return model, cfg


def test_round_trip_restores_weights_config_and_meta(tmp_path: Path) -> None:
    model, cfg = _save(tmp_path)
    loaded, meta = load_checkpoint(tmp_path)
    assert not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert config_of(meta) == cfg
    assert (meta.epoch, meta.metrics, meta.encoder, meta.max_clips, meta.temporal_endpoints) == (3, {"MR-full-mAP": 12.5}, ENCODER, 75, True)
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "qd_detr"


def test_mismatched_features_name_both_sides(tmp_path: Path) -> None:
    _save(tmp_path)
    meta = read_meta(tmp_path)
    meta.check_features(video_dim=12, text_dim=10, encoder=dict(ENCODER, spec="other-spec"))
    with pytest.raises(CheckpointMismatchError, match="dim 12.*dim 512"):
        meta.check_features(video_dim=512)
    with pytest.raises(CheckpointMismatchError, match="dim 10.*dim 768"):
        meta.check_features(text_dim=768)
    with pytest.raises(CheckpointMismatchError, match=r"tiny \(tiny-seed0, dim 12\).*clip \(openai/clip, dim 12\)"):
        meta.check_features(encoder={"name": "clip", "model_id": "openai/clip", "dim": 12})


def test_unreadable_run_directories_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="missing config.json"):
        read_meta(tmp_path)
    _save(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_meta(tmp_path)


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    _save(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["config"]["model"]["num_queries"] = 7
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises((CheckpointError, RuntimeError)):
        load_checkpoint(tmp_path)


def test_config_overrides_are_typed_and_strict() -> None:
    cfg = _config()
    changed = override(cfg, {"optim": {"lr": 1, "lr_milestones": [3, 5]}, "loss": {"span": 2}})
    assert changed.optim.lr == 1.0 and changed.optim.lr_milestones == (3, 5) and changed.loss.span == 2.0
    assert changed.model == cfg.model
    with pytest.raises(ConfigError, match=r"config.optim: unknown key 'learning_rate'"):
        override(cfg, {"optim": {"learning_rate": 1e-3}})
    with pytest.raises(ConfigError, match=r"config.model.num_queries: expected an integer"):
        override(cfg, {"model": {"num_queries": "ten"}})


def test_training_state_restores_optimizer_and_rng(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = _config()
    model = build_model("qd_detr", cfg)
    optimizer = build_optimizer(model, cfg.optim)
    model(torch.randn(2, 5, 14), torch.ones(2, 5, dtype=torch.bool), torch.randn(2, 3, 10),
          torch.ones(2, 3, dtype=torch.bool))["pred_spans"].sum().backward()
    optimizer.step()
    save_training_state(tmp_path, optimizer, {"epoch": 4})
    expected_draw = torch.rand(3)
    fresh = build_optimizer(model, cfg.optim)
    assert load_training_state(tmp_path, fresh) == {"epoch": 4}
    assert torch.equal(torch.rand(3), expected_draw)
    before, after = optimizer.state_dict()["state"], fresh.state_dict()["state"]
    assert list(before) == list(after)
    for index, state in before.items():
        assert all(torch.equal(torch.as_tensor(state[k]), torch.as_tensor(after[index][k])) for k in state)
    with pytest.raises(CheckpointError, match="no training state"):
        load_training_state(tmp_path / "nothing", fresh)
