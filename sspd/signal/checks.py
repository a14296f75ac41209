"""Input validation for the whole library: one place for the rules and the messages users act on.

Every public function of :mod:`sspd.signal` converts its input with :func:`as_signal_rows`; every
package of sspd checks a frame rate with :func:`check_fs` and a frequency band with :func:`check_band`,
so the rules (and the wording of the errors) are the same everywhere. Pass ``name=`` to say which
argument (or which caller's argument) an error is about.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["DEFAULT_BAND", "DEFAULT_BAND_BPM", "READOUT_BAND", "READOUT_BAND_BPM", "as_signal_rows", "check_fs",
           "check_band", "check_covers_band", "restore_rows"]

#: The library's pulse band in Hz, 45-150 bpm (the SSPD paper's): the default of every heart-rate search,
#: baseline, probe and run diagnostic; the one place it is written.
DEFAULT_BAND = (0.75, 2.5)
#: :data:`DEFAULT_BAND` in beats per minute, (45.0, 150.0)
DEFAULT_BAND_BPM = (60.0 * DEFAULT_BAND[0], 60.0 * DEFAULT_BAND[1])
#: The band a user's heart rate is read in by ``sspd predict`` and ``sspd live``, 40-180 bpm: resting
#: athletes to exercise. Wider than :data:`DEFAULT_BAND`, which stays the band of training, diagnostics and
#: the paper-comparable evaluation.
READOUT_BAND = (40.0 / 60.0, 3.0)
#: :data:`READOUT_BAND` in beats per minute, (40.0, 180.0)
READOUT_BAND_BPM = (60.0 * READOUT_BAND[0], 60.0 * READOUT_BAND[1])


def _to_numpy(x: Any) -> np.ndarray:
    """numpy array of ``x``; torch tensors are detached and copied to the CPU (torch is not imported)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        if getattr(x, "is_complex", lambda: False)():
            raise ValueError("signal is a complex tensor: pass the real-valued pulse signal")
        return x.detach().cpu().double().numpy()
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise ValueError("signal is complex: pass the real-valued pulse signal")
    return arr


def as_signal_rows(x: Any, name: str = "x") -> tuple[np.ndarray, bool]:
    """Validate a signal and return it as float64 rows.

    Args:
        x: (T,) or (B, T) numpy array, sequence or torch tensor.
        name: the argument's name, used in error messages.

    Returns:
        rows (B, T) float64 (a (T,) input becomes (1, T)) and ``True`` when the input was 1-D, so the
        caller can hand back a scalar per row with :func:`restore_rows`.
    """
    arr = _to_numpy(x)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be (T,) or (B, T), got shape {arr.shape}: "
                         "flatten extra axes into the batch axis B")
    was_1d = arr.ndim == 1
    if arr.size == 0:  # before the reshape, which cannot infer B from no values
        raise ValueError(f"{name} is empty (shape {arr.shape}): pass at least one non-empty signal")
    rows = np.asarray(arr, dtype=np.float64).reshape(-1, arr.shape[-1])  # (B, T)
    bad = ~np.isfinite(rows)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{name} contains {int(bad.sum())} NaN/inf value(s), first at row {row}, "
                         f"sample {col}: interpolate over the gap or cut the signal before it")
    return rows, was_1d


def restore_rows(values: np.ndarray, was_1d: bool) -> float | np.ndarray:
    """(B,) per-row results back to the caller's layout: a float for a (T,) input, else the (B,) array."""
    return float(values[0]) if was_1d else values


def check_fs(fs: Any, name: str = "fs") -> float:
    """``fs`` as a float; raises unless it is a finite number > 0 (Hz).

    Args:
        fs: the sample (frame) rate in Hz: a Python or numpy number, or a 0-d array or tensor.
        name: how the error message names the argument (e.g. ``"pos: fs"``, ``"data.fps"``).
    """
    if isinstance(fs, (str, bytes, bool)):  # float("30") would hide a config typo; True is not a rate
        raise ValueError(f"{name} must be a number of Hz, got {fs!r}: pass the signal's sample rate")
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of Hz, got {fs!r}: pass the signal's sample rate") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite sample rate > 0 Hz, got {fs!r}: pass the frame rate "
                         "of the video (e.g. 30.0), never a frame count")
    return value


def check_band(band: Any, fs: float | None = None, name: str = "band") -> tuple[float, float]:
    """``(low, high)`` in Hz as floats; raises unless ``0 < low < high`` and, when ``fs`` is given,
    ``high < fs / 2`` (a band at or above the Nyquist frequency cannot be measured at that rate).

    Args:
        band: a pair (low, high) in Hz.
        fs: the sample rate in Hz, or None to check the band alone (no Nyquist rule).
        name: how the error message names the argument (e.g. ``"ica: band"``).
    """
    try:
        low, high = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) in Hz, got {band!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or low >= high:
        raise ValueError(f"{name} ({low}, {high}) Hz is empty or invalid: it needs 0 < low < high, "
                         f"e.g. {DEFAULT_BAND} for {DEFAULT_BAND_BPM[0]:g}-{DEFAULT_BAND_BPM[1]:g} bpm")
    if fs is not None:
        nyquist = check_fs(fs) / 2.0
        if high >= nyquist:
            raise ValueError(f"{name} upper edge {high} Hz is not below the Nyquist frequency {nyquist} Hz "
                             f"of fs={fs} Hz: lower the band's upper edge or use a higher sample rate")
    return low, high


def check_covers_band(n_samples: int, fs: float, low: float, name: str = "x", high: float | None = None) -> None:
    """Raise unless ``n_samples`` at ``fs`` span at least one full period of the band's lowest
    frequency ``low`` (shorter signals cannot resolve it). The advice to raise the lower edge is given
    only when that edge would stay below ``high`` (default: the Nyquist frequency)."""
    needed = math.ceil(fs / low - 1e-9)
    if n_samples < needed:
        edge = fs / n_samples
        ceiling = fs / 2.0 if high is None else min(high, fs / 2.0)
        advice = f" or raise the band's lower edge above {edge:.3g} Hz" if edge < ceiling else ""
        raise ValueError(
            f"{name} has {n_samples} samples ({n_samples / fs:.3g} s at {fs} Hz), shorter than one "
            f"period of the band's lowest frequency {low} Hz ({1 / low:.3g} s = {needed} samples): pass "
            f"at least {needed} samples ({needed / fs:.3g} s){advice}")
