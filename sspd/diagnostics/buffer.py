"""A rolling buffer of recent clips' features, predictions and reference heart rates.

Probes over clips (feature spread, effective rank, cross-clip correlation, HR spread) need many clips;
with a batch of 2 one step has too few. The buffer keeps the last ``capacity`` clips across steps, as
detached float32 CPU copies, so those probes see a sample of the recent training distribution. Entries
from different steps come from slightly different weights: keep the capacity to a few hundred steps'
worth (the default 64 clips is 32 steps at batch 2).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sspd.diagnostics._checks import as_tensor

__all__ = ["ProbeBuffer"]


def _append(store: Tensor | None, rows: Tensor, capacity: int, name: str) -> Tensor:
    """The last ``capacity`` rows of ``store`` followed by ``rows``; raises if the row shape changed."""
    if store is not None and store.shape[1:] != rows.shape[1:]:
        raise ValueError(f"ProbeBuffer: {name} rows have shape {tuple(rows.shape[1:])}, the buffer holds "
                         f"{tuple(store.shape[1:])}: keep the feature width and clip length fixed, or "
                         "call clear() when they change")
    joined = rows if store is None else torch.cat([store, rows])
    return joined[-capacity:]


class ProbeBuffer:
    """The last ``capacity`` clips' time-mean pooled features, predictions and label HRs.

    Features and predictions are kept separately (a step may log one without the other); a label HR
    is kept per prediction row, NaN where the step had no labels.

    Args:
        capacity: the number of clips kept of each kind (>= 2).
    """

    def __init__(self, capacity: int = 64) -> None:
        if int(capacity) != capacity or capacity < 2:
            raise ValueError(f"ProbeBuffer: capacity must be an integer >= 2 clips, got {capacity!r}")
        self.capacity = int(capacity)
        self.clear()

    def clear(self) -> None:
        """Forget every clip."""
        self._features: Tensor | None = None      # (N, D)
        self._predictions: Tensor | None = None   # (N, T)
        self._labels: Tensor | None = None        # (N,), NaN = no label

    def add(self, *, pooled: Any = None, predictions: Any = None, labels_hr: Any = None) -> None:
        """Append one batch.

        Args:
            pooled: (B, D, T) pooled features; their time mean (B, D) is kept.
            predictions: (B, T) predicted signals.
            labels_hr: (B,) reference HR in bpm of the clips in ``predictions`` (needs predictions).
        """
        if pooled is not None:
            clip_features = as_tensor(pooled, "pooled", 3, "(B, D, T)").mean(dim=2).float()  # (B, D)
            self._features = _append(self._features, clip_features, self.capacity, "feature")
        if predictions is None:
            if labels_hr is not None:
                raise ValueError("ProbeBuffer.add: labels_hr given without predictions: pass the "
                                 "predictions of the same clips")
            return
        preds = as_tensor(predictions, "predictions", 2, "(B, T)").float()                    # (B, T)
        labels = self._label_rows(labels_hr, preds.shape[0])
        self._predictions = _append(self._predictions, preds, self.capacity, "prediction")
        self._labels = _append(self._labels, labels, self.capacity, "label")

    @staticmethod
    def _label_rows(labels_hr: Any, n: int) -> Tensor:
        """(B,) float32 label HRs, NaN when none were given."""
        if labels_hr is None:
            return torch.full((n,), float("nan"))
        labels = as_tensor(labels_hr, "labels_hr", 1, "(B,)").float()                        # (B,)
        if labels.shape[0] != n:
            raise ValueError(f"labels_hr has {labels.shape[0]} values for {n} predictions: pass one "
                             "reference HR (bpm) per clip")
        return labels

    @property
    def features(self) -> Tensor | None:
        """(N, D) time-mean pooled features of the last N <= capacity clips, or None."""
        return self._features

    @property
    def predictions(self) -> Tensor | None:
        """(N, T) predictions of the last N <= capacity clips, or None."""
        return self._predictions

    @property
    def labels_hr(self) -> Tensor | None:
        """(N,) label HRs (bpm) aligned with :attr:`predictions`; None unless every kept clip has one."""
        if self._labels is None or bool(torch.isnan(self._labels).any()):
            return None
        return self._labels

    def state_dict(self) -> dict[str, Any]:
        """The buffer's contents, for checkpoints (tensors or None)."""
        return {"capacity": self.capacity, "features": self._features,
                "predictions": self._predictions, "labels": self._labels}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s contents (the capacity of this buffer is kept)."""
        missing = {"features", "predictions", "labels"} - set(state)
        if missing:
            raise ValueError(f"ProbeBuffer.load_state_dict: missing keys {sorted(missing)}")
        keep = self.capacity
        self._features = None if state["features"] is None else state["features"][-keep:].clone()
        self._predictions = None if state["predictions"] is None else state["predictions"][-keep:].clone()
        self._labels = None if state["labels"] is None else state["labels"][-keep:].clone()
