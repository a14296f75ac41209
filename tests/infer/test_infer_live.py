"""Live mode: frames paced at a fixed rate (rendered synthetic faces, real face tracking), one estimate
per second, latency, frames dropped by the bounded buffer under a slow model, one-line errors."""
import json
import time

import numpy as np
import pytest

from sspd.cli import main
from sspd.data.synthetic import SyntheticConfig, SyntheticVideo
from sspd.infer.live import RollingHR, run_live
from sspd.infer.live_source import FrameBuffer, PacedFrames, TimedFrame, open_live_source

FPS = 30.0


@pytest.fixture(scope="module")
def face_video():
    """14 s of a still synthetic face at 30 fps, 160x120, rendered once (the frames and the true HR)."""
    video = SyntheticVideo(7, n_frames=int(14 * FPS), fps=FPS, width=160, height=120,
                           config=SyntheticConfig.still(hr_bpm=(70.0, 90.0)))
    return list(video.iter_frames(32)), video


def test_paced_frames_arrive_at_the_fixed_rate():
    frames = [np.zeros((8, 8, 3), np.uint8)] * 16
    start = time.monotonic()
    got = list(PacedFrames(frames, fps=FPS).frames())
    elapsed = time.monotonic() - start
    assert [f.index for f in got] == list(range(16))
    np.testing.assert_allclose([f.media_s for f in got], np.arange(16) / FPS)
    assert 15 / FPS - 0.01 < elapsed < 15 / FPS + 0.25  # paced, not read at once
    gaps = np.diff([f.captured_s for f in got])
    assert np.median(gaps) == pytest.approx(1 / FPS, abs=0.005)


def test_a_full_buffer_drops_the_oldest_frames():
    buffer = FrameBuffer(3)
    for i in range(5):
        buffer.put(TimedFrame(image=np.zeros((2, 2, 3), np.uint8), index=i, media_s=i / FPS, captured_s=0.0))
    buffer.close()
    assert buffer.dropped == 2 and buffer.received == 5
    assert [buffer.get().index for _ in range(3)] == [2, 3, 4] and buffer.get() is None


def _run(frames, estimator, speed, **options):
    return run_live(PacedFrames(frames, fps=FPS, speed=speed), estimator, **options)


def test_live_hr_every_second_matches_the_truth(face_video):
    frames, video = face_video
    estimator = RollingHR(fps=FPS, window_s=8.0, hrv_window_s=None)
    summary = _run(frames, estimator, speed=4.0, buffer_frames=len(frames))  # no drop, even on a busy machine
    times = np.array([e.time_s for e in summary.estimates])
    assert summary.received == summary.processed == len(frames) and summary.dropped == 0
    assert times[0] == pytest.approx(8.0, abs=1.5 / FPS) and len(times) == 6  # after one window, then 1 s
    np.testing.assert_allclose(np.diff(times), 1.0, atol=1.5 / FPS)
    for estimate in summary.estimates:
        window = np.arange(estimate.time_s - 8.0, estimate.time_s, 1 / FPS)
        assert abs(estimate.hr_bpm - video.hr(window).mean()) < 3.0
        assert 0.0 < estimate.latency_s < 3.0 and estimate.window_s == pytest.approx(8.0, abs=1 / FPS)
        assert estimate.max_gap_s == pytest.approx(1 / FPS)
    assert summary.latency_s(50) <= summary.latency_s(95)


class SlowGreen:
    """A model slower than the camera: the mean green of each crop, after ``delay_s`` of work."""

    clip_frames, crop_size, name = 30, 32, "slow-green"

    def __init__(self, delay_s):
        self.delay_s, self.calls = delay_s, 0

    def __call__(self, clip, fs):
        self.calls += 1
        time.sleep(self.delay_s)
        return clip[..., 1].mean(axis=(1, 2))


def test_a_model_slower_than_the_camera_makes_the_buffer_drop_frames(face_video):
    frames, _ = face_video
    model = SlowGreen(0.4)
    estimator = RollingHR(fps=FPS, predictor=model, window_s=2.0, hrv_window_s=None)
    summary = _run(frames[:90], estimator, speed=1.0, buffer_frames=6)
    assert summary.received == 90 and summary.processed + summary.dropped == 90
    assert summary.dropped >= 10  # each 0.4 s call lets 12 frames arrive into a 6-frame buffer
    assert summary.estimates and summary.estimates[-1].dropped > 0
    kept = [e.frames for e in summary.estimates]
    assert max(kept) < 2.0 * FPS + 1  # the window holds only the frames that were kept
    assert max(e.max_gap_s for e in summary.estimates) > 0.2  # and says where frames are missing


@pytest.mark.slow
def test_live_at_real_time(face_video):
    frames, video = face_video
    summary = _run(frames, RollingHR(fps=FPS, window_s=10.0), speed=1.0)
    assert summary.wall_s == pytest.approx(14.0, abs=1.0)
    assert len(summary.estimates) == 4 and summary.dropped == 0  # at 10, 11, 12 and 13 s
    assert all(abs(e.hr_bpm - video.hr(np.arange(e.time_s - 10, e.time_s, 1 / FPS)).mean()) < 3.0
               for e in summary.estimates)


