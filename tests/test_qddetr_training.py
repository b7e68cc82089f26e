"""Training end to end on generated data: QD-DETR learns, beats the training-free baseline, is
deterministic for a seed, resumes exactly, and the CLI wraps it with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from grounding.checkpoint import read_meta
from grounding.config_tree import override
from grounding.data.annotations import load_annotations
from grounding.data.dataset import GroundingDataset
from grounding.data.features import FeatureConfig, FeatureStore
from grounding.data.synthetic import make_synthetic_dataset
from grounding.models import preset
from grounding.predictor import WindowPrediction, submission_row
from grounding.trainer import FeatureSource, Trainer, evaluate_rows


def _splits(dataset, config):
    train = load_annotations(dataset.train, clip_seconds=dataset.clip_seconds)
    val = load_annotations(dataset.val, clip_seconds=dataset.clip_seconds)
    store = FeatureStore(FeatureConfig(video_dirs=(dataset.video_dir,), text_dir=dataset.text_dir))
    store.prepare([a.vid for a in train + val], [a.qid for a in train + val])
    train_set = GroundingDataset(train, store, config.data, train=True, seed=config.optim.seed)
    return train_set, GroundingDataset(val, store, config.data), store


def _trainer(dataset, config, run_dir: Path) -> Trainer:
    train_set, val_set, store = _splits(dataset, config)
    source = FeatureSource(store.video_dim, store.text_dim, dataset.clip_seconds)
    return Trainer(model_name="qd_detr", config=config, train_set=train_set, val_set=val_set, run_dir=run_dir,
                   source=source, progress=False)


def _cosine_baseline(val_set: GroundingDataset) -> dict[str, float]:
    """The product's training-free grounding: clip-query cosine, moments from thresholded runs."""
    from search.training_free import TrainingFreeGrounder

    grounder = TrainingFreeGrounder()
    rows = []
    for annotation in val_set.annotations:
        clips = val_set.features.video(annotation.vid)[: val_set.config.max_clips]
        query = val_set.features.text(annotation.qid).mean(axis=0)
        found = grounder.predict([clips], query / np.linalg.norm(query), annotation.clip_seconds)[0]
        prediction = WindowPrediction(spans=found.spans, scores=found.scores, saliency=found.saliency)
        rows.append(submission_row(annotation.qid, annotation.query, annotation.vid, annotation.num_clips, prediction))
    return evaluate_rows(rows, val_set.annotations)


def test_label_loss_is_the_mean_over_all_queries_as_in_qd_detr() -> None:
    """QD-DETR averages the class-weighted CE over every query, not over the sum of the class weights."""
    from grounding.models.qd_detr import build_criterion

    criterion = build_criterion(preset("qd_detr", "tiny"))
    outputs = {"pred_logits": torch.zeros(2, 4, 2)}  # every query: CE = ln 2 for either class
    indices = [(torch.tensor([1]), torch.tensor([0])), (torch.tensor([0, 3]), torch.tensor([1, 0]))]
    # weights: 1 for the 3 matched queries, eos 0.1 for the other 5, divided by all 8 queries
    expected = np.log(2) * (3 * 1.0 + 5 * 0.1) / 8
    assert criterion.loss_label(outputs, None, indices).item() == pytest.approx(expected, rel=1e-6)


def test_qd_detr_learns_and_beats_the_training_free_baseline_on_hd(tmp_path: Path) -> None:
    dataset = make_synthetic_dataset(tmp_path / "data", n_videos=160, seed=0)
    config = preset("qd_detr", "tiny")
    trainer = _trainer(dataset, config, tmp_path / "run")
    result = trainer.fit()
    baseline = _cosine_baseline(trainer.val_set)
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < 0.5 * first["loss"]
    assert last["HL-min-VeryGood-mAP"] > baseline["HL-min-VeryGood-mAP"] + 8
    assert last["HL-min-VeryGood-Hit1"] > baseline["HL-min-VeryGood-Hit1"] + 15
    # MR: the span head learns (x3 over the first epoch) but does not reliably beat the cosine baseline
    # at this budget: final val MR mAP is 34.7 / 12.6 / 27.7 for training seeds 2018 (the preset's) / 1 / 2
    # against 27.6 (README, "Measured"), so asserting a win here would only pin a lucky seed.
    assert last["MR-full-mAP"] > 3 * first["MR-full-mAP"]
    best = max(result.history, key=lambda r: r["MR-full-mAP"])
    assert read_meta(tmp_path / "run").metrics["MR-full-mAP"] == best["MR-full-mAP"] == result.best_metrics["MR-full-mAP"]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("small"), n_videos=14, video_dim=16, text_dim=16, seed=1)


def _small_config(epochs: int, seed: int = 0):
    return override(preset("qd_detr", "tiny"), {
        "model": {"hidden_dim": 32, "dim_feedforward": 64, "dropout": 0.1},
        "optim": {"epochs": epochs, "batch_size": 4, "seed": seed},
    })


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run_dir / "last" / "model.safetensors")


def test_same_seed_same_weights_and_resume_continues_exactly(small_data, tmp_path: Path) -> None:
    _trainer(small_data, _small_config(2), tmp_path / "a").fit()
    _trainer(small_data, _small_config(2), tmp_path / "b").fit()
    _trainer(small_data, _small_config(2, seed=5), tmp_path / "c").fit()
    _trainer(small_data, _small_config(1), tmp_path / "r").fit()
    config = _small_config(2)
    train_set, val_set, _ = _splits(small_data, config)
    resumed = Trainer.resume(tmp_path / "r", train_set=train_set, val_set=val_set, epochs=2, progress=False).fit()
    a, b, c, r = (_weights(tmp_path / n) for n in "abcr")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert all(torch.equal(a[k], r[k]) for k in a)
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    assert len((tmp_path / "r" / "history.jsonl").read_text().splitlines()) == 2


