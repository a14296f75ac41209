"""sspd: self-supervised remote photoplethysmography centred on SSPD.

Self-Similarity Prior Distillation (Zhang et al., IEEE TMM 2024): an online network and an EMA target
network see two views of the same face clip; self-similarity maps (SSM) and waves (SSW) built from
temporal self-similarity (TS) blocks are distilled from target to online, with a diagonal-std and a
band-ratio term, plus a spectral loss on the rPPG predictor.

Shape symbols, used in every docstring and shape comment of the package:

    B   batch (clips)
    C   colour channels of a video (3, RGB)
    T   frames in a clip (the input frame rate is kept through every backbone)
    H   frame height in pixels, W frame width in pixels
    D   feature width (channels of a backbone's feature map)
    T'  token length after a TS block's valid temporal convolution (T' = T - k + 1)
    F   frequency bins of a spectrum

A video is (B, C, T, H, W) float, a signal is (B, T), a self-similarity map is (B, T', T').
The frame rate ``fs`` (Hz) is always passed explicitly: nothing assumes 30 fps.

The library logs through :mod:`logging` and never prints; only :mod:`sspd.cli` talks to the user.
"""

__version__ = "0.1.0"
