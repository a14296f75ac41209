"""Plainly wrong labels are refused (or flagged) naming the file, never scored as truth: a label sampled
far below what a pulse needs, times in ms read as s, a label far longer than the video, a constant PPG."""
import logging

import numpy as np
import pytest

from sspd.data import open_dataset, write_video
from sspd.data.label_checks import check_label_pulse, check_label_timing

FPS = 30.0
N = 60


def _video(path):
    frames = np.random.default_rng(0).integers(0, 256, size=(N, 24, 32, 3), dtype=np.uint8)
    write_video(path, iter(frames), fps=FPS)


def _csv(path, times, values):
    path.write_text("time,ppg\n" + "\n".join(f"{t:.9g},{v:.6g}" for t, v in zip(times, values)) + "\n")


def test_a_one_hertz_label_is_refused_naming_the_file(tmp_path):
    _video(tmp_path / "clip.avi")
    t = np.arange(0, 3, 1.0)                       # 1 Hz: 83 bpm read as truth where 142 was true
    _csv(tmp_path / "gt.csv", t, np.sin(t))
    with pytest.raises(ValueError, match=r"gt\.csv: the label is sampled at 1 Hz, far below the video's 30 fps"):
        open_dataset("generic", tmp_path, video="clip.avi", labels="gt.csv", on_error="raise")


def test_times_in_ms_read_as_seconds_are_refused_naming_the_unit(tmp_path):
    _video(tmp_path / "clip.avi")
    t_ms = np.arange(0, 2500, 1000 / 60)          # a 60 Hz oximeter, times in ms, read as s
    _csv(tmp_path / "gt.csv", t_ms, np.sin(2 * np.pi * 1.2 * t_ms / 1000))
    with pytest.raises(ValueError, match=r"gt\.csv: .*time_unit='ms'"):
        open_dataset("generic", tmp_path, video="clip.avi", labels="gt.csv", on_error="raise")
    (record,) = open_dataset("generic", tmp_path, video="clip.avi", labels="gt.csv", time_unit="ms")
    assert record.n_frames == N and record.metadata["label_has_pulse"]


def test_a_label_far_longer_than_the_video_is_refused():
    frames = np.arange(N) / FPS
    check_label_timing(np.arange(0, 40, 1 / 60), frames, source="ok.csv")   # a sensor run longer: fine
    with pytest.raises(ValueError, match=r"long\.csv: the label spans 600 s but the video 1\.967 s"):
        check_label_timing(np.arange(0, 600.0001, 1 / 60), frames, source="long.csv")


def test_a_slow_video_lowers_the_rate_a_label_needs():
    check_label_timing(np.arange(0, 10, 1 / 5), np.arange(0, 10, 1 / 5), source="five_fps.csv")  # 5 Hz labels


def test_a_constant_label_is_flagged_and_warned_naming_the_file(tmp_path, caplog):
    _video(tmp_path / "clip.avi")
    t = np.arange(0, 2.5, 1 / 60)
    _csv(tmp_path / "gt.csv", t, np.full(t.size, 512.0))
    with caplog.at_level(logging.WARNING, logger="sspd.data.label_checks"):
        (record,) = open_dataset("generic", tmp_path, video="clip.avi", labels="gt.csv")
    assert record.metadata["label_has_pulse"] is False
    assert "gt.csv: the label is constant" in caplog.text
    assert check_label_pulse(np.sin(np.arange(100) / 5), source="x") is True


def test_evaluating_against_a_constant_label_names_the_video():
    from sspd.eval.baseline_eval import VideoSignals, evaluate_methods

    t = np.arange(600) / FPS
    good = VideoSignals(name="s1", fps=FPS, signals={"pos": np.sin(2 * np.pi * 1.2 * t)}, label=np.sin(2 * np.pi * 1.2 * t))
    flat = VideoSignals(name="s2", fps=FPS, signals={"pos": np.sin(2 * np.pi * 1.2 * t)}, label=np.ones(600))
    assert evaluate_methods([good], window_s=10.0)["pos"]["summary"]["n_windows"] == 2
    with pytest.raises(ValueError, match=r"video s2, method pos: .*constant"):
        evaluate_methods([good, flat], window_s=10.0)
