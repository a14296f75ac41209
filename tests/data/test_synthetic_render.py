"""The synthetic renderer: frames, determinism, the pulse and nuisances in the pixels, face detectability."""
import cv2
import numpy as np
import pytest

from sspd.data.synthetic import U_PULSE, SyntheticConfig, SyntheticVideo

FS = 30.0


def _spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Slow reference periodogram (quadratic trend removed, Hann, zero-padded): freqs (Hz), power."""
    n = np.arange(len(x))
    x = x - np.polyval(np.polyfit(n, x, 2), n)
    nfft = 1 << 15
    return np.fft.rfftfreq(nfft, 1.0 / fs), np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2


def _peak_hz(x: np.ndarray, fs: float, band=(0.6, 3.5)) -> float:
    freqs, power = _spectrum(x, fs)
    inside = (freqs > band[0]) & (freqs < band[1])
    return float(freqs[inside][np.argmax(power[inside])])


def _mean_skin(video: SyntheticVideo, frames: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(3, T) mean colour over the pixels whose skin weight exceeds ``threshold``, frame by frame."""
    masks = video.skin_masks() > threshold  # (T, H, W)
    sums = np.einsum("thwc,thw->ct", frames.astype(np.float64), masks)
    return sums / masks.sum(axis=(1, 2))


@pytest.mark.parametrize("framing,size", [("scene", (33, 21)), ("scene", (64, 48)), ("crop", (48, 64))])
def test_frames_are_uint8_rgb_of_the_requested_size(framing, size):
    video = SyntheticVideo(1, n_frames=5, fps=FS, width=size[0], height=size[1],
                           config=SyntheticConfig(framing=framing))
    frames = video.render()
    assert frames.shape == (5, size[1], size[0], 3) and frames.dtype == np.uint8
    assert frames.std() > 5  # a face on a background, not a flat frame
    assert video.skin_masks().shape == (5, size[1], size[0])


def test_same_seed_same_frames_whatever_the_chunking_and_another_seed_differs():
    cfg = SyntheticConfig().scale_nuisances(motion=3.0)  # the head moves: chunks see different motion

    def make(seed):
        return SyntheticVideo(seed, n_frames=60, fps=FS, width=48, height=40, config=cfg)

    whole = make(11).render()
    np.testing.assert_array_equal(whole, make(11).render())
    np.testing.assert_array_equal(whole, np.concatenate([make(11).render(0, 5), make(11).render(5, 60)]))
    np.testing.assert_array_equal(whole, np.stack(list(make(11).iter_frames(chunk=16))))
    np.testing.assert_array_equal(whole[37], make(11).render(37, 38)[0])  # random access
    assert np.mean(whole != make(12).render()) > 0.5


def test_a_no_pulse_clip_differs_from_its_pulsing_twin_only_on_the_skin():
    pulsing = SyntheticVideo(5, n_frames=20, fps=FS, width=48, height=40)
    still = SyntheticVideo(5, n_frames=20, fps=FS, width=48, height=40, config=SyntheticConfig(no_pulse=True))
    a, b = pulsing.render().astype(int), still.render().astype(int)
    off_skin = pulsing.skin_masks() == 0  # (T, H, W)
    assert np.array_equal(a[off_skin], b[off_skin])  # background, hair, eyes, mouth: not one grey level
    assert np.any(a[~off_skin] != b[~off_skin])
    assert not still.has_pulse and still.mean_hr == 0.0 and not still.ppg(np.arange(3.0)).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pulse_peaks_in_the_green_mean_skin_colour_and_not_in_a_no_pulse_clip(seed):
    size = dict(n_frames=300, fps=FS, width=64, height=48)
    pulsing = SyntheticVideo(seed, **size)
    still = SyntheticVideo(seed, **size, config=SyntheticConfig(no_pulse=True))
    green = _mean_skin(pulsing, pulsing.render())[1]
    green_still = _mean_skin(still, still.render())[1]
    # defaults: 0.2-0.6 % pulse, under one grey level in green; it survives through the dither
    assert 60 * _peak_hz(green, FS) == pytest.approx(pulsing.mean_hr, abs=3.0)
    freqs, power = _spectrum(green, FS)
    _, power_still = _spectrum(green_still, FS)
    at_hr = np.argmin(np.abs(freqs - pulsing.mean_hr / 60))
    assert power_still[at_hr] < 0.25 * power[at_hr]


