"""InterVid-MR pseudo-labels: each equation on hand-made similarities, trimming, captions, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from grounding.captions import parse_timestamp, read_captions
from grounding.data.annotations import AnnotationError, load_annotations
from grounding.pseudo_label import (
    PseudoLabelConfig,
    caption_clips,
    clip_similarity,
    positive_runs,
    pseudo_label,
    saliency_grades,
    segment_vid,
    similarity_threshold,
    to_row,
    trim_segment,
)
from indexer.videogen import Segment, write_video
from vsearch.cli import app


def unit_vectors_with_cosines(cosines: np.ndarray) -> np.ndarray:
    """2-D unit clip features whose cosine with the text ``[1, 0]`` is exactly ``cosines``."""
    angles = np.arccos(np.asarray(cosines, dtype=np.float64))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def test_eq10_cosine_similarity_ignores_scale() -> None:
    clips = np.array([[3.0, 4.0], [0.0, 2.0], [-1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(clip_similarity(clips, np.array([0.0, 5.0])), [0.8, 1.0, 0.0, 0.0], atol=1e-7)


def test_eq11_threshold_is_mean_minus_k_std_inside_the_caption() -> None:
    sims = np.array([0.1, 0.2, 0.5, 0.6, 0.7, 0.2])
    std = np.sqrt(((0.5 - 0.6) ** 2 + 0 + (0.7 - 0.6) ** 2) / 3)  # population std of clips 2..4
    assert similarity_threshold(sims, np.array([2, 3, 4])) == pytest.approx(0.6 - 3 * std)
    assert similarity_threshold(sims, np.array([2, 3, 4]), threshold_std=0.0) == pytest.approx(0.6)
    assert similarity_threshold(sims, np.array([3])) == pytest.approx(0.6)  # one clip: std 0
    with pytest.raises(ValueError, match="covers no clip"):
        similarity_threshold(sims, np.array([], dtype=np.int64))


def test_positive_runs_are_maximal_runs_at_or_above_the_threshold() -> None:
    sims = np.array([0.4, 0.1, 0.5, 0.6, 0.1, 0.355, 0.36])
    assert positive_runs(sims, 0.355) == [(0, 1), (2, 4), (5, 7)]
    assert positive_runs(sims, 0.9) == []
    assert positive_runs(np.full(4, 0.2), 0.2) == [(0, 4)]


def test_eq12_grades_by_mu_and_k_sigma_bands() -> None:
    s = np.array([-3.0, -1.0, 1.0, 3.0])  # mu 0, sigma sqrt(5) = 2.236
    assert saliency_grades(s, grade_std=1.0).tolist() == [1, 2, 3, 4]
    assert saliency_grades(s, grade_std=1.5).tolist() == [2, 2, 3, 3]  # bands at +-3.354
    assert saliency_grades(np.array([0.0, 0.0, 5.0, 5.0]), 1.0).tolist() == [2, 2, 4, 4]  # mu 2.5 sigma 2.5
    # sigma = 0 (one positive clip, or all equal): every s equals mu + k sigma, the top band.
    assert saliency_grades(np.array([0.7])).tolist() == [4]
    assert saliency_grades(np.array([0.7, 0.7, 0.7])).tolist() == [4, 4, 4]
    assert saliency_grades(np.array([])).shape == (0,)


def test_caption_clips_and_segment_trimming() -> None:
    assert caption_clips(100.0, 110.0, 100, 2.0).tolist() == [50, 51, 52, 53, 54]
    assert caption_clips(101.5, 102.0, 100, 2.0).tolist() == [50]  # shorter than half a clip: its midpoint's clip
    assert caption_clips(300.0, 310.0, 100, 2.0).tolist() == []
    assert trim_segment(50, 54, 100, 75) == (15, 90)   # centred: 37.5 clips each side of 52.5
    assert trim_segment(0, 3, 100, 75) == (0, 75)      # shifted at the start
    assert trim_segment(97, 99, 100, 75) == (25, 100)  # and at the end
    assert trim_segment(3, 5, 10, 75) == (0, 10)       # video shorter than the window
    with pytest.raises(ValueError, match="more than the 75-clip window"):
        trim_segment(0, 80, 100, 75)


def test_pseudo_label_end_to_end_on_designed_similarities() -> None:
    cosines = np.zeros(100)
    cosines[50:55] = [0.8, 0.9, 0.9, 0.9, 0.8]   # the caption's clips (100-110 s)
    cosines[46:50] = [0.4, 0.75, 0.8, 0.85]      # the moment really starts earlier ...
    cosines[70:72] = 0.9                         # ... and recurs later in the segment
    cosines[95:] = 0.95                          # outside the 150 s segment: ignored
    label = pseudo_label(unit_vectors_with_cosines(cosines), np.array([1.0, 0.0]), 100.0, 110.0)
    assert label.segment == (15, 90) and label.duration == 150.0
    inside = cosines[50:55]
    assert label.s_min == pytest.approx(inside.mean() - 3 * inside.std(), abs=1e-6)  # 0.86 - 3 * 0.049 = 0.713
    expected_ids = [47, 48, 49, 50, 51, 52, 53, 54, 70, 71]
    assert (label.relevant_clip_ids + 15).tolist() == expected_ids
    np.testing.assert_allclose(label.windows, [[64.0, 80.0], [110.0, 114.0]])  # segment starts at 30 s
    positives = cosines[expected_ids]
    mu, sigma = positives.mean(), positives.std()
    expected_grades = np.where(positives < mu - 1.5 * sigma, 1, np.where(positives < mu, 2,
                               np.where(positives < mu + 1.5 * sigma, 3, 4)))
    assert label.grades.tolist() == expected_grades.tolist()
    # By hand: mu 0.85, sigma 0.0548, bands at 0.768 / 0.85 / 0.932.
    assert label.grades.tolist() == [1, 2, 3, 2, 3, 3, 3, 2, 3, 3]

    vid = segment_vid("yt123", label, 2.0)
    assert vid == "yt123_30_180"
    row = to_row(7, "a caption", vid, label)
    assert row["relevant_clip_ids"] == [i - 15 for i in expected_ids]
    assert row["saliency_scores"] == [[g, g, g] for g in expected_grades.tolist()]
    assert row["relevant_windows"] == [[64.0, 80.0], [110.0, 114.0]]


def test_partial_last_clip_and_unlabellable_captions() -> None:
    feats = unit_vectors_with_cosines(np.array([0.1, 0.2, 0.9, 0.95]))
    label = pseudo_label(feats, np.array([1.0, 0.0]), 5.0, 7.0, video_duration=7.0)
    assert label.segment == (0, 4) and label.duration == 7.0
    assert label.windows.tolist()[-1][1] == 7.0  # the last window ends with the video, not the clip grid
    with pytest.raises(ValueError, match="past the video"):
        pseudo_label(feats, np.array([1.0, 0.0]), 20.0, 30.0)
    with pytest.raises(ValueError, match="window"):
        pseudo_label(feats, np.array([1.0, 0.0]), 0.0, 8.0, PseudoLabelConfig(window_seconds=4.0))


def test_read_captions_accepts_internvid_fields(tmp_path: Path) -> None:
    path = tmp_path / "caps.jsonl"
    path.write_text(
        json.dumps({"YoutubeID": "abc", "Start_timestamp": "00:01:02.500", "End_timestamp": "00:01:10.000",
                    "Caption": "a dog runs"}) + "\n"
        + json.dumps({"video": "xyz", "caption": "rain", "start": 3, "end": 4.5}) + "\n")
    caps = read_captions(path)
    assert [(c.video, c.caption, c.start, c.end) for c in caps] == [("abc", "a dog runs", 62.5, 70.0),
                                                                    ("xyz", "rain", 3.0, 4.5)]
    assert parse_timestamp("1:05") == 65.0
    path.write_text(json.dumps({"video": "x", "caption": "c", "start": 5, "end": 2}) + "\n")
    with pytest.raises(AnnotationError, match="caps.jsonl:1: need 0 <= start < end"):
        read_captions(path)


def test_command_from_videos_writes_trainable_rows(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "clipA.mp4", [Segment(4, (200, 40, 40)), Segment(6, (40, 40, 200))],
                fps=8, size=(64, 48))
    (tmp_path / "caps.jsonl").write_text(
        json.dumps({"video": "clipA", "caption": "something red", "start": 0.0, "end": 4.0}) + "\n"
        + json.dumps({"video": "nothere", "caption": "ghost", "start": 0.0, "end": 4.0}) + "\n")
    args = ["pseudo-label", "--captions", str(tmp_path / "caps.jsonl"), "--out", str(tmp_path / "out.jsonl"),
            "--features", str(tmp_path / "feats"), "--videos", str(tmp_path / "videos"),
            "--out-video", str(tmp_path / "seg_video"), "--out-text", str(tmp_path / "seg_text"),
            "--encoder", "tiny", "--device", "cpu", "--first-qid", "100", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 1 and summary["extraction"]["videos_written"] == 1
    assert summary["skipped"][0]["video"] == "nothere"
    (annotation,) = load_annotations(tmp_path / "out.jsonl", clip_seconds=2.0)
    assert annotation.qid == 100 and annotation.vid == "clipA_0_10" and annotation.graded
    # The caption's clips (0-4 s, red) clear their own threshold.
    assert {0, 1} <= set(annotation.relevant_clip_ids.tolist())
    assert np.all((annotation.saliency_scores >= 1) & (annotation.saliency_scores <= 4))
    full = np.load(tmp_path / "feats" / "clipA.npz")["features"]
    np.testing.assert_array_equal(np.load(tmp_path / "seg_video" / "clipA_0_10.npz")["features"], full)
    assert np.load(tmp_path / "seg_text" / "qid100.npz")["last_hidden_state"].shape[1] == 32
    # Same encoder, same features folder: a rerun reuses the extracted features.
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert again["extraction"]["videos_written"] == 0 and again["extraction"]["videos_skipped"] == 1
