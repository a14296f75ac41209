"""The blood-volume pulse: a varying heart rate integrated to a phase, and a two-peaked waveform.

Instantaneous heart rate (bpm):

    HR(t) = HR0 · (1 + r(t) + d(t)),   r(t) = m·sin(2π·f_r·t + φ_r)   (respiratory sinus arrhythmia)
                                       d(t)  slow drift, starts at 0 (components below 0.03 Hz)

Phase θ(t) = θ0 + 2π·∫0^t HR(s)/60 ds (exact, see :mod:`.curves`), and waveform

    p(t) = [sin θ + ρ·sin(2θ + ψ)] / sqrt((1 + ρ²)/2)

a systolic peak with a dicrotic wave from the second harmonic (ρ = 0.25-0.5, ψ = 0.6-1.6 rad gives a
fast rise over about a third of the beat and a slower, shouldered decline), scaled to unit variance.

Beat-to-beat variability (``beat_jitter`` > 0; off by default, when the smooth phase above is used): the
pulse is a train of beats with known times t_k (:class:`BeatTrain`),

    IBI_k = t_{k+1} − t_k = 60 / HR(t_k) · (1 + j·ε_k),   ε_k ~ N(0, 1) i.i.d., clipped to ±3

so the intervals carry the respiratory sinus arrhythmia and drift of HR(t) plus a random beat-to-beat
component of relative std j. The phase rises by 2π over each interval, linearly, and equals θ* (the phase
of the waveform's maximum) at every t_k: the systolic peak of beat k is exactly at t_k, and HR(t) is
60 / IBI of the interval holding t.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from sspd.data.synthetic.curves import SmoothCurve
from sspd.signal import DEFAULT_BAND_BPM, check_fs

__all__ = ["PulseModel", "PulseTrace", "BeatTrain", "draw_pulse_model", "simulate_pulse"]

_DRIFT_BAND_HZ = (0.002, 0.03)
_BEATS_FROM_S = -2.0  # the train starts before t = 0: the face's pulse is evaluated at delayed times
_BEAT_BLOCK = 64  # beats generated at a time, as later times are asked for


class BeatTrain:
    """Beat times with beat-to-beat variability (see the module docstring), generated on demand.

    Args:
        rate_bpm: the smooth HR(t) in bpm, a function of (N,) times.
        jitter: j, the relative std of the random component of each interval.
        seed: seeds the ε_k; the same (rate, jitter, seed, first_s) always gives the same beats, however
            far and in whatever order they are asked for.
        first_s: the time of the first beat (s), before 0.
    """

    def __init__(self, rate_bpm: Callable[[np.ndarray], np.ndarray], *, jitter: float, seed: int,
                 first_s: float) -> None:
        if not 0.0 <= jitter < 0.2:
            raise ValueError(f"beat_jitter must lie in [0, 0.2) (a relative std), got {jitter}")
        self.rate_bpm, self.jitter, self.seed = rate_bpm, float(jitter), int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._times = [float(first_s)]

    def _extend(self, until_s: float) -> None:
        while self._times[-1] <= until_s:
            eps = np.clip(self._rng.standard_normal(_BEAT_BLOCK), -3.0, 3.0)  # (B,)
            for e in eps:
                t = self._times[-1]
                rate = float(self.rate_bpm(np.array([t]))[0])
                self._times.append(t + 60.0 / rate * (1.0 + self.jitter * e))

    def _located(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beats (K,), interval index (N,), interval length (N,)) for the (N,) times ``t``."""
        if t.size:
            self._extend(float(t.max()) + 1.0)
        beats = np.asarray(self._times)  # (K,)
        k = np.clip(np.searchsorted(beats, t, side="right") - 1, 0, beats.size - 2)  # (N,)
        return beats, k, beats[k + 1] - beats[k]

    def times(self, start_s: float, stop_s: float) -> np.ndarray:
        """(P,) beat times t_k in [start_s, stop_s] (s)."""
        self._extend(stop_s + 1.0)
        beats = np.asarray(self._times)
        return beats[(beats >= start_s) & (beats <= stop_s)]

    def cycles(self, t: np.ndarray) -> np.ndarray:
        """(N,) beats elapsed since the first beat at the (N,) times: k + (t − t_k) / IBI_k (linearly
        extrapolated before the first beat)."""
        t = np.asarray(t, dtype=np.float64)
        beats, k, ibi = self._located(t.reshape(-1))
        return (k + (t.reshape(-1) - beats[k]) / ibi).reshape(t.shape)

    def hr(self, t: np.ndarray) -> np.ndarray:
        """(N,) 60 / IBI of the interval holding each time (bpm)."""
        t = np.asarray(t, dtype=np.float64)
        return (60.0 / self._located(t.reshape(-1))[2]).reshape(t.shape)


