"""Smooth random functions of time, evaluable (and integrable) exactly at any instant.

Every time-varying nuisance of the synthetic model (HR drift, breathing, illumination drift, head motion,
specular change) is a :class:`SmoothCurve`: a short sum of sinusoids with random frequencies in a band.
Being analytic, a curve gives the same value at a frame whatever chunk of frames is rendered, and the
pulse phase is its exact integral (no integration grid, no accumulated error).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SmoothCurve"]

_TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class SmoothCurve:
    """``c(t) = offset + Σ_k amps[k]·sin(2π·freqs[k]·t + phases[k])``, t in seconds.

    Attributes:
        freqs: (K,) frequencies in Hz (> 0).
        amps: (K,) amplitudes.
        phases: (K,) phases in radians.
        offset: constant term (used to anchor a curve at zero at t = 0).
    """

    freqs: np.ndarray
    amps: np.ndarray
    phases: np.ndarray
    offset: float = 0.0

    @classmethod
    def draw(cls, rng: np.random.Generator, *, std: float, band_hz: tuple[float, float],
             n_components: int = 5, anchored: bool = False) -> "SmoothCurve":
        """A random curve whose long-run standard deviation is ``std``, with components in ``band_hz``.

        Args:
            rng: the generator to draw from (always consumes the same number of draws, even if std is
                0, so a knob set to zero does not shift any later draw).
            std: long-run std of the curve (sqrt of the summed component powers).
            band_hz: (low, high) range of the component frequencies, Hz.
            n_components: number of sinusoids.
            anchored: subtract the value at t = 0, so the curve starts at 0.
        """
        low, high = band_hz
        if not 0 < low <= high:
            raise ValueError(f"SmoothCurve.draw: band_hz {band_hz} must satisfy 0 < low <= high")
        freqs = rng.uniform(low, high, n_components)
        phases = rng.uniform(0.0, _TWO_PI, n_components)
        weights = rng.uniform(0.5, 1.0, n_components)
        amps = std * weights / np.sqrt(np.sum(weights**2) / 2.0)  # Σ a²/2 = std²
        offset = -float(np.sum(amps * np.sin(phases))) if anchored else 0.0
        return cls(freqs=freqs, amps=amps, phases=phases, offset=offset)

    @classmethod
    def sinusoid(cls, *, freq_hz: float, amplitude: float, phase: float = 0.0) -> "SmoothCurve":
        """A single sinusoid ``amplitude·sin(2π·freq_hz·t + phase)``."""
        return cls(freqs=np.array([freq_hz], dtype=np.float64), amps=np.array([amplitude], dtype=np.float64),
                   phases=np.array([phase], dtype=np.float64))

    @classmethod
    def zero(cls) -> "SmoothCurve":
        """The constant zero curve."""
        empty = np.zeros(0, dtype=np.float64)
        return cls(freqs=empty, amps=empty, phases=empty)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """(N,) values at the (N,) times ``t`` (seconds)."""
        t = np.asarray(t, dtype=np.float64)
        arg = _TWO_PI * t[..., None] * self.freqs + self.phases  # (N, K)
        return self.offset + np.sin(arg) @ self.amps

    def integral(self, t: np.ndarray) -> np.ndarray:
        """(N,) exact integral of the curve from 0 to each time in ``t`` (seconds·units)."""
        t = np.asarray(t, dtype=np.float64)
        omega = _TWO_PI * self.freqs
        arg = omega * t[..., None] + self.phases  # (N, K)
        return self.offset * t + (np.cos(self.phases) - np.cos(arg)) @ (self.amps / omega)
