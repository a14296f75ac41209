"""Backbones behind one registry and one contract: PhysNet, PhysFormer, SSPD-Net.

    >>> from sspd.backbones import create_backbone, list_backbones
    >>> list_backbones()
    ['physformer', 'physnet', 'sspdnet']
    >>> net = create_backbone("sspdnet", width=0.25)

Every backbone: ``forward_features(x: (B, 3, T, H, W)) -> (B, D, T, h, w)`` at the input frame rate,
``forward(x) -> (B, T)``, ``forward_pooled(x) -> (B, D, T)`` and ``feature_dim`` (D). Size knobs:
``frames``, ``input_size`` and a ``width`` multiplier; ``se=True`` adds squeeze-excitation to the
CNNs. Clip sizes a model cannot take raise a ValueError naming the valid sizes before any layer runs.
"""
from sspd.backbones.base import Backbone, count_parameters, pool_features
from sspd.backbones.registry import create_backbone, list_backbones, register_backbone
from sspd.backbones.physformer import PhysFormer
from sspd.backbones.physnet import PhysNet
from sspd.backbones.sspdnet import SSPDNet

__all__ = [
    "Backbone",
    "count_parameters",
    "pool_features",
    "create_backbone",
    "list_backbones",
    "register_backbone",
    "PhysFormer",
    "PhysNet",
    "SSPDNet",
]
