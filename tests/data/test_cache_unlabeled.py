"""Unlabeled videos in the preprocessing cache: written without a label, read back as such, trained on
without labels, refused (one line) where labels are needed."""
import json

import numpy as np
import pytest

from sspd.data.cache import open_cache, require_labels
from sspd.data.preprocess import preprocess_dataset
from sspd.data.preprocess_config import PreprocessConfig
from sspd.data.readers import open_dataset
from sspd.data.video import read_video_frames, write_video
from sspd.data.windows import RandomWindows, SlidingWindows
from sspd.diagnostics.health_run import HealthClips
from sspd.engine.data import DataConfig, build_train_dataset, check_dataset_labels
from sspd.eval.model_eval import videos_from_cache

FPS, N, WIDTH, HEIGHT = 30.0, 30, 64, 48
# No face in these frames: the 'centre' policy crops the centred box, rows 6:42 and columns 14:50 (side 36).
CENTRE = (slice(6, 42), slice(14, 50))
CONFIG = PreprocessConfig(size=36, no_face="centre", detect_width=64, strategy="first")


def frames_of(seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(40, 200, size=(HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(N)]


@pytest.fixture
def folder(tmp_path):
    """Two unlabeled videos, one of them with a label CSV beside it (for the mixed case)."""
    root = tmp_path / "videos"
    write_video(root / "a.avi", frames_of(1), FPS)
    write_video(root / "b.avi", frames_of(2), FPS)
    t = np.arange(N) / FPS
    (root / "a.csv").write_text("time,ppg\n" + "".join(f"{x},{np.sin(7 * x)}\n" for x in t))
    return root


def test_unlabeled_entries_round_trip_and_are_reused(folder, tmp_path):
    out = tmp_path / "cache"
    summary = preprocess_dataset(open_dataset("videos", folder), out, CONFIG, workers=1)
    assert summary.done == ["a", "b"] and not summary.failed
    manifest = json.loads((out / "b" / "manifest.json").read_text())
    assert manifest["labelled"] is False and "label" not in manifest["files"]
    assert not (out / "b" / "label.npy").exists()
    videos = open_cache(out)
    assert [(v.name, v.labelled, v.n_frames) for v in videos] == [("a", False, N), ("b", False, N)]
    expected = np.stack([f[CENTRE] for f in read_video_frames(folder / "b.avi")])  # the lossless decode
    np.testing.assert_array_equal(videos[1].frames, expected)
    with pytest.raises(ValueError, match=r"b: this cached video has no label \(it was preprocessed from an "
                                         r"unlabeled video\)"):
        videos[1].label
    again = preprocess_dataset(open_dataset("videos", folder), out, CONFIG, workers=1)
    assert again.skipped == ["a", "b"] and again.done == []
    # the same videos through generic (a with its label CSV) are another input: redone, a now labelled
    labelled = preprocess_dataset(open_dataset("generic", folder, missing_labels="unlabeled"), out, CONFIG,
                                  workers=1)
    assert sorted(labelled.done) == ["a", "b"]
    a, b = open_cache(out)
    assert a.labelled and not b.labelled
    np.testing.assert_allclose(a.label, np.sin(7 * np.arange(N) / FPS), atol=1e-6)


def test_windows_carry_labels_only_when_every_video_has_one(folder, tmp_path):
    out = tmp_path / "cache"
    preprocess_dataset(open_dataset("generic", folder, missing_labels="unlabeled"), out, CONFIG, workers=1)
    mixed = RandomWindows(open_cache(out), window=8, extra_frames=1, windows_per_video=2, seed=0)
    assert mixed.labelled is False and "label" not in mixed[0] and mixed[0]["video"].shape == (3, 9, 36, 36)
    only_a = SlidingWindows(open_cache(out, names=["a"]), window=8, extra_frames=1)
    assert only_a.labelled and only_a[0]["label"].shape == (9,)
    data = DataConfig(source="cache", cache_dir=str(out), frames=8, box_size=36)
    dataset = build_train_dataset(data, seed=0)
    check_dataset_labels(dataset, objective="sspd", needs_labels=False, data=data)  # self-supervised: fine
    with pytest.raises(ValueError, match=rf"objective 'supervised' needs labels, but the cache {out} holds "
                                         "unlabeled videos: pretrain them with objective.name=sspd or sinc"):
        check_dataset_labels(dataset, objective="supervised", needs_labels=True, data=data)
    clips = HealthClips.from_dataset(dataset, seed=0, n_clips=2, seconds=0.8)  # the run's health check input
    assert clips.labels_hr is None and len(clips.frames) == 2 and clips.frames[0].shape == (25, 36, 36, 3)


def test_label_needing_readers_refuse_an_unlabeled_cache_in_one_line(folder, tmp_path):
    out = tmp_path / "cache"
    preprocess_dataset(open_dataset("videos", folder), out, CONFIG, workers=1)
    with pytest.raises(ValueError, match=rf"no complete cached video; .* \(a run directory\? its videos are cached "
                                         rf"in {out}\)"):
        open_cache(tmp_path)  # the run directory instead of its cache
    with pytest.raises(ValueError) as err:
        videos_from_cache(out, command="sspd probe")
    message = str(err.value)
    assert "\n" not in message and message.startswith("sspd probe needs labels, but 2 of the 2 videos")
    assert "(a, b)" in message and "--dataset generic with a <stem>.csv" in message and "--cache" in message
    preprocess_dataset(open_dataset("generic", folder, missing_labels="unlabeled"), out, CONFIG, workers=1)
    assert [v.name for v in videos_from_cache(out, subjects=["a"])] == ["a"]  # a is labelled now
    with pytest.raises(ValueError, match=r"sspd evaluate needs labels, but 1 of the 2 videos of the cache .* \(b\)"):
        require_labels(open_cache(out), out, command="sspd evaluate")
