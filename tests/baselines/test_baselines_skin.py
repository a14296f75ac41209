"""mean_rgb_trace: per-frame mean colour of the selected skin pixels, streamed from any frame source."""
import logging

import cv2
import numpy as np
import pytest

from sspd.baselines import mean_rgb_trace, pos, ycrcb_skin_mask
from sspd.signal import estimate_hr

SKIN = (175, 130, 110)  # Cr ~152, Cb ~110: inside the YCrCb skin range
BLUE = (40, 60, 200)  # background: Cb far above the range
DARK = (30, 25, 20)  # hair: Cr ~131, below the range


def ycrcb_reference(rgb):
    """ITU-R BT.601 full-range YCrCb of one RGB pixel (the conversion OpenCV documents)."""
    r, g, b = (float(v) for v in rgb)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, (r - y) * 0.713 + 128, (b - y) * 0.564 + 128


def is_skin_reference(rgb):
    _, cr, cb = ycrcb_reference(rgb)
    return 133 <= cr <= 173 and 77 <= cb <= 127


def random_frames(n=6, h=9, w=11, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_plain_mean_equals_a_pixel_loop_and_streams_from_a_generator():
    frames = random_frames()
    expected = np.array([[sum(int(px[c]) for row in f for px in row) / (9 * 11) for f in frames]
                         for c in range(3)])
    np.testing.assert_allclose(mean_rgb_trace(frames), expected, rtol=0, atol=1e-9)
    streamed = mean_rgb_trace(f for f in frames)  # a generator: never materialised as (T, H, W, 3)
    np.testing.assert_allclose(streamed, expected, rtol=0, atol=1e-9)


def test_masks_select_pixels_per_video_or_per_frame():
    frames = random_frames(seed=1)
    rng = np.random.default_rng(2)
    region = rng.random((9, 11)) < 0.4
    per_frame = rng.random((6, 9, 11)) < 0.5
    for mask, pick in ((region, lambda t: region), (per_frame, lambda t: per_frame[t])):
        got = mean_rgb_trace(frames, mask=mask)
        expected = np.stack([frames[t][pick(t)].astype(float).mean(axis=0) for t in range(6)], axis=1)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_ycrcb_rule_keeps_skin_and_drops_background_and_hair():
    for colour, expected in ((SKIN, True), (BLUE, False), (DARK, False), ((200, 150, 120), True)):
        assert is_skin_reference(colour) is expected  # the fixture colours are what they claim
    frame = np.zeros((8, 12, 3), np.uint8)
    frame[:, :6], frame[:, 6:9], frame[:, 9:] = SKIN, BLUE, DARK
    mask = ycrcb_skin_mask(frame)
    assert mask[:, :6].all() and not mask[:, 6:].any()
    trace = mean_rgb_trace(np.stack([frame, frame]), skin="ycrcb")
    np.testing.assert_allclose(trace, np.array([SKIN, SKIN], float).T)


def test_ycrcb_mask_matches_the_bt601_rule_on_random_pixels():
    frame = random_frames(n=1, h=40, w=50, seed=3)[0]
    expected = np.array([[is_skin_reference(px) for px in row] for row in frame])
    got = ycrcb_skin_mask(frame)
    # OpenCV rounds Cr/Cb to integers; pixels within rounding of a threshold may differ
    assert (got != expected).mean() < 0.01
    assert got.sum() > 50  # the random frame does contain skin-coloured pixels


def test_frames_without_skin_raise_or_are_held_and_logged(caplog):
    skin = np.full((4, 5, 3), SKIN, np.uint8)
    blue = np.full((4, 5, 3), BLUE, np.uint8)
    frames = np.stack([blue, skin, blue, skin + 1, blue])
    with pytest.raises(ValueError, match=r"3 frame\(s\) have no selected skin pixel \(first: frame 0\)"):
        mean_rgb_trace(frames, skin="ycrcb")
    with caplog.at_level(logging.WARNING, logger="sspd.baselines.skin"):
        trace = mean_rgb_trace(frames, skin="ycrcb", on_empty="hold")
    assert "3 of 5 frames had no skin pixel" in caplog.text
    s0, s1 = np.array(SKIN, float), np.array(SKIN, float) + 1
    np.testing.assert_allclose(trace.T, [s0, s0, s0, s1, s1])  # leading frame takes the first valid
    assert np.isfinite(trace).all()
    with pytest.raises(ValueError, match="no frame has any selected skin pixel"):
        mean_rgb_trace(np.stack([blue, blue]), skin="ycrcb", on_empty="hold")


def test_bad_frames_masks_and_options_are_rejected():
    frames = random_frames()
    with pytest.raises(ValueError, match="uint8"):
        mean_rgb_trace(frames.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        mean_rgb_trace(frames[0])
    with pytest.raises(ValueError, match="frame 2 has shape"):
        mean_rgb_trace(iter([frames[0], frames[1], frames[2, :5]]))
    with pytest.raises(ValueError, match="frames is empty"):
        mean_rgb_trace(iter([]))
    with pytest.raises(ValueError, match="boolean"):
        mean_rgb_trace(frames, mask=np.ones((9, 11)))
    with pytest.raises(ValueError, match="does not match the frame size"):
        mean_rgb_trace(frames, mask=np.ones((9, 10), bool))
    with pytest.raises(ValueError, match="mask has 4 frames but the video has more"):
        mean_rgb_trace(frames, mask=np.ones((4, 9, 11), bool))
    with pytest.raises(ValueError, match="mask has 8 frames but the video has 6"):
        mean_rgb_trace(frames, mask=np.ones((8, 9, 11), bool))
    with pytest.raises(ValueError, match="skin must be one of"):
        mean_rgb_trace(frames, skin="hsv")
    with pytest.raises(ValueError, match="on_empty must be one of"):
        mean_rgb_trace(frames, on_empty="zero")


def write_pulsing_face_video(path, hr_bpm, fs, n_frames, seed=0):
    """A lossless FFV1 video: a skin patch whose colour pulses (reflection model) on a blue background."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fs
    pulse = np.sin(2 * np.pi * hr_bpm / 60 * t)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fs, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write FFV1 here"
    for k in range(n_frames):
        frame = np.empty((48, 64, 3))
        frame[:] = BLUE
        colour = np.array(SKIN) * (1 + 0.004 * np.array([0.33, 0.77, 0.53]) * pulse[k])
        frame[8:40, 16:48] = colour
        frame += 2.0 * rng.standard_normal(frame.shape)  # sensor noise, dithers the sub-level pulse
        rgb = np.clip(np.round(frame), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def read_rgb_frames(path):
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def test_streamed_video_to_trace_to_pos_recovers_the_heart_rate(tmp_path):
    path = tmp_path / "face.avi"
    write_pulsing_face_video(path, hr_bpm=77.7, fs=30.0, n_frames=300)
    trace = mean_rgb_trace(read_rgb_frames(path), skin="ycrcb")  # frames decoded one at a time
    assert trace.shape == (3, 300)
    np.testing.assert_allclose(trace.mean(axis=1), SKIN, atol=0.5)  # background excluded
    assert abs(estimate_hr(pos(trace, 30.0), 30.0) - 77.7) < 2.0
