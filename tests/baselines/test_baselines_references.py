"""Parity of the vectorised baselines with slow per-window loops written from the papers, and
analytic properties (exact rejection of intensity changes, FastICA separating known sources)."""
import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from sspd.baselines import chrom, fastica, green, ica, lgi, pbv, pos
from sspd.baselines.windows import overlap_add, window_starts

FS = 30.0


def random_trace(n_frames=160, seed=0):
    """(3, T) positive colour trace: a skin tone with pulse-band and slow variation plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FS
    tone = np.array([170.0, 125.0, 105.0])[:, None]
    pulse = np.array([0.33, 0.77, 0.53])[:, None] * 0.004 * np.sin(2 * np.pi * 1.37 * t)
    light = 0.03 * np.sin(2 * np.pi * 0.13 * t + 1.0)
    return tone * (1 + light) * (1 + pulse) + 0.2 * rng.standard_normal((3, n_frames))


def loop_overlap_add(segments, starts, n_frames, weight):
    """Reference overlap-add: accumulate weighted windows one by one, divide by the summed weights."""
    out, norm = np.zeros(n_frames), np.zeros(n_frames)
    for seg, s in zip(segments, starts):
        out[s:s + len(seg)] += weight * seg
        norm[s:s + len(seg)] += weight
    return out / norm


def loop_starts(n_frames, length, hop):
    starts = list(range(0, n_frames - length + 1, hop))
    return starts if starts[-1] == n_frames - length else starts + [n_frames - length]


def taper(length):
    return np.array([0.5 - 0.5 * np.cos(2 * np.pi * (k + 1) / (length + 1)) for k in range(length)])


def pos_reference(rgb, fs, window_s=1.6):
    """Algorithm 1 of Wang et al. 2017, one window per frame, divided by the window count."""
    length = int(round(window_s * fs))
    proj = np.array([[0, 1, -1], [-2, 1, 1]], dtype=float)
    segs = []
    for m in range(rgb.shape[1] - length + 1):
        c = rgb[:, m:m + length]
        s = proj @ (c / c.mean(axis=1, keepdims=True))
        h = s[0] + s[0].std() / s[1].std() * s[1]
        segs.append(h - h.mean())
    return loop_overlap_add(segs, range(len(segs)), rgb.shape[1], np.ones(length))


def chrom_reference(rgb, fs, window_s=1.6, band=(0.6, 3.0), order=3):
    """de Haan & Jeanne 2013 window by window, Hann overlap-add at half-window hops."""
    length = int(round(window_s * fs))
    sos = butter(order, band, btype="bandpass", fs=fs, output="sos")
    starts = loop_starts(rgb.shape[1], length, length // 2)
    segs = []
    for s in starts:
        r, g, b = rgb[:, s:s + length] / rgb[:, s:s + length].mean(axis=1, keepdims=True) - 1
        xf, yf = sosfiltfilt(sos, 3 * r - 2 * g), sosfiltfilt(sos, 1.5 * r + g - 1.5 * b)
        segs.append(xf - xf.std() / yf.std() * yf)
    return loop_overlap_add(segs, starts, rgb.shape[1], taper(length))


def lgi_reference(rgb, fs, window_s=1.6):
    """Pilz et al. 2018: project each window off its first left singular vector, keep the green row."""
    length = int(round(window_s * fs))
    starts = loop_starts(rgb.shape[1], length, length // 2)
    segs = []
    for s in starts:
        c = rgb[:, s:s + length]
        u = np.linalg.svd(c)[0][:, 0]
        y = ((np.eye(3) - np.outer(u, u)) @ c)[1]
        segs.append(y - y.mean())
    return loop_overlap_add(segs, starts, rgb.shape[1], taper(length))


def pbv_reference(rgb, fs, window_s=1.6, band=(0.6, 3.0), order=3, ridge=1e-6):
    """de Haan & van Leest 2014: W = Pbv Q^-1, scaled so that W . Pbv = 1."""
    length = int(round(window_s * fs))
    signature = np.array([0.33, 0.77, 0.53])
    sos = butter(order, band, btype="bandpass", fs=fs, output="sos")
    starts = loop_starts(rgb.shape[1], length, length // 2)
    segs = []
    for s in starts:
        c = rgb[:, s:s + length]
        cn = sosfiltfilt(sos, c / c.mean(axis=1, keepdims=True) - 1, axis=1)
        q = cn @ cn.T
        q += ridge * np.trace(q) / 3 * np.eye(3)
        w = signature @ np.linalg.inv(q)
        segs.append((w / (w @ signature)) @ cn)
    return loop_overlap_add(segs, starts, rgb.shape[1], taper(length))


@pytest.mark.parametrize("method,reference", [(pos, pos_reference), (chrom, chrom_reference),
                                              (lgi, lgi_reference), (pbv, pbv_reference)])
@pytest.mark.parametrize("n_frames", [160, 173])  # 173: the last window is aligned to the end
def test_vectorised_methods_match_their_window_loop_reference(method, reference, n_frames):
    rgb = random_trace(n_frames, seed=n_frames)
    expected = reference(rgb, FS)
    np.testing.assert_allclose(method(rgb, FS), expected, rtol=0, atol=1e-7 * np.abs(expected).max())


def test_green_is_the_relative_green_variation():
    rgb = random_trace()
    expected = [g / (sum(rgb[1]) / len(rgb[1])) - 1 for g in rgb[1]]
    np.testing.assert_allclose(green(rgb, FS), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", [pos, chrom, lgi, pbv])
def test_intensity_changes_of_any_frequency_are_rejected(method):
    # Light intensity multiplies all channels: rgb = tone * (1 + psi), with psi inside the HR band.
    t = np.arange(240) / FS
    psi = 0.05 * np.sin(2 * np.pi * 1.2 * t) + 0.03 * np.sin(2 * np.pi * 0.1 * t)
    rgb = np.array([170.0, 125.0, 105.0])[:, None] * (1 + psi)
    out = method(rgb, FS)
    # relative units (pos, chrom, pbv) vs grey levels (lgi): compare with psi in the same units
    scale = 125.0 if method is lgi else 1.0
    bound = 1e-4 if method is pbv else 1e-9  # pbv: the ridge (1e-6 of Q) lets a tiny part through
    assert np.abs(out).max() < bound * scale * np.abs(psi).max()


@pytest.mark.parametrize("method", [pos, chrom, pbv])
def test_normalised_methods_ignore_the_overall_brightness(method):
    rgb = random_trace(seed=5)
    np.testing.assert_allclose(method(3.7 * rgb, FS), method(rgb, FS), rtol=1e-9, atol=1e-12)


def test_lgi_scales_with_the_trace():
    rgb = random_trace(seed=6)
    np.testing.assert_allclose(lgi(2.5 * rgb, FS), 2.5 * lgi(rgb, FS), rtol=1e-9, atol=1e-9)


def whiten_reference(x):
    """Zero-mean rows (K, T) -> identity-covariance rows via the inverse square root of the covariance."""
    x = x - x.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(x @ x.T / x.shape[1])
    return evecs @ np.diag(evals ** -0.5) @ evecs.T @ x


def test_fastica_separates_known_non_gaussian_sources():
    rng = np.random.default_rng(0)
    t = np.arange(3000) / FS
    sources = np.stack([np.sin(2 * np.pi * 1.1 * t),  # sub-Gaussian
                        np.sign(np.sin(2 * np.pi * 0.31 * t + 0.4)),  # square wave
                        rng.laplace(size=t.size)])  # super-Gaussian
    mixing = np.array([[1.0, 0.6, 0.3], [0.4, 1.0, 0.5], [0.2, 0.7, 1.0]])
    z = whiten_reference(mixing @ sources)
    w = fastica(z[None], seed=1)[0]
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-10)
    corr = np.abs(np.corrcoef(np.vstack([w @ z, sources]))[:3, 3:])  # (recovered, true)
    assert (corr.max(axis=0) > 0.99).all()  # every true source is found ...
    assert sorted(corr.argmax(axis=0).tolist()) == [0, 1, 2]  # ... by a different component


def test_ica_picks_the_source_with_the_heart_rate_peak_and_windows_agree():
    rng = np.random.default_rng(2)
    t = np.arange(600) / FS
    pulse = np.sign(np.sin(2 * np.pi * 1.4 * t)) * np.abs(np.sin(2 * np.pi * 1.4 * t)) ** 3
    breath = np.sin(2 * np.pi * 0.25 * t)  # strong but below the HR band
    noise = rng.laplace(size=t.size)
    mixing = np.array([[2.0, 5.0, 1.0], [4.0, 4.0, 1.5], [3.0, 5.0, 2.0]])  # rows R, G, B
    rgb = 120 + mixing @ np.stack([pulse, breath, noise])
    for window_s in (None, 8.0):
        out = ica(rgb, FS, window_s=window_s)
        assert np.corrcoef(out, pulse)[0, 1] > 0.95  # oriented like green, whose pulse loading is +


@pytest.mark.parametrize("n_frames,length,hop", [(10, 4, 2), (11, 4, 2), (48, 48, 24), (100, 7, 1)])
def test_window_starts_cover_the_trace(n_frames, length, hop):
    assert window_starts(n_frames, length, hop).tolist() == loop_starts(n_frames, length, hop)


def test_overlap_add_matches_the_loop_and_averages_constant_windows():
    rng = np.random.default_rng(3)
    starts = window_starts(57, 9, 4)
    segments = rng.standard_normal((2, len(starts), 9))
    weight = rng.uniform(0.1, 1.0, 9)
    out = overlap_add(segments, starts, 57, weight)
    for b in range(2):
        np.testing.assert_allclose(out[b], loop_overlap_add(segments[b], starts, 57, weight), atol=1e-12)
    np.testing.assert_allclose(overlap_add(np.ones((1, len(starts), 9)), starts, 57, weight), 1.0)