@dataclass(frozen=True)
class PulseModel:
    """An analytic pulse: evaluate ``p(t)`` and ``HR(t)`` at any times (seconds).

    Attributes:
        hr_bpm: HR0, the heart rate around which HR(t) varies (bpm).
        respiration: r(t), relative HR modulation by breathing.
        drift: d(t), relative slow HR drift (0 at t = 0).
        dicrotic_ratio: ρ, second-harmonic amplitude relative to the fundamental.
        dicrotic_phase: ψ, second-harmonic phase (rad).
        phase0: θ0, the phase at t = 0 (rad) of the smooth model.
        beats: the beat train when the model has beat-to-beat variability, else None (smooth phase).
    """

    hr_bpm: float
    respiration: SmoothCurve
    drift: SmoothCurve
    dicrotic_ratio: float
    dicrotic_phase: float
    phase0: float
    beats: BeatTrain | None = None

    def smooth_hr(self, t: np.ndarray) -> np.ndarray:
        """(N,) HR0 · (1 + r(t) + d(t)) in bpm: the rate around which beats vary."""
        return self.hr_bpm * (1.0 + self.respiration(t) + self.drift(t))

    def hr(self, t: np.ndarray) -> np.ndarray:
        """(N,) instantaneous heart rate in bpm at the (N,) times ``t`` (with beats: 60 / the interval)."""
        return self.smooth_hr(t) if self.beats is None else self.beats.hr(t)

    @cached_property
    def peak_phase(self) -> float:
        """θ*, the phase (rad, in [0, 2π)) of the waveform's maximum."""
        grid = np.linspace(0.0, 2.0 * np.pi, 1 << 16, endpoint=False)
        wave = np.sin(grid) + self.dicrotic_ratio * np.sin(2.0 * grid + self.dicrotic_phase)
        return float(grid[np.argmax(wave)])

    def phase(self, t: np.ndarray) -> np.ndarray:
        """(N,) pulse phase θ(t) in radians: the exact integral of HR(t)/60 (with beats: θ* at each beat,
        linear in between)."""
        t = np.asarray(t, dtype=np.float64)
        if self.beats is not None:
            return self.peak_phase + 2.0 * np.pi * self.beats.cycles(t)
        cycles = self.hr_bpm / 60.0 * (t + self.respiration.integral(t) + self.drift.integral(t))
        return self.phase0 + 2.0 * np.pi * cycles

    def beat_times(self, start_s: float, stop_s: float) -> np.ndarray:
        """(P,) times (s) of the systolic peaks in [start_s, stop_s]: the true beats. Only with
        beat-to-beat variability (``beat_jitter`` > 0)."""
        if self.beats is None:
            raise ValueError("this pulse has no beat train: draw it with beat_jitter > 0 to record beat times")
        return self.beats.times(start_s, stop_s)

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
                     hr_range_bpm: tuple[float, float] = DEFAULT_BAND_BPM,
                     respiration_depth: tuple[float, float] = (0.03, 0.05),
                     respiration_hz: tuple[float, float] = (0.15, 0.4), hr_drift: float = 0.02,
                     dicrotic_ratio: tuple[float, float] = (0.25, 0.5), beat_jitter: float = 0.0,
                     beat_seed: int | None = None) -> PulseModel:
    """Draw a pulse model. Draws are made in a fixed order and number, whatever the arguments (with
    ``beat_jitter`` > 0 and no ``beat_seed``, one more draw follows all the others).

    Args:
        rng: the generator.
        hr_bpm: HR0 in bpm; None draws it uniformly from ``hr_range_bpm``.
        hr_range_bpm, respiration_depth, respiration_hz, dicrotic_ratio: (low, high) uniform ranges.
        hr_drift: relative std of the slow drift.
        beat_jitter: relative std of the random beat-to-beat interval component; 0 (default) keeps the
            smooth phase model, > 0 makes a :class:`BeatTrain` (respiratory sinus arrhythmia + jitter).
        beat_seed: seeds the beat jitter (default: drawn from ``rng`` after everything else).
    """
    drawn_hr = rng.uniform(*hr_range_bpm)
    hr0 = drawn_hr if hr_bpm is None else float(hr_bpm)
    if not 20.0 <= hr0 <= 240.0:
        raise ValueError(f"hr_bpm must be in 20-240 bpm, got {hr0}")
    respiration = SmoothCurve.sinusoid(freq_hz=rng.uniform(*respiration_hz),
                                       amplitude=rng.uniform(*respiration_depth),
                                       phase=rng.uniform(0.0, 2.0 * np.pi))
    drift = SmoothCurve.draw(rng, std=hr_drift, band_hz=_DRIFT_BAND_HZ, n_components=3, anchored=True)
    model = PulseModel(hr_bpm=hr0, respiration=respiration, drift=drift,
                       dicrotic_ratio=float(rng.uniform(*dicrotic_ratio)),
                       dicrotic_phase=float(rng.uniform(0.6, 1.6)), phase0=float(rng.uniform(0, 2 * np.pi)))
    if beat_jitter == 0:
        return model
    seed = int(rng.integers(2**62)) if beat_seed is None else int(beat_seed)
    first = _BEATS_FROM_S + model.phase0 / (2.0 * np.pi) * 60.0 / hr0  # phase0 places the beats
    beats = BeatTrain(model.smooth_hr, jitter=beat_jitter, seed=seed, first_s=first)
    return dataclasses.replace(model, beats=beats)


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
