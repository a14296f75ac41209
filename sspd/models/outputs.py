"""What a network hands an objective for one view: TS-level tokens, the predicted signal, pooled features."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["NetworkOutputs"]


class NetworkOutputs(NamedTuple):
    """One view's outputs (:class:`sspd.models.SSPDNetwork` builds them).

    ``hs`` is empty when the objective asks for no TS stack (SiNC, the supervised control).
    ``rppg`` comes from the DETACHED feature map for SSPD (its gradient routing) and from the live feature
    map for objectives that train the predictor through the backbone. ``spatial`` is set only by the
    ST-rPPG head (``model.head: st_rppg``, Contrast-Phys); ``rppg`` is then the mean of its signals.
    """

    hs: list[Tensor]              # one (B, T'_l, D) token tensor per TS level, shallowest first
    rppg: Tensor                  # (B, T) the predictor's signal
    pooled: Tensor | None = None  # (B, D, T) the backbone's spatially pooled features
    spatial: Tensor | None = None  # (B, S², T) the ST-rPPG head's spatial signals (rppg is their mean)
