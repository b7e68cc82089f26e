"""grounding.data: annotations, features, dataset + collate, synthetic generator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from grounding.data.annotations import (
    AnnotationError,
    derive_binary_saliency,
    load_annotations,
    parse_annotation,
    to_row,
)
from grounding.data.dataset import (
    DatasetConfig,
    GroundingDataset,
    collate,
    sample_saliency_pairs,
    windows_to_spans,
)
from grounding.data.features import FeatureConfig, FeatureError, FeatureStore, add_temporal_endpoints
from grounding.data.synthetic import make_synthetic_dataset

from tests.shared_data import SHARED_DATA

DATA = SHARED_DATA
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared annotation files not available")


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _qvh_row(qid: int = 1, vid: str = "v1", **extra: object) -> dict:
    row = {
        "qid": qid,
        "query": "a dog runs",
        "duration": 20,
        "vid": vid,
        "relevant_windows": [[4, 10]],
        "relevant_clip_ids": [2, 3, 4],
        "saliency_scores": [[1, 2, 3], [4, 4, 4], [0, 0, 3]],
    }
    row.update(extra)
    return row


# -- annotations ---------------------------------------------------------------------------------


@needs_data
def test_real_qvhighlights_val_loads_with_graded_saliency() -> None:
    rows = load_annotations(DATA / "qvhighlights/highlight_val_release.jsonl")
    assert len(rows) == 1550
    first = rows[0]
    assert first.qid == 2579 and first.graded and first.num_clips == 75
    saliency = first.clip_saliency()
    assert saliency.shape == (75,) and saliency[:41].sum() == 0
    np.testing.assert_allclose(saliency[41], (1 + 1 + 2) / 3)
    assert first.annotator_labels().shape == (75, 3)


@needs_data
def test_real_test_release_without_labels_loads_unlabelled() -> None:
    rows = load_annotations(DATA / "qvhighlights/highlight_test_release.jsonl")
    assert len(rows) == 1542 and not any(r.labelled for r in rows)


@needs_data
def test_charades_and_tacos_get_derived_binary_saliency() -> None:
    charades = load_annotations(DATA / "charades_sta/charades_sta_test_tvr_format.jsonl", clip_seconds=1.0)
    first = charades[0]  # window [24.3, 30.4] in a 30.96 s video
    assert not first.graded
    assert first.relevant_clip_ids.tolist() == [24, 25, 26, 27, 28, 29]
    tacos = load_annotations(DATA / "tacos/test.jsonl")
    assert tacos[0].qid == "s30-d52_0" and len(tacos[0].windows) == 1


def test_derive_binary_saliency_needs_more_than_half_overlap() -> None:
    # clip 0 [0,2) overlaps [1.0, 5.0] by exactly 1 s (= half) -> out; clip 2 [4,6) by 1 s -> out
    assert derive_binary_saliency(np.array([[1.0, 5.0]]), 10, 2.0).tolist() == [1]
    assert derive_binary_saliency(np.array([[0.9, 5.1]]), 10, 2.0).tolist() == [0, 1, 2]
    # several windows, trailing partial clip counts
    assert derive_binary_saliency(np.array([[0, 1.5], [7.5, 9.5]]), 9.5, 2.0).tolist() == [0, 4]


def test_bad_annotation_files_name_the_line(tmp_path: Path) -> None:
    good = json.dumps(_qvh_row())
    with pytest.raises(AnnotationError, match=r"bad\.jsonl:2: not valid JSON"):
        load_annotations(_write_lines(tmp_path / "bad.jsonl", [good, "{nope"]))
    with pytest.raises(AnnotationError, match=r":1: missing key 'vid'"):
        load_annotations(_write_lines(tmp_path / "k.jsonl", [json.dumps({"qid": 1, "duration": 3})]))
    with pytest.raises(AnnotationError, match=r":2: qid 1 already appears on line 1"):
        load_annotations(_write_lines(tmp_path / "d.jsonl", [good, good]))
    with pytest.raises(AnnotationError, match="3 relevant_clip_ids but saliency_scores of shape"):
        parse_annotation(_qvh_row(saliency_scores=[[1, 1, 1]]), clip_seconds=2.0)
    with pytest.raises(AnnotationError, match="no such file"):
        load_annotations(tmp_path / "missing.jsonl")


def test_to_row_round_trips() -> None:
    row = _qvh_row()
    again = parse_annotation(to_row(parse_annotation(row, clip_seconds=2.0)), clip_seconds=2.0)
    assert again.relevant_clip_ids.tolist() == [2, 3, 4]
    np.testing.assert_array_equal(again.saliency_scores, row["saliency_scores"])


# -- features ------------------------------------------------------------------------------------


def _feature_dirs(tmp_path: Path, lengths: dict[str, int], dims: tuple[int, ...] = (6, 4), dt: int = 5):
    rng = np.random.default_rng(0)
    video_dirs = []
    for d, dim in enumerate(dims):
        directory = tmp_path / f"v{d}"
        directory.mkdir()
        for vid, length in lengths.items():
            np.savez(directory / f"{vid}.npz", features=rng.normal(size=(length + d, dim)) * 3)
        video_dirs.append(directory)
    text_dir = tmp_path / "t"
    text_dir.mkdir()
    return tuple(video_dirs), text_dir, rng


def test_video_dirs_are_normalised_each_then_concatenated_to_min_length(tmp_path: Path) -> None:
    video_dirs, text_dir, _ = _feature_dirs(tmp_path, {"a": 7})
    store = FeatureStore(FeatureConfig(video_dirs, text_dir))
    feats = store.video("a")
    assert feats.shape == (7, 10) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats[:, :6], axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats[:, 6:], axis=1), 1, rtol=1e-5)
    assert store.video_dim == 10


def test_missing_file_and_disagreeing_dims_are_named(tmp_path: Path) -> None:
    video_dirs, text_dir, rng = _feature_dirs(tmp_path, {"a": 5, "b": 5})
    np.savez(text_dir / "qid1.npz", last_hidden_state=rng.normal(size=(3, 5)))
    np.savez(text_dir / "qid2.npz", last_hidden_state=rng.normal(size=(3, 7)))
    store = FeatureStore(FeatureConfig(video_dirs, text_dir))
    with pytest.raises(FeatureError, match=r"missing video feature file .*v0/zz\.npz"):
        store.prepare(["zz"], [1])
    with pytest.raises(FeatureError, match=r"qid2\.npz: feature dim 7 disagrees with 5"):
        store.prepare(["a"], [1, 2])
    np.savez(video_dirs[0] / "c.npz", features=rng.normal(size=(5, 6)))
    np.savez(video_dirs[1] / "c.npz", features=rng.normal(size=(5, 9)))
    with pytest.raises(FeatureError, match=r"v1/c\.npz: feature dim 9 disagrees with 4"):
        store.video("c")
    with pytest.raises(FeatureError, match="video features have dim 10 .* but the checkpoint expects 12"):
        store.check_dims(video_dim=12, text_dim=5)
    np.savez(text_dir / "qid3.npz", wrong=np.ones((2, 5)))
    with pytest.raises(FeatureError, match=r"qid3\.npz: no array 'last_hidden_state' \(has wrong\)"):
        store.text(3)


def test_prepare_preloads_only_within_budget(tmp_path: Path) -> None:
    video_dirs, text_dir, rng = _feature_dirs(tmp_path, {"a": 5})
    np.savez(text_dir / "qid1.npz", last_hidden_state=rng.normal(size=(3, 5)))
    small = FeatureStore(FeatureConfig(video_dirs, text_dir, memory_budget_bytes=10))
    assert small.prepare(["a"], [1]) is False
    big = FeatureStore(FeatureConfig(video_dirs, text_dir, memory_budget_bytes=10**6))
    assert big.prepare(["a"], [1]) is True
    (video_dirs[0] / "a.npz").unlink()  # served from memory now
    np.testing.assert_allclose(np.linalg.norm(big.text(1), axis=1), 1, rtol=1e-5)
    assert big.video("a").shape == (5, 10)


def test_temporal_endpoints() -> None:
    out = add_temporal_endpoints(np.zeros((4, 3)))
    np.testing.assert_allclose(out[:, 3:], [[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1.0]])


# -- dataset + collate ---------------------------------------------------------------------------


def test_windows_to_spans_clamps_and_drops() -> None:
    spans = windows_to_spans(np.array([[10.0, 30.0], [140.0, 160.0], [200.0, 210.0]]), 150.0)
    np.testing.assert_allclose(spans, [[20 / 150, 20 / 150], [145 / 150, 10 / 150]], rtol=1e-6)


def _tiny_dataset(tmp_path: Path, rows: list[dict], length: int, **config: object) -> GroundingDataset:
    video_dirs, text_dir, rng = _feature_dirs(tmp_path, {r["vid"]: length for r in rows}, dims=(6,))
    for row in rows:
        np.savez(text_dir / f"qid{row['qid']}.npz", last_hidden_state=rng.normal(size=(3 + row["qid"], 5)))
    annotations = [parse_annotation(r, clip_seconds=2.0) for r in rows]
    store = FeatureStore(FeatureConfig(video_dirs, text_dir))
    return GroundingDataset(annotations, store, DatasetConfig(**config), train=True, seed=3)


def test_sample_and_batch_follow_the_contract(tmp_path: Path) -> None:
    rows = [_qvh_row(1, "a"), _qvh_row(2, "b", relevant_windows=[[0, 4], [8, 12], [16, 20]],
                                      relevant_clip_ids=[0, 1, 4, 5, 8], saliency_scores=[[1, 1, 1]] * 5)]
    dataset = _tiny_dataset(tmp_path, rows, length=10, max_clips=8, saliency_pairs=2)
    sample = dataset[0]
    assert sample.video_feats.shape == (8, 8)  # truncated to 8 clips, +2 endpoint dims
    np.testing.assert_allclose(sample.spans, [[7 / 16, 6 / 16]])
    np.testing.assert_allclose(sample.saliency[2:5], [2, 4, 1])
    # hard pairs: best clip (3) above worst (4); easy pairs: relevant vs outside
    assert sample.saliency_pos[:2].tolist() == [3, 2] and sample.saliency_neg[:2].tolist() == [4, 2]
    assert set(sample.saliency_pos[2:].tolist()) <= {2, 3, 4}
    assert not set(sample.saliency_neg[2:].tolist()) & {2, 3, 4}

    batch = collate([dataset[0], dataset[1]])
    assert batch.video_feats.shape == (2, 8, 8) and batch.video_mask.all()
    assert batch.text_feats.shape == (2, 5, 5)
    assert batch.text_mask.sum(1).tolist() == [4, 5] and batch.text_feats[0, 4].abs().sum() == 0
    assert batch.saliency_pos.shape == (2, 4) and batch.saliency_pos.dtype == torch.int64
    # the window [16, 20] lies beyond the 16 s kept, so it is dropped
    assert batch.targets[1]["spans"].shape == (2, 2)
    assert batch.qids == [1, 2] and batch.clip_seconds == [2.0, 2.0]
    assert batch.to("cpu").video_feats.data_ptr() == batch.video_feats.data_ptr()


def test_binary_saliency_pairs_and_truncated_away_moments() -> None:
    charades = parse_annotation({"qid": 1, "vid": "c", "duration": 30.0, "relevant_windows": [[10.0, 16.0]]},
                                clip_seconds=1.0)
    rng = np.random.default_rng(0)
    pos, neg = sample_saliency_pairs(charades, 30, 2, rng)
    assert len(pos) == len(neg) == 4
    assert set(pos.tolist()) <= set(range(10, 16)) and not set(neg.tolist()) & set(range(10, 16))
    # the moment lies beyond the 8 clips kept: no ranking signal, pos == neg
    pos, neg = sample_saliency_pairs(charades, 8, 2, rng)
    np.testing.assert_array_equal(pos, neg)
    assert pos.max() < 8


def test_sampling_is_seeded_by_epoch(tmp_path: Path) -> None:
    many = [[i * 4.0, i * 4.0 + 2] for i in range(8)]
    rows = [_qvh_row(1, "a", duration=64, relevant_windows=many, relevant_clip_ids=[2 * i for i in range(8)],
                     saliency_scores=[[2, 2, 2]] * 8)]
    dataset = _tiny_dataset(tmp_path, rows, length=32, max_windows=3)
    first = dataset[0]
    assert len(first.spans) == 3
    np.testing.assert_array_equal(first.spans, dataset[0].spans)
    draws = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        draws.add(dataset[0].spans.tobytes())
    assert len(draws) > 1


# -- synthetic -----------------------------------------------------------------------------------


def _digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            sha.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return sha.hexdigest()


def test_synthetic_dataset_is_seeded_and_in_the_public_format(tmp_path: Path) -> None:
    made = make_synthetic_dataset(tmp_path / "a", n_videos=40, video_dim=24, text_dim=16, seed=5)
    again = make_synthetic_dataset(tmp_path / "b", n_videos=40, video_dim=24, text_dim=16, seed=5)
    other = make_synthetic_dataset(tmp_path / "c", n_videos=40, video_dim=24, text_dim=16, seed=6)
    assert _digest(made.root) == _digest(again.root) != _digest(other.root)

    train, val = load_annotations(made.train), load_annotations(made.val)
    assert train and val and not {a.vid for a in train} & {a.vid for a in val}
    store = FeatureStore(FeatureConfig((made.video_dir,), made.text_dir))
    store.prepare([a.vid for a in train + val], [a.qid for a in train + val])
    assert (store.video_dim, store.text_dim) == (24, 16)
    lengths = np.array([w[1] - w[0] for a in train + val for w in a.windows])
    assert (lengths <= 10).any() and ((lengths > 10) & (lengths <= 30)).any() and (lengths > 30).any()
    assert any(len(a.windows) > 1 for a in train)
    for a in train + val:
        assert a.graded and a.saliency_scores.shape[1] == 3
        inside = np.zeros(a.num_clips, dtype=bool)
        for start, end in (a.windows / a.clip_seconds).astype(int):
            inside[start:end] = True
        assert np.flatnonzero(inside).tolist() == a.relevant_clip_ids.tolist()
        assert len(store.video(a.vid)) == a.num_clips


def test_synthetic_moments_carry_the_query_concept(tmp_path: Path) -> None:
    """In the shared space, the mean query token is closer to moment clips than to the other clips."""
    made = make_synthetic_dataset(tmp_path, n_videos=30, seed=1)
    store = FeatureStore(FeatureConfig((made.video_dir,), made.text_dir))
    gaps = []
    for a in load_annotations(made.train):
        sim = store.video(a.vid) @ store.text(a.qid).mean(axis=0)
        inside = np.isin(np.arange(len(sim)), a.relevant_clip_ids)
        gaps.append(sim[inside].mean() - sim[~inside].mean())
    assert np.mean(gaps) > 0.05 and np.mean(np.array(gaps) > 0) > 0.7
