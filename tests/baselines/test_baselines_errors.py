"""Bad input to the baselines fails loudly, saying what is wrong and how to fix it."""
import numpy as np
import pytest

from sspd.baselines import BASELINES, chrom, fastica, get_baseline, ica, list_baselines, pbv, pos

FS = 30.0
WINDOWED = ["chrom", "pos", "lgi", "pbv"]


def good_trace(n_frames=120, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FS
    base = np.array([160.0, 120.0, 100.0])[:, None] * (1 + 0.004 * np.sin(2 * np.pi * 1.3 * t))
    return base + 0.3 * rng.standard_normal((3, n_frames))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_wrong_shapes_are_rejected_with_a_hint(name):
    method = BASELINES[name]
    with pytest.raises(ValueError, match=r"rgb\.T"):
        method(good_trace().T, FS)  # (T, 3)
    with pytest.raises(ValueError, match=r"\(3, T\) or a batch \(B, 3, T\)"):
        method(good_trace()[1], FS)  # (T,)
    with pytest.raises(ValueError, match=r"\(3, T\) or a batch"):
        method(good_trace()[None, None], FS)  # (1, 1, 3, T)
    with pytest.raises(ValueError, match="empty"):
        method(np.zeros((0, 3, 50)), FS)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_non_finite_and_constant_traces_are_rejected(name):
    rgb = good_trace()
    rgb[2, 40] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        BASELINES[name](rgb, FS)
    batch = np.stack([good_trace(), np.full((3, 120), 100.0)])
    with pytest.raises(ValueError, match=r"trace\(s\) \[1\] are constant"):
        BASELINES[name](batch, FS)


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("fs", [0, -30.0, float("nan"), float("inf"), "30"])
def test_bad_frame_rates_are_rejected(name, fs):
    # the message names the method and the argument: "pos: fs must be ..."
    with pytest.raises(ValueError, match=rf"^{name}: fs must be a (finite sample rate > 0|number of) Hz"):
        BASELINES[name](good_trace(), fs)


@pytest.mark.parametrize("name", WINDOWED)
def test_window_longer_than_the_trace_or_too_short_is_rejected(name):
    with pytest.raises(ValueError, match="shorter than one window of 48 frames"):
        BASELINES[name](good_trace(40), FS)
    with pytest.raises(ValueError, match="at least 4 frames"):
        BASELINES[name](good_trace(), FS, window_s=0.05)
    with pytest.raises(ValueError, match="window_s must be a positive number"):
        BASELINES[name](good_trace(), FS, window_s=-1.6)


@pytest.mark.parametrize("name", WINDOWED)
def test_zero_mean_signals_are_rejected_as_not_colour(name):
    rgb = good_trace() - good_trace().mean(axis=1, keepdims=True)  # e.g. an already filtered trace
    with pytest.raises(ValueError, match="mean <= 0"):
        BASELINES[name](rgb, FS)


def test_green_rejects_a_non_positive_green_channel():
    rgb = good_trace()
    rgb[1] -= 200.0
    with pytest.raises(ValueError, match="green channel has a mean <= 0"):
        get_baseline("green")(rgb, FS)


@pytest.mark.parametrize("method", [chrom, pbv, ica])
def test_bad_bands_are_rejected(method):
    with pytest.raises(ValueError, match="0 < low < high"):
        method(good_trace(), FS, band=(3.0, 0.6))
    with pytest.raises(ValueError, match="pair"):
        method(good_trace(), FS, band=0.7)
    with pytest.raises(ValueError, match=r": band upper edge 16.0 Hz is not below the Nyquist"):
        method(good_trace(), FS, band=(0.6, 16.0))


def test_pbv_rejects_a_bad_signature():
    with pytest.raises(ValueError, match=r"signature must be a finite non-zero \(3,\)"):
        pbv(good_trace(), FS, signature=np.array([0.3, 0.7]))
    with pytest.raises(ValueError, match="signature"):
        pbv(good_trace(), FS, signature=np.zeros(3))


def test_ica_rejects_dependent_or_constant_channels_and_empty_bands():
    rgb = good_trace()
    rgb[2] = 0.5 * rgb[0] + 0.25 * rgb[1]  # blue is a mix of red and green: rank 2
    with pytest.raises(ValueError, match="linearly dependent"):
        ica(rgb, FS)
    rgb = good_trace()
    rgb[0] = 150.0
    with pytest.raises(ValueError, match="constant"):
        ica(rgb, FS)
    with pytest.raises(ValueError, match="no frequency bin"):
        ica(good_trace(20), FS, band=(2.0, 2.3))  # bins every 1.5 Hz
    with pytest.raises(ValueError, match="0 < low < high"):
        ica(good_trace(), FS, band=(2.5, 0.75))


def test_fastica_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\(B, K, T\)"):
        fastica(np.zeros((3, 100)))
    with pytest.raises(ValueError, match="max_iter"):
        fastica(np.zeros((1, 3, 100)), max_iter=0)


def test_registry_lists_every_method_and_rejects_unknown_names():
    assert list_baselines() == ["chrom", "green", "ica", "lgi", "pbv", "pos"]
    assert get_baseline("POS") is pos
    with pytest.raises(ValueError, match=r"unknown baseline 'posh'.*\['chrom', 'green'"):
        get_baseline("posh")
