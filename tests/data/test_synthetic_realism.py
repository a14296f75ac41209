"""The realistic synthetic video: H.264 compression, webcam framing, camera gains, blinks and mouth motion,
and the ``realistic`` preset (real PyAV encoding, real OpenCV decoding and face detection)."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from sspd.configuration import load_config
from sspd.data.face import FaceCropper
from sspd.data.synthetic import SyntheticConfig, SyntheticVideo
from sspd.data.synthetic.camera import h264_round_trip, write_h264
from sspd.data.synthetic.capture import captured_frames, face_box, face_clip
from sspd.data.synthetic.config import PRESETS
from sspd.data.synthetic.scene import draw_pulse
from sspd.data.video import read_video_frames
from sspd.signal import snr_db

FPS = 30.0


def _video(config: SyntheticConfig, *, seed: int = 0, frames: int = 30, size: tuple[int, int] = (64, 48)
           ) -> SyntheticVideo:
    return SyntheticVideo(seed, n_frames=frames, fps=FPS, width=size[0], height=size[1], config=config)


# ---- H.264 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(64, 48), (33, 25)])
def test_round_trip_keeps_count_size_and_changes_pixels(size):
    frames = _video(SyntheticConfig(framing="crop"), frames=12, size=size).render()
    decoded = np.stack(list(h264_round_trip(frames, fps=FPS, crf=35)))
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    diff = np.abs(decoded.astype(int) - frames)
    assert 0 < diff.mean() < 10  # lossy, yet the same picture


def test_written_h264_decodes_with_its_size_and_frame_count(tmp_path):
    frames = _video(SyntheticConfig(), frames=20, size=(80, 60)).render()
    path = tmp_path / "vid.avi"
    assert write_h264(path, frames, FPS, crf=23) == 20
    read = list(read_video_frames(path))  # OpenCV's decoder
    assert len(read) == 20 and read[0].shape == (60, 80, 3)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 20
    assert np.abs(np.stack(read).astype(int) - frames).mean() < 6


def test_bad_crf_and_odd_file_sizes_are_refused(tmp_path):
    frames = _video(SyntheticConfig(), frames=2, size=(33, 24)).render()
    with pytest.raises(ValueError, match="even width"):
        write_h264(tmp_path / "odd.avi", frames, FPS, crf=23)
    with pytest.raises(ValueError, match="0-51"):
        list(h264_round_trip(frames[:, :, :32], fps=FPS, crf=52))


def _skin_snr(frames: np.ndarray, video: SyntheticVideo) -> float:
    """SNR (dB) of the true HR in the green mean over the skin (a still face: one mask)."""
    mask = video.skin_masks(0, 1)[0] > 0.5
    green = frames[:, mask, 1].mean(axis=1)  # (T,)
    return float(snr_db(green, FPS, video.mean_hr))


def test_higher_crf_gives_a_smaller_file_and_a_weaker_pulse(tmp_path):
    config = SyntheticConfig.still(framing="crop", hr_bpm=(72.0, 90.0), pulse_amplitude=(0.004, 0.004))
    video = _video(config, frames=300, size=(64, 64))
    frames = video.render()
    sizes, snrs = {}, {}
    for crf in (10, 40):
        path = tmp_path / f"crf{crf}.avi"
        write_h264(path, frames, FPS, crf=crf)
        sizes[crf] = path.stat().st_size
        snrs[crf] = _skin_snr(np.stack(list(read_video_frames(path))), video)
    lossless = _skin_snr(frames, video)
    assert sizes[40] < 0.5 * sizes[10]
    assert lossless > 5.0 and snrs[10] > lossless - 3.0  # CRF 10 keeps the pulse
    assert snrs[40] < snrs[10] - 6.0  # CRF 40 quantises it away


def test_config_crf_round_trips_clips_deterministically():
    config = SyntheticConfig(framing="crop", crf=30)
    first = face_clip(_video(config, seed=3, frames=10, size=(48, 48)), (48, 48))
    again = face_clip(_video(config, seed=3, frames=10, size=(48, 48)), (48, 48))
    clean = face_clip(_video(config.replace(crf=None), seed=3, frames=10, size=(48, 48)), (48, 48))
    assert first.shape == (10, 48, 48, 3)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - clean).mean() > 0.2


# ---- webcam framing ------------------------------------------------------------------------------------
def test_webcam_framing_gives_640x480_with_a_150_to_250_px_face():
    config = SyntheticConfig(framing="webcam")
    widths = [2.0 * draw_scene_geometry(seed, config).rx for seed in range(60)]
    assert min(widths) >= 150 and max(widths) <= 250
    assert min(widths) < 165 and max(widths) > 235  # drawn per video over the whole range
    for seed in (0, 1):
        video = _video(config, seed=seed, frames=1, size=(640, 480))
        width = 2.0 * video.scene.face.geometry.rx
        assert width == pytest.approx(widths[seed])
        skin_columns = np.nonzero((video.skin_masks(0, 1)[0] > 0.5).any(axis=0))[0]
        face_span = skin_columns.max() - skin_columns.min()  # the face oval, in pixels
        assert 0.9 * width <= face_span <= 1.05 * width
        assert video.render(0, 1)[0].shape == (480, 640, 3)


def draw_scene_geometry(seed: int, config: SyntheticConfig):
    """The webcam face geometry draw_scene draws for ``seed`` at 640×480, without building the face."""
    from sspd.data.synthetic.scene import _stream, _webcam_geometry

    return _webcam_geometry(_stream(np.random.SeedSequence(seed), "framing"), 640, 480, config)


def test_webcam_face_is_detected_where_the_known_box_is():
    video = _video(SyntheticConfig.from_preset("realistic"), seed=1, frames=1, size=(640, 480))
    cx, cy, side = FaceCropper().detect(next(captured_frames(video)))  # on the compressed frame
    geo = video.scene.face.geometry
    assert abs(cx - geo.cx) < 0.15 * side and abs(cy - geo.cy) < 0.25 * side
    assert 0.6 * 2 * geo.rx < side < 1.5 * 2 * geo.rx
    # the known box is the detection's, enlarged as the preprocessing does
    x0, y0, x1, y1 = face_box(video)
    assert abs((x1 - x0) - 1.5 * side) < 0.12 * side and x1 - x0 == y1 - y0
    assert abs((x0 + x1) / 2 - cx) < 0.1 * side and abs((y0 + y1) / 2 - cy) < 0.25 * side


def test_webcam_clips_are_resampled_face_crops():
    from sspd.data.synthetic import SyntheticClipDataset

    data = SyntheticClipDataset(1, frames=4, size=72, config=SyntheticConfig.from_preset("realistic"))
    video = data.video(0)
    assert (video.width, video.height) == (640, 480)
    item = data[0]
    assert tuple(item["video"].shape) == (3, 4, 72, 72) and item["ppg"].shape == (4,)
    # the face fills the crop: skin-coloured centre, darker hair at the top
    clip = item["video"].numpy()
    assert clip[:, :, 30:42, 30:42].mean() > clip[:, :, :6, 30:42].mean()


# ---- camera gains ---------------------------------------------------------------------------------------
def test_exposure_and_white_balance_are_multiplicative_gains():
    base = SyntheticConfig(framing="crop")
    plain = _video(base, seed=2, frames=90, size=(48, 48))
    drifting = _video(base.replace(exposure_drift=0.08, white_balance_drift=0.04), seed=2, frames=90,
                      size=(48, 48))
    gains = drifting.camera_gains()  # (T, 3)
    assert np.all(plain.camera_gains() == 1.0)
    assert gains.std(axis=0).min() > 0.01 and np.abs(gains[:, 0] - gains[:, 2]).max() > 0.01
    without, with_gain = plain.render().astype(float), drifting.render().astype(float)
    expected = without * gains[:, None, None, :]
    unsaturated = (with_gain < 255) & (expected < 254.5)
    # both frames are rounded: |round(g·x) − g·round(x)| ≤ 0.5 + 0.5·g
    assert np.all(np.abs(with_gain - expected)[unsaturated] <= 0.5 + 0.5 * gains.max() + 1e-6)
    ratio = with_gain[..., 1].sum(axis=(1, 2)) / without[..., 1].sum(axis=(1, 2))  # green: exposure only
    np.testing.assert_allclose(ratio, gains[:, 1], rtol=0.01)


# ---- blinks and mouth motion ----------------------------------------------------------------------------
@pytest.mark.parametrize("knob,region", [({"blink_rate_per_min": (55.0, 60.0)}, "eyes"),
                                         ({"mouth_motion": 1.0}, "mouth")])
def test_expressions_change_only_their_region(knob, region):
    base = SyntheticConfig()  # default head motion: the region moves with the head
    plain = _video(base, seed=4, frames=75, size=(160, 120))
    moving = _video(base.replace(**knob), seed=4, frames=75, size=(160, 120))
    diff = np.abs(moving.render().astype(int) - plain.render()).max(axis=3)  # (T, H, W)
    inside = moving.region_masks(region) > 0  # (T, H, W)
    grown = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for m in inside])
    assert diff[~grown].max() == 0  # nothing outside the region (and its 1-pixel interpolation rim) changes
    assert diff.max() > 20  # the eyes close / the mouth opens
    other = "mouth" if region == "eyes" else "eyes"
    assert diff[moving.region_masks(other) > 0.5].max() == 0


def test_blinks_are_brief_and_at_the_drawn_rate():
    video = _video(SyntheticConfig(blink_rate_per_min=(15.0, 15.0)), frames=2)
    expressions = video.scene.expressions
    starts = expressions.blinks.times(0.0, 600.0)
    assert 120 <= len(starts) <= 180  # 15 a minute for 10 minutes
    t = np.arange(0, 600, 1 / FPS)
    closed = expressions.eyes_closed(t)
    assert closed.max() > 0.99 and 0.01 < (closed > 0.5).mean() < 0.06  # shut well under a tenth of the time
    np.testing.assert_array_equal(expressions.eyes_closed(t[::-1])[::-1], closed)  # any order, same values


# ---- presets, config keys, determinism, HR range ---------------------------------------------------------
def test_realistic_preset_and_its_keys():
    cfg = SyntheticConfig.from_preset("realistic", crf=23)
    assert (cfg.framing, cfg.crf, cfg.preset) == ("webcam", 23, "realistic")
    assert cfg.exposure_drift > 0 and cfg.white_balance_drift > 0 and cfg.blink_rate_per_min == (10.0, 20.0)
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    assert SyntheticConfig.from_dict({"preset": "realistic", "crf": 20}).crf == 20
    assert SyntheticConfig().crf is None and SyntheticConfig().blink_rate_per_min == (0.0, 0.0)


def test_run_config_section_takes_a_preset_with_overrides():
    from sspd.engine.data import DataConfig

    data = load_config(DataConfig, {"synthetic": {"preset": "realistic", "crf": 18}})
    assert data.synthetic.framing == "webcam" and data.synthetic.crf == 18
    assert data.synthetic.mouth_motion == PRESETS["realistic"]["mouth_motion"]
    plain = load_config(DataConfig, {"synthetic": {"crf": 30}})
    assert plain.synthetic.framing == "crop" and plain.synthetic.crf == 30  # no preset: the default base
    assert load_config(DataConfig, {}).synthetic == SyntheticConfig(framing="crop")


@pytest.mark.parametrize("section,match", [({"crf": 60}, "crf 60 must be an integer in 0-51"),
                                           ({"preset": "cinema"}, "unknown preset 'cinema'; valid: realistic"),
                                           ({"framing": "webcam", "face_height": 0.5}, "face_width_px"),
                                           ({"blink_rate_per_min": [10, 90]}, "blink_rate_per_min"),
                                           ({"mouth_motion": 2.0}, "mouth_motion")])
def test_bad_values_give_one_clear_line(section, match):
    from sspd.engine.data import DataConfig

    with pytest.raises(ValueError, match=match) as err:
        load_config(DataConfig, {"synthetic": section})
    assert "\n" not in str(err.value) and "synthetic" in str(err.value)


def test_synth_cli_preset_and_bad_crf(tmp_path, capsys):
    from sspd.cli import main
    from sspd.cli.synth import PRESET_NAMES

    assert tuple(sorted(PRESETS)) == PRESET_NAMES
    cmd = ["synth", "--out", str(tmp_path / "d"), "--subjects", "1", "--seconds", "0.2", "--preset", "realistic",
           "--no-progress"]
    assert main(cmd + ["--crf", "99"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "crf 99" in err and "0-51" in err
    assert main(cmd + ["--size", "320x240"]) == 0
    assert "H.264 CRF 28" in capsys.readouterr().out
    with av.open(str(tmp_path / "d" / "subject1" / "vid.avi")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 240)


def test_same_seed_same_realistic_video():
    cfg = SyntheticConfig.from_preset("realistic", blink_rate_per_min=(50.0, 60.0))
    first = face_clip(_video(cfg, seed=5, frames=6, size=(320, 240)), (64, 64))  # face scaled by 320 / 640
    again = face_clip(_video(cfg, seed=5, frames=6, size=(320, 240)), (64, 64))
    assert first.shape == (6, 64, 64, 3)
    np.testing.assert_array_equal(first, again)


def test_hr_range_reaches_40_to_180_bpm():
    cfg = SyntheticConfig(hr_bpm=(40.0, 180.0))
    rates = np.array([draw_pulse(seed, cfg)[0].hr_bpm for seed in range(200)])
    assert rates.min() >= 40.0 and rates.max() <= 180.0
    assert rates.min() < 50.0 and rates.max() > 170.0


def test_on_the_fly_records_and_written_datasets_carry_the_compression(tmp_path):
    from sspd.data.synthetic import generate_dataset, open_synthetic

    config = SyntheticConfig(crf=30, blink_rate_per_min=(40.0, 40.0))
    record = open_synthetic(None, subjects=1, seconds=0.5, size=(64, 48), config=config)[0]
    lossless = open_synthetic(None, subjects=1, seconds=0.5, size=(64, 48), config=config.replace(crf=None))[0]
    frames, clean = np.stack(list(record.read_frames())), np.stack(list(lossless.read_frames()))
    assert frames.shape == clean.shape == (15, 48, 64, 3)
    assert 0.2 < np.abs(frames.astype(int) - clean).mean() < 10
    info = generate_dataset(tmp_path / "d", subjects=1, seconds=0.5, size=(64, 48), config=config)[0]
    assert info["crf"] == 30 and info["config"]["crf"] == 30 and "blink_times_s" in info
    read = np.stack(list(read_video_frames(tmp_path / "d" / "subject1" / "vid.avi")))
    assert read.shape == frames.shape and np.abs(read.astype(int) - frames).mean() < 2  # the same bitstream
