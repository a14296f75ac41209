"""Eye blinks and mouth motion: how far the eyes are closed and the mouth open at any instant.

Blinks are a Poisson train of ``rate`` per minute (gaps at least ``_MIN_GAP_S``), each closing the
eyelids over ``duration`` s (0.15-0.35, drawn per blink): a fast closing over the first 40 % and a slower
opening, a raised-cosine profile

    c(t) = ½(1 − cos(π·x/0.4))          for x = (t − t_k)/duration in [0, 0.4]
           ½(1 + cos(π·(x − 0.4)/0.6))  for x in [0.4, 1],   0 elsewhere.

The mouth opens as ``o(t) = mouth_motion · clip(0.5 + c_m(t), 0, 1)`` with ``c_m`` a smooth curve of
std 0.35 at 0.5-3 Hz (talking). Both are pure functions of time, like every other curve of the model,
so any frame renders the same whatever the chunk.
"""
from __future__ import annotations

import numpy as np

from sspd.data.synthetic.curves import SmoothCurve

__all__ = ["BlinkTrain", "Expressions"]

_MIN_GAP_S = 0.6
_DURATION_S = (0.15, 0.35)
_CLOSING = 0.4  # fraction of a blink spent closing
_BLOCK = 32  # blinks drawn at a time, as later times are asked for
_MOUTH_BAND_HZ = (0.5, 3.0)


class BlinkTrain:
    """Blink times and durations drawn on demand from ``seed``: the same (rate, seed) always gives the
    same blinks, however far and in whatever order they are asked for. ``rate_per_min`` 0: no blinks."""

    def __init__(self, *, rate_per_min: float, seed: int) -> None:
        self.rate_per_min, self.seed = float(rate_per_min), int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._starts: list[float] = []
        self._durations: list[float] = []
        self._until = -1.0  # blinks are drawn from t = -1 s, so a video starts mid-blink sometimes

    def _extend(self, until_s: float) -> None:
        mean_gap = 60.0 / self.rate_per_min - _MIN_GAP_S
        while self._until <= until_s:
            gaps = _MIN_GAP_S + self._rng.exponential(max(mean_gap, 1e-3), _BLOCK)  # (B,)
            durations = self._rng.uniform(*_DURATION_S, _BLOCK)
            for gap, duration in zip(gaps, durations):
                self._until += gap
                self._starts.append(self._until)
                self._durations.append(float(duration))

    def closure(self, times: np.ndarray) -> np.ndarray:
        """(N,) how far the eyes are closed (0 open, 1 shut) at the (N,) ``times`` (s)."""
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros_like(times)
        if self.rate_per_min <= 0 or times.size == 0:
            return out
        self._extend(float(times.max()) + 1.0)
        starts, durations = np.asarray(self._starts), np.asarray(self._durations)  # (K,)
        k = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, None)  # (N,) the last blink begun
        x = (times - starts[k]) / durations[k]
        closing = 0.5 * (1.0 - np.cos(np.pi * np.clip(x, 0, _CLOSING) / _CLOSING))
        opening = 0.5 * (1.0 + np.cos(np.pi * np.clip(x - _CLOSING, 0, 1 - _CLOSING) / (1 - _CLOSING)))
        inside = (x >= 0) & (x < 1)
        out[inside] = np.where(x[inside] < _CLOSING, closing[inside], opening[inside])
        return out

    def times(self, start_s: float, stop_s: float) -> np.ndarray:
        """(P,) start times (s) of the blinks that begin in [start_s, stop_s)."""
        if self.rate_per_min <= 0:
            return np.zeros(0)
        self._extend(stop_s)
        starts = np.asarray(self._starts)
        return starts[(starts >= start_s) & (starts < stop_s)]


class Expressions:
    """A video's blinks and mouth motion (see the module docstring)."""

    def __init__(self, rng: np.random.Generator, *, blink_rate_per_min: tuple[float, float],
                 mouth_motion: float) -> None:
        rate = float(rng.uniform(*blink_rate_per_min))
        self.blinks = BlinkTrain(rate_per_min=rate, seed=int(rng.integers(2**62)))
        self.mouth_motion = float(mouth_motion)
        self._mouth = SmoothCurve.draw(rng, std=0.35, band_hz=_MOUTH_BAND_HZ)

    @property
    def blinking(self) -> bool:
        return self.blinks.rate_per_min > 0

    @property
    def talking(self) -> bool:
        return self.mouth_motion > 0

    def eyes_closed(self, times: np.ndarray) -> np.ndarray:
        """(N,) eyelid closure in [0, 1] at ``times`` (s)."""
        return self.blinks.closure(times)

    def mouth_open(self, times: np.ndarray) -> np.ndarray:
        """(N,) mouth opening in [0, mouth_motion] at ``times`` (s)."""
        if not self.talking:
            return np.zeros_like(np.asarray(times, dtype=np.float64))
        return self.mouth_motion * np.clip(0.5 + self._mouth(times), 0.0, 1.0)
