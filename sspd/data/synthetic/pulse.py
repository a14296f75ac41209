"""The blood-volume pulse: a varying heart rate integrated to a phase, and a two-peaked waveform.

Instantaneous heart rate (bpm):

    HR(t) = HR0 · (1 + r(t) + d(t)),   r(t) = m·sin(2π·f_r·t + φ_r)   (respiratory sinus arrhythmia)
                                       d(t)  slow drift, starts at 0 (components below 0.03 Hz)

Phase θ(t) = θ0 + 2π·∫0^t HR(s)/60 ds (exact, see :mod:`.curves`), and waveform

    p(t) = [sin θ + ρ·sin(2θ + ψ)] / sqrt((1 + ρ²)/2)

a systolic peak with a dicrotic wave from the second harmonic (ρ = 0.25-0.5, ψ = 0.6-1.6 rad gives a
fast rise over about a third of the beat and a slower, shouldered decline), scaled to unit variance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sspd.data.synthetic.curves import SmoothCurve
from sspd.signal import check_fs

__all__ = ["PulseModel", "PulseTrace", "draw_pulse_model", "simulate_pulse"]

_DRIFT_BAND_HZ = (0.002, 0.03)


@dataclass(frozen=True)
class PulseModel:
    """An analytic pulse: evaluate ``p(t)`` and ``HR(t)`` at any times (seconds).

    Attributes:
        hr_bpm: HR0, the heart rate around which HR(t) varies (bpm).
        respiration: r(t), relative HR modulation by breathing.
        drift: d(t), relative slow HR drift (0 at t = 0).
        dicrotic_ratio: ρ, second-harmonic amplitude relative to the fundamental.
        dicrotic_phase: ψ, second-harmonic phase (rad).
        phase0: θ0, the phase at t = 0 (rad).
    """

    hr_bpm: float
    respiration: SmoothCurve
    drift: SmoothCurve
    dicrotic_ratio: float
    dicrotic_phase: float
    phase0: float

    def hr(self, t: np.ndarray) -> np.ndarray:
        """(N,) instantaneous heart rate in bpm at the (N,) times ``t``."""
        return self.hr_bpm * (1.0 + self.respiration(t) + self.drift(t))

    def phase(self, t: np.ndarray) -> np.ndarray:
        """(N,) pulse phase θ(t) in radians: the exact integral of HR(t)/60."""
        t = np.asarray(t, dtype=np.float64)
        cycles = self.hr_bpm / 60.0 * (t + self.respiration.integral(t) + self.drift.integral(t))
        return self.phase0 + 2.0 * np.pi * cycles

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """(N,) pulse p(t), zero-mean and unit-variance over whole beats."""
        theta = self.phase(t)
        rho = self.dicrotic_ratio
        wave = np.sin(theta) + rho * np.sin(2.0 * theta + self.dicrotic_phase)
        return wave / np.sqrt((1.0 + rho**2) / 2.0)


@dataclass(frozen=True)
class PulseTrace:
    """A pulse sampled at ``fs``: times (N,) s, ``ppg`` p(t) (N,), ``hr`` HR(t) (N,) bpm, ``mean_hr``
    the mean of HR(t) over the samples (bpm), and the ``model`` that made it."""

    fs: float
    times: np.ndarray
    ppg: np.ndarray
    hr: np.ndarray
    mean_hr: float
    model: PulseModel


def draw_pulse_model(rng: np.random.Generator, *, hr_bpm: float | None = None,
                     hr_range_bpm: tuple[float, float] = (45.0, 150.0),
                     respiration_depth: tuple[float, float] = (0.03, 0.05),
                     respiration_hz: tuple[float, float] = (0.15, 0.4), hr_drift: float = 0.02,
                     dicrotic_ratio: tuple[float, float] = (0.25, 0.5)) -> PulseModel:
    """Draw a pulse model. Draws are made in a fixed order and number, whatever the arguments.

    Args:
        rng: the generator.
        hr_bpm: HR0 in bpm; None draws it uniformly from ``hr_range_bpm``.
        hr_range_bpm, respiration_depth, respiration_hz, dicrotic_ratio: (low, high) uniform ranges.
        hr_drift: relative std of the slow drift.
    """
    drawn_hr = rng.uniform(*hr_range_bpm)
    hr0 = drawn_hr if hr_bpm is None else float(hr_bpm)
    if not 20.0 <= hr0 <= 240.0:
        raise ValueError(f"hr_bpm must be in 20-240 bpm, got {hr0}")
    respiration = SmoothCurve.sinusoid(freq_hz=rng.uniform(*respiration_hz),
                                       amplitude=rng.uniform(*respiration_depth),
                                       phase=rng.uniform(0.0, 2.0 * np.pi))
    drift = SmoothCurve.draw(rng, std=hr_drift, band_hz=_DRIFT_BAND_HZ, n_components=3, anchored=True)
    return PulseModel(hr_bpm=hr0, respiration=respiration, drift=drift,
                      dicrotic_ratio=float(rng.uniform(*dicrotic_ratio)),
                      dicrotic_phase=float(rng.uniform(0.6, 1.6)), phase0=float(rng.uniform(0, 2 * np.pi)))


def simulate_pulse(duration_s: float, fs: float, hr_bpm: float | None, rng: np.random.Generator,
                   **model_options: object) -> PulseTrace:
    """Sample a random pulse for ``duration_s`` seconds at ``fs`` Hz.

    Args:
        duration_s: length in seconds (> 0); N = round(duration_s·fs) samples at t = n/fs.
        fs: sample rate in Hz (> 0).
        hr_bpm: HR0 in bpm, or None to draw it from ``hr_range_bpm`` (45-150 by default).
        rng: the generator (seeded by the caller: the same generator state gives the same pulse).
        **model_options: the ranges of :func:`draw_pulse_model` (respiration_depth, hr_drift, ...).

    Returns:
        A :class:`PulseTrace` with ``ppg`` p(t) (N,), ``hr`` HR(t) (N,) bpm and ``mean_hr``.
    """
    check_fs(fs, name="simulate_pulse: fs")
    if duration_s <= 0:
        raise ValueError(f"simulate_pulse: duration_s must be > 0, got {duration_s}")
    n = int(round(duration_s * fs))
    if n < 2:
        raise ValueError(f"simulate_pulse: {duration_s} s at {fs} Hz gives {n} samples; need at least 2")
    model = draw_pulse_model(rng, hr_bpm=hr_bpm, **model_options)  # type: ignore[arg-type]
    times = np.arange(n) / fs
    hr = model.hr(times)
    return PulseTrace(fs=float(fs), times=times, ppg=model(times), hr=hr, mean_hr=float(hr.mean()),
                      model=model)
