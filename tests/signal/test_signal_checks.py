"""The library's one frame-rate and band check (sspd.signal.checks): the rules and the messages."""
import importlib

import numpy as np
import pytest

import sspd.signal
from sspd.signal import check_band, check_fs


def test_check_fs_returns_a_float_for_numbers_of_any_kind():
    assert check_fs(30) == 30.0 and isinstance(check_fs(30), float)
    assert check_fs(np.float32(29.97)) == pytest.approx(29.97, rel=1e-6)
    assert check_fs(np.array(25.0)) == 25.0


@pytest.mark.parametrize("fs", [0, -30.0, float("nan"), float("inf")])
def test_check_fs_rejects_rates_that_are_not_finite_and_positive(fs):
    with pytest.raises(ValueError, match=r"^fs must be a finite sample rate > 0 Hz, got .*: pass the frame rate"):
        check_fs(fs)


@pytest.mark.parametrize("fs", ["30", True, None, [30.0]])
def test_check_fs_rejects_what_is_not_a_number(fs):
    with pytest.raises(ValueError, match=r"^fs must be a number of Hz"):
        check_fs(fs)


def test_messages_name_the_argument_they_are_about():
    with pytest.raises(ValueError, match=r"^data\.fps must be a finite sample rate > 0 Hz, got 0"):
        check_fs(0, name="data.fps")
    with pytest.raises(ValueError, match=r"^pos: band \(2\.0, 1\.0\) Hz is empty or invalid: it needs 0 < low < high"):
        check_band((2.0, 1.0), name="pos: band")
    with pytest.raises(ValueError, match=r"^ica: band upper edge 20\.0 Hz is not below the Nyquist frequency 15\.0"):
        check_band((0.5, 20.0), 30.0, name="ica: band")


def test_band_edges_come_back_as_floats():
    assert check_band((1, 2)) == (1.0, 2.0)
    assert check_band(np.array([0.75, 2.5]), 30.0) == (0.75, 2.5)


@pytest.mark.parametrize("band", [(0.0, 2.0), (-1.0, 2.0), (2.0, 2.0), (3.0, 1.0), (0.5, float("inf")),
                                  (float("nan"), 2.0)])
def test_band_needs_0_below_low_below_high(band):
    with pytest.raises(ValueError, match="0 < low < high"):
        check_band(band)


def test_band_must_be_a_pair():
    with pytest.raises(ValueError, match=r"band must be a pair \(low, high\) in Hz"):
        check_band(0.7)
    with pytest.raises(ValueError, match="pair"):
        check_band((0.5, 1.0, 2.0))


def test_nyquist_rule_applies_only_when_fs_is_given():
    # at fs = 10 Hz the Nyquist frequency is 5 Hz: an upper edge of exactly 5 Hz is rejected, 4.99 Hz kept
    assert check_band((0.5, 4.99), 10.0) == (0.5, 4.99)
    with pytest.raises(ValueError, match="Nyquist frequency 5.0 Hz of fs=10.0 Hz"):
        check_band((0.5, 5.0), 10.0)
    assert check_band((0.5, 5.0)) == (0.5, 5.0)  # no fs: the band alone is valid
    with pytest.raises(ValueError, match="^fs must be a finite sample rate"):
        check_band((0.5, 2.0), 0.0)  # the rate is checked too


def test_the_checks_are_public_and_the_private_module_is_gone():
    assert sspd.signal.check_fs is check_fs and "check_band" in sspd.signal.__all__
    with pytest.raises(ImportError):
        importlib.import_module("sspd.signal._checks")
