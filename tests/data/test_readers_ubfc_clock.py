"""UBFC-rPPG DATASET_2 as the real files are: the oximeter's clock (not starting at 0), a repeated
timestamp, one PPG sample per frame (or one fewer); a truly short label still fails."""
import json

import numpy as np
import pytest

from sspd.data import open_dataset, write_video
from sspd.data.preprocess import preprocess_dataset
from sspd.data.preprocess_config import PreprocessConfig

FPS = 30.0
N_FRAMES = 30
START = 17.385  # a real subject's first timestamp


def write_subject(root, *, n_samples, repeat_at=None, fs=FPS, start=START, n_frames=N_FRAMES):
    """subject1/vid.avi (real lossless video) and a ground_truth.txt of ``n_samples`` on an offset clock;
    returns (ppg, hr) as written."""
    folder = root / "subject1"
    folder.mkdir(parents=True)
    frames = np.random.default_rng(0).integers(0, 256, size=(n_frames, 24, 32, 3), dtype=np.uint8)
    write_video(folder / "vid.avi", iter(frames), fps=FPS)
    times = start + np.arange(n_samples) / fs
    if repeat_at is not None:
        times[repeat_at] = times[repeat_at - 1]  # the oximeter wrote one value twice
    ppg = np.sin(np.arange(n_samples) * 0.7) + 0.01 * np.arange(n_samples)  # distinct per sample
    hr = 60.0 + np.arange(n_samples) * 0.5
    lines = [" ".join(f"{v:.9e}" for v in row) for row in (ppg, hr, times)]
    (folder / "ground_truth.txt").write_text("\n".join(lines) + "\n")
    return ppg, hr


def test_offset_clock_repeated_timestamp_one_sample_fewer_align_one_per_frame(tmp_path):
    ppg, hr = write_subject(tmp_path, n_samples=N_FRAMES - 1, repeat_at=10)
    (record,) = open_dataset("ubfc-rppg", tmp_path, on_error="raise")
    assert record.n_frames == N_FRAMES and record.metadata["alignment"] == "per-frame"
    np.testing.assert_allclose(record.ppg[:-1], ppg, rtol=1e-8)  # sample i is frame i
    assert record.ppg[-1] == pytest.approx(ppg[-1])  # the last frame holds the last sample
    np.testing.assert_allclose(record.metadata["hr"], np.append(hr, hr[-1]), rtol=1e-8)
    assert record.metadata["label_start_s"] == pytest.approx(START)
    notes = " | ".join(record.metadata["notes"])
    assert "1 repeated label timestamp(s), first at sample 10" in notes
    assert "29 label samples for 30 frames" in notes and "span" not in notes  # the clock agrees


def test_equal_count_needs_no_note_and_a_disagreeing_clock_is_noted(tmp_path):
    ppg, _ = write_subject(tmp_path / "a", n_samples=N_FRAMES)
    (record,) = open_dataset("ubfc-rppg", tmp_path / "a", on_error="raise")
    np.testing.assert_allclose(record.ppg, ppg, rtol=1e-8)
    assert record.metadata["notes"] == []
    write_subject(tmp_path / "b", n_samples=N_FRAMES, fs=15.0)  # timestamps twice as slow as the frames
    (record,) = open_dataset("ubfc-rppg", tmp_path / "b", on_error="raise")
    assert record.metadata["alignment"] == "per-frame"
    assert any("span 1.93 s but its 30 frames span 0.97 s" in n for n in record.metadata["notes"])


def test_other_rates_are_resampled_on_the_relative_clock_dropping_a_repeat(tmp_path):
    n = 66  # 1.1 s at 60 Hz against 30 frames at 30 fps
    write_subject(tmp_path, n_samples=n, fs=60.0, repeat_at=20)
    (record,) = open_dataset("ubfc-rppg", tmp_path, on_error="raise")
    assert record.metadata["alignment"] == "timestamps"
    relative = np.arange(n) / 60.0
    relative[20] = relative[19]
    keep = np.arange(n) != 20  # the repeated sample
    ppg = np.sin(np.arange(n) * 0.7) + 0.01 * np.arange(n)
    expected = np.interp(record.frame_times, relative[keep], ppg[keep])
    np.testing.assert_allclose(record.ppg, expected, atol=1e-6)  # timestamps written to 1e-8 s
    assert "first at sample 20" in record.metadata["notes"][0] and "dropped" in record.metadata["notes"][0]


def test_a_label_that_really_is_too_short_still_fails(tmp_path):
    write_subject(tmp_path, n_samples=12, repeat_at=5)  # 0.37 s of labels for 0.97 s of video
    with pytest.raises(ValueError, match=r"ground_truth.txt: the label covers 0.00-0.37 s but the video spans "
                                         r"0.00-0.97 s \(more than 0.5 s uncovered\); the label is truncated"):
        open_dataset("ubfc-rppg", tmp_path, on_error="raise")
    assert len(open_dataset("ubfc-rppg", tmp_path).failures) == 1


def test_reader_notes_reach_the_preprocessing_summary(tmp_path):
    write_subject(tmp_path / "ds", n_samples=N_FRAMES - 1, repeat_at=3)
    records = open_dataset("ubfc-rppg", tmp_path / "ds")
    config = PreprocessConfig(strategy="first", size=16, workers=1)
    summary = preprocess_dataset(records, tmp_path / "cache", config, workers=1)
    assert "note 1: 1 repeated label timestamp(s), first at sample 3" in summary.format_report()
    manifest = json.loads((tmp_path / "cache" / "1" / "manifest.json").read_text())
    assert manifest["labelled"] is True and manifest["metadata"]["alignment"] == "per-frame"