def test_init_from_another_run_copies_its_weights(small_data, tmp_path: Path) -> None:
    from grounding.checkpoint import CheckpointError, load_checkpoint

    _trainer(small_data, _small_config(1), tmp_path / "base").fit()
    config = _small_config(1, seed=9)
    train_set, val_set, store = _splits(small_data, config)
    source = FeatureSource(store.video_dim, store.text_dim, small_data.clip_seconds)
    trainer = Trainer(model_name="qd_detr", config=config, train_set=train_set, val_set=val_set,
                      run_dir=tmp_path / "tuned", source=source, progress=False, init_from=tmp_path / "base")
    base, _ = load_checkpoint(tmp_path / "base")
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), trainer.model.state_dict().values()))
    wider = FeatureSource(store.video_dim + 1, store.text_dim, small_data.clip_seconds)
    with pytest.raises(CheckpointError, match="dim 16, the training features have dim 17"):
        Trainer(model_name="qd_detr", config=config, train_set=train_set, val_set=val_set, run_dir=tmp_path / "x",
                source=wider, progress=False, init_from=tmp_path / "base")


def test_cli_train_predict_and_errors(small_data, tmp_path: Path) -> None:
    from vsearch.cli import app

    runner = CliRunner()
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"model": {"hidden_dim": 32, "dim_feedforward": 64}}))
    features = ["--video-features", str(small_data.video_dir), "--text-features", str(small_data.text_dir)]
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--model", "qd_detr", "--preset", "tiny", "--config", str(config_file),
                                 "--train", str(small_data.train), "--val", str(small_data.val), *features,
                                 "--out", str(run), "--epochs", "1", "--batch-size", "4", "--device", "cpu",
                                 "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["best_epoch"] == 0 and "MR-full-mAP" in summary["metrics"]
    meta = read_meta(run)
    assert (meta.model, meta.video_dim, meta.text_dim, meta.config["model"]["hidden_dim"]) == ("qd_detr", 16, 16, 32)

    preds = tmp_path / "preds.jsonl"
    result = runner.invoke(app, ["predict", "--checkpoint", str(run), "--annotations", str(small_data.val), *features,
                                 "--out", str(preds), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    val = load_annotations(small_data.val)
    assert [r["qid"] for r in rows] == [a.qid for a in val]
    for row, annotation in zip(rows, val):
        scores = [w[2] for w in row["pred_relevant_windows"]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 10
        assert len(row["pred_saliency_scores"]) == annotation.num_clips
    assert json.loads(result.stdout)["metrics"]["MR-full-mAP"] >= 0

    other = make_synthetic_dataset(tmp_path / "other", n_videos=4, video_dim=8, text_dim=16, seed=2)
    result = runner.invoke(app, ["predict", "--checkpoint", str(run), "--annotations", str(other.val),
                                 "--video-features", str(other.video_dir), "--text-features", str(other.text_dir),
                                 "--out", str(tmp_path / "x.jsonl"), "--device", "cpu"])
    assert result.exit_code == 2
    assert "dim 16" in result.output and "dim 8" in result.output and "Traceback" not in result.output

    result = runner.invoke(app, ["train", "--model", "qd_detr", "--config", str(tmp_path / "missing.json"),
                                 "--train", str(small_data.train), "--val", str(small_data.val), *features,
                                 "--out", str(tmp_path / "run2")])
    assert result.exit_code == 2 and "config file not found" in result.output
    result = runner.invoke(app, ["train", "--model", "nope", "--train", str(small_data.train), "--val",
                                 str(small_data.val), *features, "--out", str(tmp_path / "run3")])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output


def test_encoder_identity_is_recorded_and_enforced(tmp_path: Path) -> None:
    from vsearch.cli import app

    data = make_synthetic_dataset(tmp_path / "data", n_videos=6, video_dim=16, text_dim=16, seed=4)
    meta_file = data.video_dir / "features_meta.json"
    identity = {"spec": "tiny", "name": "tiny", "model_id": "tiny-a", "dim": 16, "clip_seconds": 2.0}
    meta_file.write_text(json.dumps({"kind": "video", "key": "features", "encoder": identity}))
    features = ["--video-features", str(data.video_dir), "--text-features", str(data.text_dir)]
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--model", "qd_detr", "--preset", "tiny", "--train", str(data.train),
                                 "--val", str(data.val), *features, "--out", str(tmp_path / "run"), "--epochs", "1",
                                 "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_meta(tmp_path / "run").encoder == identity
    other = dict(identity, name="clip", model_id="openai/clip-vit-base-patch32")
    meta_file.write_text(json.dumps({"kind": "video", "key": "features", "encoder": other}))
    result = runner.invoke(app, ["predict", "--checkpoint", str(tmp_path / "run"), "--annotations", str(data.val),
                                 *features, "--out", str(tmp_path / "p.jsonl"), "--device", "cpu"])
    assert result.exit_code == 2
    assert "tiny (tiny-a, dim 16)" in result.output and "clip (openai/clip-vit-base-patch32, dim 16)" in result.output


def test_train_defaults_to_sg_detr(small_data, tmp_path: Path) -> None:
    from vsearch.cli import app

    features = ["--video-features", str(small_data.video_dir), "--text-features", str(small_data.text_dir)]
    result = CliRunner().invoke(app, ["train", "--preset", "tiny", "--train", str(small_data.train), "--val",
                                      str(small_data.val), *features, "--out", str(tmp_path / "run"), "--epochs", "1",
                                      "--batch-size", "4", "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_meta(tmp_path / "run").model == "sg_detr"
