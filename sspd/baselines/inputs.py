"""Checking and shaping the inputs of the baselines: RGB traces and window lengths (frame rates and
bands are checked by :func:`sspd.signal.check_fs` and :func:`sspd.signal.check_band`).

Every baseline takes an RGB trace (3, T) or a batch (B, 3, T), as a numpy array or a torch tensor, and
works internally on a float64 (B, 3, T) array; :func:`as_rgb_batch` does that conversion once and
:func:`restore_batch` gives the output back the caller's shape, (T,) or (B, T).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["as_rgb_batch", "restore_batch", "window_length"]


def _to_numpy(rgb, name: str) -> np.ndarray:
    """Float64 numpy copy of a numpy array or torch tensor (torch is imported only if given one)."""
    if type(rgb).__module__.startswith("torch"):
        rgb = rgb.detach().cpu().double().numpy()
    try:
        return np.asarray(rgb, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: rgb must be a numeric array or tensor, got {type(rgb).__name__}") from err


def as_rgb_batch(rgb, name: str) -> tuple[np.ndarray, bool]:
    """Validate an RGB trace and return it as a float64 (B, 3, T) array.

    Args:
        rgb: (3, T) or (B, 3, T) mean skin colour over time (numpy or torch), in any positive unit
            (grey levels, [0, 1]).
        name: the calling method, quoted in error messages.

    Returns:
        The (B, 3, T) float64 array and whether the input was a single (3, T) trace.
    """
    x = _to_numpy(rgb, name)
    single = x.ndim == 2
    if single:
        x = x[None]  # (3, T) -> (1, 3, T)
    if x.ndim != 3 or x.shape[1] != 3:
        hint = " (a (T, 3) trace: pass rgb.T)" if x.ndim == 3 and x.shape[-1] == 3 else ""
        raise ValueError(f"{name}: rgb must be an RGB trace (3, T) or a batch (B, 3, T), "
                         f"got shape {tuple(np.shape(rgb))}{hint}")
    if x.shape[0] == 0 or x.shape[2] < 2:
        raise ValueError(f"{name}: rgb {tuple(np.shape(rgb))} is empty or has fewer than 2 frames")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: rgb contains NaN or inf; fill or drop the frames where the face "
                         "was lost before calling it")
    flat = np.ptp(x, axis=-1).max(axis=-1) == 0  # (B,) every channel constant
    if flat.any():
        raise ValueError(f"{name}: trace(s) {np.flatnonzero(flat).tolist()} are constant over time: "
                         "there is no pulse to recover (check the face crop / skin mask)")
    return x, single


def restore_batch(bvp: np.ndarray, single: bool) -> np.ndarray:
    """(B, T) -> (T,) when the caller passed a single trace, else unchanged."""
    return bvp[0] if single else bvp


def window_length(fs: float, window_s: float, n_frames: int, name: str) -> int:
    """Window length in frames, ``round(window_s * fs)``, checked against the trace length.

    Raises ValueError if the window has fewer than 4 frames or is longer than the trace.
    """
    if not (isinstance(window_s, (int, float, np.number)) and math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"{name}: window_s must be a positive number of seconds, got {window_s!r}")
    length = int(round(window_s * fs))
    if length < 4:
        raise ValueError(f"{name}: window_s={window_s} s at fs={fs} Hz is {length} frames; "
                         "use a window of at least 4 frames")
    if length > n_frames:
        raise ValueError(f"{name}: the trace has {n_frames} frames, shorter than one window of "
                         f"{length} frames ({window_s} s at {fs} Hz); pass a longer trace or a "
                         "smaller window_s")
    return length
