import numpy as np
import pytest
from matplotlib.image import imread

from sspd.eval.metrics import bland_altman
from sspd.eval.plots import plot_bland_altman, plot_hr_scatter, plot_waveforms

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path, width, height):
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = imread(path)
    assert img.shape[:2] == (height, width)
    assert img[..., :3].std() > 0.01  # something was drawn, not a blank canvas


def test_waveform_overlay_png(tmp_path):
    fs = 30.0
    t = np.arange(600) / fs
    ppg = np.sin(2 * np.pi * 1.2 * t)
    path = plot_waveforms({"pos": ppg + 0.1, "chrom": -ppg}, fs, tmp_path / "w.png", reference=ppg,
                          title="demo")
    _check_png(path, 1000, int(round((1.8 * 2 + 0.6) * 100)))


def test_bland_altman_png_and_stats(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.uniform(55, 120, 40)
    pred = true + rng.normal(1.5, 2.0, 40)
    path, stats = plot_bland_altman(pred, true, tmp_path / "ba.png")
    _check_png(path, 600, 450)
    ref = bland_altman(pred, true)
    assert stats.bias == pytest.approx(ref.bias) and stats.upper_limit == pytest.approx(ref.upper_limit)
    assert stats.bias == pytest.approx(np.mean(pred - true))


def test_hr_scatter_png(tmp_path):
    true = np.array([60.0, 75.0, 90.0, 110.0])
    _check_png(plot_hr_scatter(true + 1.0, true, tmp_path / "s.png"), 500, 500)


def test_plot_errors(tmp_path):
    with pytest.raises(ValueError, match="fs must be a finite sample rate > 0 Hz"):
        plot_waveforms({"x": np.zeros(10)}, 0.0, tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one signal"):
        plot_waveforms({}, 30.0, tmp_path / "x.png")