def test_pulse_colour_direction_and_amplitude_follow_the_model():
    cfg = SyntheticConfig.still(pulse_amplitude=(0.01, 0.01), pulse_delay_s=0.0, specular_level=0.0,
                                framing="crop", respiration_depth=(0.0, 0.0))
    video = SyntheticVideo(2, n_frames=120, fps=FS, width=96, height=96, config=cfg)
    rgb = _mean_skin(video, video.render(), threshold=0.99)  # (3, T) strict skin only
    relative = rgb / rgb.mean(axis=1, keepdims=True) - 1.0
    p = video.ppg(video.frame_times)
    slopes = np.array([np.polyfit(p, relative[c], 1)[0] for c in range(3)])
    # relative modulation of channel c = amplitude · u_p[c] · (shading-weighted perfusion ≈ 1)
    np.testing.assert_allclose(slopes / slopes[1], U_PULSE / U_PULSE[1], rtol=0.06)
    assert slopes[1] / (0.01 * U_PULSE[1]) == pytest.approx(1.0, abs=0.25)


def test_flicker_puts_a_peak_at_its_frequency_equally_in_every_channel():
    cfg = SyntheticConfig.still(no_pulse=True, flicker_hz=2.2, flicker_amplitude=0.01)
    video = SyntheticVideo(4, n_frames=300, fps=FS, width=40, height=32, config=cfg)
    means = video.render().astype(np.float64).mean(axis=(1, 2))  # (T, 3) whole-frame colour
    relative = means / means.mean(axis=0) - 1.0
    for c in range(3):
        assert _peak_hz(relative[:, c], FS, band=(0.5, 5.0)) == pytest.approx(2.2, abs=0.03)
        # a sinusoid of amplitude A has std A/sqrt(2)
        assert relative[:, c].std() == pytest.approx(0.01 / np.sqrt(2), rel=0.1)


def test_sensor_noise_has_the_configured_std():
    cfg = SyntheticConfig.still(no_pulse=True, noise_std=2.0)
    video = SyntheticVideo(6, n_frames=200, fps=FS, width=40, height=32, config=cfg)
    frames = video.render().astype(np.float64)  # a static scene: only the noise changes in time
    assert 5 < frames.min() and frames.max() < 250  # no clipping at 0 or 255 to bias the std
    temporal_std = frames.std(axis=0)  # (H, W, 3)
    # rounding adds a uniform error of variance 1/12
    assert temporal_std.mean() == pytest.approx(np.sqrt(2.0**2 + 1 / 12), rel=0.03)


def test_the_rendered_face_moves_by_the_reported_affines():
    cfg = SyntheticConfig.still(no_pulse=True, noise_std=0.0, specular_level=0.0, motion_translation=0.06,
                                motion_rotation_deg=6.0, motion_scale=0.04, framing="crop")
    video = SyntheticVideo(9, n_frames=90, fps=FS, width=96, height=96, config=cfg)
    first, last = video.render(0, 1)[0].astype(np.float32), video.render(89, 90)[0].astype(np.float64)
    a0, a1 = (np.vstack([m, [0, 0, 1]]) for m in video.affines(0, 90)[[0, 89]])
    relative = (a1 @ np.linalg.inv(a0))[:2]  # frame 0 → frame 89
    predicted = cv2.warpAffine(first, relative, (96, 96), flags=cv2.INTER_LINEAR).astype(np.float64)
    interior = cv2.erode((video.skin_masks(89, 90)[0] > 0.99).astype(np.uint8), np.ones((5, 5))) > 0
    moved_error = np.abs(predicted - last)[interior].mean()
    unmoved_error = np.abs(first - last)[interior].mean()
    assert moved_error < 1.5
    assert unmoved_error > 3 * moved_error  # the head really moved


def test_haar_cascade_finds_the_face_at_320x240_with_motion():
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = 0
    for seed in (0, 1):
        video = SyntheticVideo(seed, n_frames=600, fps=FS, width=320, height=240)  # 20 s, default motion
        geo = video.scene.face.geometry
        for k in (0, 199, 399, 599):
            gray = cv2.cvtColor(video.render(k, k + 1)[0], cv2.COLOR_RGB2GRAY)
            centre = video.affines(k, k + 1)[0] @ np.array([geo.cx - 0.5, geo.cy - 0.5, 1.0])
            boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(30, 30))
            found += any(x <= centre[0] <= x + w and y <= centre[1] <= y + h for x, y, w, h in boxes)
    assert found >= 7


def test_renderer_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="n_frames"):
        SyntheticVideo(0, n_frames=0, fps=FS, width=32, height=32)
    with pytest.raises(ValueError, match="fps"):
        SyntheticVideo(0, n_frames=4, fps=0.0, width=32, height=32)
    with pytest.raises(ValueError, match="16"):
        SyntheticVideo(0, n_frames=4, fps=FS, width=8, height=32)
    video = SyntheticVideo(0, n_frames=4, fps=FS, width=32, height=32)
    with pytest.raises(ValueError, match=r"\[3, 9\)"):
        video.render(3, 9)
    with pytest.raises(ValueError, match="chunk"):
        next(video.iter_frames(chunk=0))