def test_rolling_hrv_comes_once_the_beats_span_30_s_then_every_10_s():
    config = SyntheticConfig.still(framing="crop", beat_jitter=0.03, hr_bpm=(60.0, 80.0), pulse_amplitude=(0.01, 0.01))
    video = SyntheticVideo(3, n_frames=int(52 * FPS), fps=FPS, width=36, height=36, config=config)
    estimator = RollingHR(fps=FPS, window_s=10.0, hrv_window_s=40.0, hrv_every_s=10.0)
    out = [estimator.push(crop, i / FPS, time.monotonic()) for i, crop in enumerate(video.iter_frames(64))]
    with_hrv = [e for e in out if e is not None and e.hrv is not None]
    assert [round(e.time_s) for e in with_hrv] == [30, 40, 50]
    truth = np.diff(video.scene.pulse.beat_times(10.0, 50.0))
    last = with_hrv[-1].hrv
    assert last.duration_s == pytest.approx(40.0, abs=1.5) and last.rmssd_ms is not None
    assert last.mean_ibi_ms == pytest.approx(1e3 * truth.mean(), rel=0.03)


def test_a_camera_that_cannot_be_opened_is_one_clear_line(capsys):
    assert main(["live", "97"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "camera 97 cannot be opened" in err[0] and "another index" in err[0]
    with pytest.raises(ValueError, match="camera 98 cannot be opened"):
        open_live_source(98)


def test_show_without_a_display_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["live", "0", "--show"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--show needs a display" in err[0]


@pytest.mark.slow
def test_cli_on_a_file_writes_csv_and_jsonl_as_it_goes(face_video, tmp_path, capsys):
    from sspd.data.video import write_video

    frames, video = face_video
    path = write_video(tmp_path / "face.avi", frames, FPS) and tmp_path / "face.avi"
    rc = main(["live", str(path), "--window", "8", "--hrv-window", "0", "--csv", str(tmp_path / "hr.csv"),
               "--jsonl", str(tmp_path / "hr.jsonl")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "420 frames received, 420 processed, 0 dropped" in out and "latency from capture to HR: median" in out
    rows = [json.loads(line) for line in (tmp_path / "hr.jsonl").read_text().splitlines()]
    csv_lines = (tmp_path / "hr.csv").read_text().splitlines()
    assert len(rows) == 6 == len(csv_lines) - 1 and csv_lines[0].startswith("time_s,hr_bpm,snr_db")
    assert abs(rows[0]["hr_bpm"] - video.hr(np.arange(0, 8, 1 / FPS)).mean()) < 3.0


@pytest.mark.slow
def test_cli_runs_a_trained_checkpoint_live(tmp_path, capsys):
    """A 2-step tiny PhysNet run: the checkpoint's network runs on its clips as frames arrive (accuracy of a
    2-step model is not asserted; the plumbing, the stitched signal and the estimates are)."""
    from sspd.cli.config import RunConfig
    from sspd.cli.pretrain import pretrain
    from sspd.configuration import load_config
    from sspd.data.synthetic import generate_dataset

    tiny = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
            "loop.batch_size=4", "collapse.enabled=false", "loop.channels_last=false", "loop.max_steps=2",
            f"run_dir={tmp_path / 'run'}"]
    assert pretrain(load_config(RunConfig, None, tiny)).stop_reason == "completed"
    generate_dataset(tmp_path / "d", subjects=1, seconds=6.0, fps=30.0, size="160x120", seed=1)
    rc = main(["live", str(tmp_path / "d" / "subject1" / "vid.avi"), "--checkpoint", str(tmp_path / "run"),
               "--device", "cpu", "--window", "4", "--hrv-window", "0", "--jsonl", str(tmp_path / "hr.jsonl")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "180 frames received, 180 processed, 0 dropped" in out and "method sspd:run:online" in out
    rows = [json.loads(line) for line in (tmp_path / "hr.jsonl").read_text().splitlines()]
    assert [round(r["time_s"]) for r in rows] == [4, 5]
    assert all(r["frames"] == 121 and 40 <= r["hr_bpm"] <= 180 for r in rows), rows  # the read-out band


class IndexedIntegral:
    """Reads each crop's frame index (red * 256 + green) and returns a 160 bpm pulse plus a stronger 70 bpm
    ripple at those frames: the integral of a difference whose ripple was 0.6x the pulse."""

    clip_frames, crop_size, name = 40, 8, "integral"

    def __init__(self, target):
        self.target = target

    def __call__(self, clip, fs):
        t = (clip[:, 0, 0, 0].astype(float) * 256 + clip[:, 0, 0, 1]) / fs
        return np.sin(2 * np.pi * 160.0 / 60.0 * t) + 1.4 * np.sin(2 * np.pi * 70.0 / 60.0 * t + 0.4)


@pytest.mark.parametrize("target, hr", [("diff", 160.0), ("pulse", 70.0)])
def test_rolling_hr_reads_a_difference_models_integral_with_the_octave_check(target, hr):
    estimator = RollingHR(fps=FPS, predictor=IndexedIntegral(target), window_s=10.0, hrv_window_s=None)
    crops = [np.stack([np.full((8, 8), i // 256), np.full((8, 8), i % 256), np.zeros((8, 8))], -1).astype(np.uint8)
             for i in range(340)]
    out = [e for i, c in enumerate(crops) if (e := estimator.push(c, i / FPS, time.monotonic())) is not None]
    assert len(out) == 2 and all(e.hr_bpm == pytest.approx(hr, abs=1.0) for e in out)
