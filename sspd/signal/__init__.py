"""Signal processing for pulse signals: spectra, band-pass, detrending, z-scores, heart rate, SNR, beats
and heart-rate variability (:mod:`sspd.signal.hrv`), the input checks (frame rate, band) that the whole
library uses, and sspd's pre-processing of a pulse before its HR (:func:`prepare_pulse`).

Inputs are (T,) or (B, T) numpy arrays or torch tensors (converted, never modified); outputs are numpy,
float64. The sample rate ``fs`` (Hz) is always passed explicitly. Bad input (NaN/inf, fs <= 0, a signal
shorter than one period of the band's lowest frequency, an empty band) raises ``ValueError`` saying
what would fix it. This package depends on numpy and scipy only (not on torch or the rest of sspd).
"""
from sspd.signal.checks import (DEFAULT_BAND_BPM, READOUT_BAND, READOUT_BAND_BPM, as_signal_rows, check_band,
                                check_covers_band, check_fs, restore_rows)
from sspd.signal.detrend import choose_detrend_lambda, detrend, detrend_cutoff_hz
from sspd.signal.filters import bandpass
from sspd.signal.hr import DEFAULT_BAND, HR_METHODS, estimate_hr, find_spectral_peak_hz
from sspd.signal.hrv import HRV, IntervalSeries, analyse_hrv, detect_beats, hrv_from_intervals, inter_beat_intervals
from sspd.signal.pulse import BANDPASS_ORDER, integrate, prepare_pulse
from sspd.signal.normalise import zscore
from sspd.signal.quality import snr_db
from sspd.signal.spectra import band_mask, choose_nfft, next_pow2, periodogram

__all__ = [
    "BANDPASS_ORDER",
    "DEFAULT_BAND",
    "DEFAULT_BAND_BPM",
    "READOUT_BAND",
    "READOUT_BAND_BPM",
    "HRV",
    "HR_METHODS",
    "IntervalSeries",
    "analyse_hrv",
    "as_signal_rows",
    "band_mask",
    "bandpass",
    "check_band",
    "check_covers_band",
    "check_fs",
    "choose_detrend_lambda",
    "choose_nfft",
    "detrend",
    "detect_beats",
    "detrend_cutoff_hz",
    "estimate_hr",
    "find_spectral_peak_hz",
    "hrv_from_intervals",
    "integrate",
    "inter_beat_intervals",
    "next_pow2",
    "periodogram",
    "prepare_pulse",
    "restore_rows",
    "snr_db",
    "zscore",
]
