"""Training-free rPPG baselines: the field's reference points, on a mean skin-colour trace.

Every method is ``method(rgb, fs, ...) -> bvp``: an RGB trace (3, T) or a batch (B, 3, T) (numpy or
torch, positive colour values) at frame rate ``fs`` Hz in, the pulse signal (T,) or (B, T) float64
numpy out, vectorised over windows and batch. Get the trace from face frames with
:func:`mean_rgb_trace`, then estimate the heart rate with :func:`sspd.signal.estimate_hr`.

    GREEN  Verkruysse, Svaasand & Nelson 2008        green channel
    CHROM  de Haan & Jeanne 2013                     chrominance, alpha-tuned, Hann overlap-add
    POS    Wang, den Brinker, Stuijk & de Haan 2017  plane orthogonal to skin, 1.6 s windows
    LGI    Pilz, Krajewski, Blazek & Zaeske 2018     projection off the principal colour direction
    PBV    de Haan & van Leest 2014                  blood-volume pulse signature
    ICA    Poh, McDuff & Picard 2010                 FastICA, source with the strongest HR peak
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from sspd.baselines.ica import fastica, ica
from sspd.baselines.projections import chrom, green, pos
from sspd.baselines.skin import mean_rgb_trace, ycrcb_skin_mask
from sspd.baselines.subspace import lgi, pbv

__all__ = ["BASELINES", "get_baseline", "list_baselines", "green", "chrom", "pos", "lgi", "pbv", "ica",
           "fastica", "mean_rgb_trace", "ycrcb_skin_mask"]

BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "green": green,
    "chrom": chrom,
    "pos": pos,
    "lgi": lgi,
    "pbv": pbv,
    "ica": ica,
}


def list_baselines() -> list[str]:
    """Names of the registered baselines, sorted."""
    return sorted(BASELINES)


def get_baseline(name: str) -> Callable[..., np.ndarray]:
    """The baseline called ``name`` (case-insensitive); raises ValueError listing the valid names."""
    try:
        return BASELINES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown baseline {name!r}; choose one of {list_baselines()}") from None
