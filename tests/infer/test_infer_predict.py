"""sspd.infer.predict: HR from real video files (FFV1 written here) and image folders, streamed.

Two kinds of test video: a synthetic face video (sspd.data.synthetic, known mean HR, a detectable face)
and a uniform skin-coloured patch whose green follows a pulse of a known, exactly controlled HR (no face:
the cropper's centred box, so the face-missing path is exercised too).
"""
import dataclasses
import json
import math

import cv2
import numpy as np
import pytest
from matplotlib.image import imread

from sspd.data.face import FaceCropper
from sspd.data.synthetic import generate_dataset
from sspd.data.video import read_video_frames, write_video
from sspd.eval.metrics import evaluate_signals
from sspd.infer.plots import plot_hr_over_time
from sspd.infer.predict import (WindowHR, estimate_window_hr, open_frame_source, predict_video, resolve_fps,
                               write_prediction)

TONE = np.array([175.0, 130.0, 110.0])  # a skin colour (inside the YCrCb skin range), grey levels
U_P = np.array([0.33, 0.77, 0.53])  # relative pulse strength of R, G, B
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def patch_frames(hr_bpm, fps, n_frames, size=48, seed=0):
    """(T, size, size, 3) uint8 frames of one skin colour pulsing at ``hr_bpm(t)`` (a function of t in s):
    1 % relative pulse with a continuous phase, 2 grey levels of sensor noise per pixel."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    phase = 2 * np.pi * np.cumsum(hr_bpm(t) / 60.0) / fps  # (T,) integrated, continuous at any HR change
    colour = TONE[None] * (1 + 0.01 * U_P[None] * np.sin(phase)[:, None])  # (T, 3)
    noisy = colour[:, None, None, :] + 2.0 * rng.standard_normal((n_frames, size, size, 3))
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def write_patch_video(path, hr_bpm, fps, n_frames, **kwargs):
    write_video(path, patch_frames(hr_bpm, fps, n_frames, **kwargs), fps)
    return path


def constant(bpm):
    return lambda t: np.full_like(t, bpm)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    info = generate_dataset(root, subjects=1, seconds=12.0, fps=30.0, size="160x120", seed=4)[0]
    return root / "subject1" / "vid.avi", info


@pytest.fixture(scope="module")
def face_prediction(face_video):
    return predict_video(face_video[0], method="pos")


def test_pos_recovers_the_hr_of_a_synthetic_face_video(face_video, face_prediction):
    _, info = face_video
    p = face_prediction
    assert abs(p.hr_bpm - info["mean_hr_bpm"]) < 2.0
    assert abs(p.hr_window_median_bpm - info["mean_hr_bpm"]) < 2.0
    assert p.n_frames == info["n_frames"] == 360 and p.fps == 30.0
    np.testing.assert_allclose(p.frame_times, np.arange(360) / 30.0)
    # 12 s, 10 s windows every 1 s: starts 0, 1, 2 s
    assert [(w.start_s, w.end_s) for w in p.windows] == [(0.0, 10.0), (1.0, 11.0), (2.0, 12.0)]
    face = p.as_dict()["face"]
    assert face["frames"] == 360 and face["frames_with_face"] == 360 and face["frames_without_face"] == 0
    assert p.notes == []


def test_window_hr_is_the_evaluation_protocol_window_by_window():
    rng = np.random.default_rng(3)
    fs = 30.0
    t = np.arange(300) / fs
    signal = np.sin(2 * np.pi * 1.3 * t + 0.2 * np.sin(2 * np.pi * 0.1 * t)) + 0.5 * rng.standard_normal(300)
    # 2 s windows every frame: 241 windows, more than one chunk of the implementation
    windows = estimate_window_hr(signal, fs, window_s=2.0, stride_s=1 / fs)
    reference = evaluate_signals(signal, signal, fs, window_s=2.0, stride_s=1 / fs).rows
    assert len(windows) == len(reference) == 241
    np.testing.assert_allclose([w.hr_bpm for w in windows], [r.hr_pred for r in reference], rtol=1e-12)
    np.testing.assert_allclose([w.snr_db for w in windows], [r.snr_db for r in reference], rtol=1e-9)
    np.testing.assert_allclose([w.start_s for w in windows], np.arange(241) / fs)
    np.testing.assert_allclose([w.end_s - w.start_s for w in windows], 2.0)


def test_window_layout_and_a_signal_shorter_than_one_window():
    signal = np.sin(2 * np.pi * 1.5 * np.arange(700) / 25.0)
    windows = estimate_window_hr(signal, 25.0, window_s=8.0, stride_s=2.5)
    # L = 200, stride 62.5 -> round 62 frames (even rounding): floor((700 - 200) / 62) + 1 = 9 windows
    assert len(windows) == (700 - 200) // 62 + 1
    assert windows[-1].end_s <= 700 / 25.0
    assert all(abs(w.hr_bpm - 90.0) < 1.0 for w in windows)
    assert estimate_window_hr(signal, 25.0, window_s=30.0) == []
    with pytest.raises(ValueError, match="stride_s must be a positive"):
        estimate_window_hr(signal, 25.0, stride_s=0.0)


def test_hr_over_time_follows_a_step_and_no_face_is_reported(tmp_path):
    fs, step_s = 20.0, 15.0
    video = write_patch_video(tmp_path / "step.avi", lambda t: np.where(t < step_s, 60.0, 96.0), fs, 600)
    p = predict_video(video, method="pos", window_s=6.0, stride_s=3.0)
    assert len(p.windows) == (600 - 120) // 60 + 1
    before = [w.hr_bpm for w in p.windows if w.end_s <= step_s]
    after = [w.hr_bpm for w in p.windows if w.start_s >= step_s]
    assert len(before) == 4 and len(after) == 4
    assert max(abs(h - 60.0) for h in before) < 2.0 and max(abs(h - 96.0) for h in after) < 2.0
    face = p.as_dict()["face"]
    assert face["detected"] == 0 and face["centre"] == 600 and face["frames_with_face"] == 0
    assert any("no face was detected" in note for note in p.notes)


def test_fps_override_rescales_time_and_hr(tmp_path):
    video = write_patch_video(tmp_path / "p.avi", constant(120.0), 30.0, 300)
    native = predict_video(video, window_s=8.0)
    slowed = predict_video(video, fps=15.0, window_s=8.0)
    assert abs(native.hr_bpm - 120.0) < 1.0
    assert abs(slowed.hr_bpm - 60.0) < 1.0  # the same frames at half the rate: half the HR
    assert slowed.as_dict()["container_fps"] == 30.0 and slowed.fps == 15.0
    np.testing.assert_allclose(slowed.frame_times[-1], 299 / 15.0)


def test_image_folder_in_natural_order_equals_the_video(tmp_path):
    frames = patch_frames(constant(84.0), 30.0, 90)
    video = tmp_path / "v.avi"
    write_video(video, frames, 30.0)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):  # unpadded names: frame2 must come before frame10
        cv2.imwrite(str(folder / f"frame{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    from_video = predict_video(video)
    from_folder = predict_video(folder, fps=30.0)
    np.testing.assert_array_equal(from_folder.signal, from_video.signal)
    assert from_folder.source.kind == "image folder" and from_folder.n_frames == 90
    assert abs(from_folder.hr_bpm - 84.0) < 3.0
    # 3 s of video, 10 s windows: no HR over time, said so
    assert from_folder.windows == [] and from_folder.hr_window_median_bpm is None
    assert any("shorter than one 10 s window" in note for note in from_folder.notes)


class GreenPredictor:
    """Mean green of each face crop; records the clips it was given."""

    def __init__(self, clip_frames, crop_size):
        self.clip_frames, self.crop_size, self.clips = clip_frames, crop_size, []

    def __call__(self, clip, fs):
        self.clips.append((clip.shape, clip.dtype, fs))
        return clip[..., 1].mean(axis=(1, 2))


def reference_green(video, size):
    crops = FaceCropper(size=size).crop(read_video_frames(video))
    return np.array([crop[..., 1].mean() for crop, _ in crops])


def test_predictor_sees_consecutive_clips_and_its_outputs_are_stitched_in_order(tmp_path):
    video = write_patch_video(tmp_path / "p.avi", constant(75.0), 30.0, 250)
    predictor = GreenPredictor(clip_frames=64, crop_size=24)
    p = predict_video(video, predictor=predictor, window_s=6.0)
    # 250 = 3 x 64 + 58: three full clips, then the last 64 frames of which the 58 new ones are kept
    assert [shape for shape, _, _ in predictor.clips] == [(64, 24, 24, 3)] * 4
    assert all(dtype == np.uint8 and fs == 30.0 for _, dtype, fs in predictor.clips)
    np.testing.assert_allclose(p.signal, reference_green(video, 24), rtol=0, atol=1e-12)
    assert p.method == "GreenPredictor" and abs(p.hr_bpm - 75.0) < 2.0


class IntegralPredictor:
    """Returns, frame for frame, a 160 bpm pulse plus a 70 bpm ripple stronger than it: the integral of a
    difference signal whose ripple was 0.6x the pulse (as a ``diff`` network's integrated output)."""

    def __init__(self, n_frames, target):
        t = np.arange(n_frames) / 30.0
        self.pulse = np.sin(2 * np.pi * 160.0 / 60.0 * t) + 1.4 * np.sin(2 * np.pi * 70.0 / 60.0 * t + 0.4)
        self.clip_frames, self.crop_size, self.target, self.seen = 64, 16, target, 0

    def __call__(self, clip, fs):
        end = min(self.seen + len(clip), self.pulse.size)  # the last clip overlaps the one before it
        self.seen = end
        return self.pulse[end - len(clip):end]


def test_a_difference_models_integral_is_read_with_the_octave_check(tmp_path):
    """A predictor whose ``target`` is "diff" (a checkpoint of a diff network) has its pulse read with the
    octave check, in every window and overall; the same output from a pulse predictor reads the ripple."""
    video = write_patch_video(tmp_path / "p.avi", constant(75.0), 30.0, 450)
    as_diff = predict_video(video, predictor=IntegralPredictor(450, "diff"), window_s=10.0, stride_s=2.5)
    as_pulse = predict_video(video, predictor=IntegralPredictor(450, "pulse"), window_s=10.0, stride_s=2.5)
    np.testing.assert_allclose(as_diff.signal, as_pulse.signal)
    assert as_diff.hr_bpm == pytest.approx(160.0, abs=0.5) and as_pulse.hr_bpm == pytest.approx(70.0, abs=0.5)
    assert [w.hr_bpm for w in as_diff.windows] == pytest.approx([160.0] * 3, abs=0.5)
    assert [round(w.hr_bpm) for w in as_pulse.windows] == [70] * 3
    assert "octave-checked" in as_diff.protocol["estimator"] and "octave" not in as_pulse.protocol["estimator"]


def test_a_video_shorter_than_one_clip_is_passed_whole(tmp_path):
    video = write_patch_video(tmp_path / "p.avi", constant(75.0), 30.0, 70)
    predictor = GreenPredictor(clip_frames=100, crop_size=16)
    p = predict_video(video, predictor=predictor)
    assert [shape for shape, _, _ in predictor.clips] == [(70, 16, 16, 3)]
    np.testing.assert_allclose(p.signal, reference_green(video, 16), rtol=0, atol=1e-12)


def test_write_prediction_files(tmp_path, face_prediction):
    p = face_prediction
    files = write_prediction(p, tmp_path / "out")
    waveform = np.loadtxt(files["waveform"], delimiter=",", skiprows=1)  # (T, 3)
    assert files["waveform"].read_text().splitlines()[0] == "time_s,signal,pulse"
    np.testing.assert_allclose(waveform[:, 0], np.arange(360) / 30.0, atol=1e-6)
    np.testing.assert_allclose(waveform[:, 1], p.signal, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(waveform[:, 2], p.pulse, rtol=1e-7, atol=1e-12)
    hr = np.loadtxt(files["hr"], delimiter=",", skiprows=1, ndmin=2)  # (K, 4)
    np.testing.assert_allclose(hr[:, 2], [w.hr_bpm for w in p.windows], atol=1e-4)
    saved = json.loads(files["json"].read_text())
    assert saved == json.loads(json.dumps({**p.as_dict(), "files": {k: str(v) for k, v in files.items()}}))
    assert files["plot"].read_bytes()[:8] == PNG_MAGIC
    image = imread(files["plot"])
    assert image.shape[:2] == (520, 1000) and image[..., :3].std() > 0.01


def test_as_dict_is_strict_json_when_an_snr_is_infinite(face_prediction):
    p = dataclasses.replace(face_prediction, snr_db=-math.inf,
                            windows=[WindowHR(start_s=0.0, end_s=10.0, hr_bpm=70.0, snr_db=math.inf)])
    out = json.loads(json.dumps(p.as_dict(), allow_nan=False))
    assert out["snr_db"] is None
    assert out["windows"] == [{"start_s": 0.0, "end_s": 10.0, "hr_bpm": 70.0, "snr_db": None}]


def test_plot_hr_over_time_without_windows_and_with_mismatched_inputs(tmp_path):
    pulse = np.sin(2 * np.pi * 1.2 * np.arange(120) / 30.0)
    path = plot_hr_over_time(pulse, 30.0, np.zeros((0, 2)), [], tmp_path / "a.png", overall_bpm=72.0)
    assert path.read_bytes()[:8] == PNG_MAGIC and imread(path)[..., :3].std() > 0.01
    with pytest.raises(ValueError, match="2 windows but 1 HR"):
        plot_hr_over_time(pulse, 30.0, [[0, 2], [1, 3]], [70.0], tmp_path / "b.png")


# ----- errors: each names the file and says what to do


def test_missing_and_unreadable_inputs_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.avi: no such video file"):
        predict_video(tmp_path / "nope.avi")
    bad = tmp_path / "bad.avi"
    bad.write_text("not a video")
    with pytest.raises(ValueError, match="bad.avi"):
        predict_video(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty: no image files"):
        predict_video(empty, fps=30.0)


def test_frame_rate_is_required_where_none_is_known(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frames: an image folder has no frame rate.*--fps"):
        open_frame_source(folder)
    for broken in (0.0, math.nan):  # what OpenCV reports for a container without a rate
        with pytest.raises(ValueError, match=r"clip.avi: the video container gives no frame rate.*--fps"):
            resolve_fps(broken, None, tmp_path / "clip.avi")
    assert resolve_fps(0.0, 24.0, tmp_path / "clip.avi") == 24.0
    with pytest.raises(ValueError, match="fps must be"):
        resolve_fps(30.0, -1.0, tmp_path / "clip.avi")


def test_bad_method_predictor_and_cropper_combinations(tmp_path):
    video = write_patch_video(tmp_path / "p.avi", constant(75.0), 30.0, 60)
    with pytest.raises(ValueError, match="unknown method 'nope'; choose one of chrom, green"):
        predict_video(video, method="nope")
    with pytest.raises(ValueError, match="either method='pos'"):
        predict_video(video, method="pos", predictor=GreenPredictor(16, 16))
    with pytest.raises(ValueError, match="integer attribute clip_frames"):
        predict_video(video, predictor=GreenPredictor(0, 16))
    with pytest.raises(ValueError, match="expects crop_size=16"):
        predict_video(video, predictor=GreenPredictor(16, 16), cropper=FaceCropper(size=32))


def test_wrong_predictor_output_names_the_file(tmp_path):
    video = write_patch_video(tmp_path / "p.avi", constant(75.0), 30.0, 60)

    class Scalar(GreenPredictor):
        def __call__(self, clip, fs):
            return np.zeros(3)

    with pytest.raises(ValueError, match=r"p.avi: predictor Scalar returned shape \(3,\) for a clip of 16"):
        predict_video(video, predictor=Scalar(16, 16))


def test_too_short_video_and_no_face_error_name_the_file(tmp_path):
    short = write_patch_video(tmp_path / "short.avi", constant(75.0), 30.0, 20)
    with pytest.raises(ValueError, match=r"short.avi: the video is 0.67 s \(20 frames at 30 fps\), shorter than "
                                         r"the 1.6 s window of method='pos': use a video of at least 1.6 s"):
        predict_video(short)  # it said "pass a smaller window_s", which predict does not take
    video = write_patch_video(tmp_path / "noface.avi", constant(75.0), 30.0, 60)
    with pytest.raises(ValueError, match="noface.avi: no face found in frame 0"):
        predict_video(video, cropper=FaceCropper(size=32, no_face="error"))


def test_bad_windows_and_band_fail_before_any_frame_is_decoded(tmp_path):
    video = write_patch_video(tmp_path / "p.avi", constant(75.0), 30.0, 60)
    decoded = []
    with pytest.raises(ValueError, match=r"window_s=1 s is shorter than one period .* window_s >= 1.5 s"):
        predict_video(video, window_s=1.0, progress=lambda done, total: decoded.append(done))
    with pytest.raises(ValueError, match="not below the Nyquist frequency 15.0 Hz"):
        predict_video(video, band=(0.75, 16.0), progress=lambda done, total: decoded.append(done))
    with pytest.raises(ValueError, match="stride_s must be a positive number"):
        predict_video(video, stride_s=-1.0, progress=lambda done, total: decoded.append(done))
    assert decoded == []
    progress = []
    predict_video(video, progress=lambda done, total: progress.append((done, total)))
    assert progress == [(i, 60) for i in range(1, 61)]  # one call per frame, with the container's count


def test_the_read_out_band_reaches_40_and_180_bpm():
    """predict and live read the heart rate in 40-180 bpm by default (resting athletes to exercise): the
    default band of both calls, and of the CLI's ``--band``, is READOUT_BAND, not the 45-150 bpm of training."""
    import inspect

    from sspd.cli.live import _band as live_band
    from sspd.cli.predict import _band as predict_band
    from sspd.infer.live import RollingHR
    from sspd.signal import READOUT_BAND_BPM

    assert READOUT_BAND_BPM == pytest.approx((40.0, 180.0))
    for fn in (predict_video, RollingHR.__init__):
        low, high = inspect.signature(fn).parameters["band"].default
        assert (60 * low, 60 * high) == pytest.approx((40.0, 180.0))
    assert predict_band(None) == live_band(None) == pytest.approx((40 / 60, 3.0))
    assert predict_band([0.75, 2.5]) == (0.75, 2.5)
