"""SSPD's temporal self-similarity machinery: TS blocks, self-similarity maps and waves, and their losses.

Usable alone in any training loop::

    stack = TSStack(dim=256)                          # kernels (9, 7, 5), 2 heads
    hs, _ = stack(pooled_features)                    # pooled_features: (B, D, T)
    ssm = self_similarity_map(hs[0])                  # (B, T', T')
    ssw = self_similarity_wave(ssm)                   # (B, T')
    loss = diagonal_std_loss(ssm) + band_ratio_loss(ssw, fs=30.0)
"""
from sspd.ssm.blocks import TSBlock, TSBlockOutput, TSStack, TSStackOutput
from sspd.ssm.losses import band_ratio_loss, diagonal_std_loss, pyramid_loss
from sspd.ssm.maps import diagonal_counts, self_similarity_map, self_similarity_wave, upper_diagonals

__all__ = [
    "TSBlock",
    "TSBlockOutput",
    "TSStack",
    "TSStackOutput",
    "self_similarity_map",
    "self_similarity_wave",
    "upper_diagonals",
    "diagonal_counts",
    "pyramid_loss",
    "diagonal_std_loss",
    "band_ratio_loss",
]
