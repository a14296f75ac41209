"""Synthetic face videos with a known pulse: the embedded default dataset, and a test bed for readers,
preprocessing and methods.

The model (docs/data_formats.md (Synthetic); skin reflection after Wang et al., IEEE TBME 2017) and every knob
are documented in :mod:`.config`. Pieces, usable alone:

- :func:`simulate_pulse` / :class:`PulseModel` (:mod:`.pulse`): varying HR integrated to a phase, a
  systolic peak with a dicrotic wave.
- :class:`SyntheticVideo` (:mod:`.render`): frames of any size rendered on demand, with labels (p(t),
  HR(t), mean HR) and per-frame skin masks.
- :func:`generate_dataset` (:mod:`.generate`): the UBFC-rPPG DATASET_2 layout on disk (``sspd synth``).
- :mod:`.reader`: the ``synthetic`` dataset format of :func:`sspd.data.open_dataset`
  (:func:`scan_synthetic` a folder, :func:`render_synthetic` on the fly), and :func:`open_synthetic`,
  the same reader without the registry's subject selection and filters.
- :class:`SyntheticClipDataset` (:mod:`.clips`): a torch dataset of already-cropped face clips.

- :mod:`.camera`: exposure and white-balance gains, H.264 (:func:`~.camera.write_h264`,
  :func:`~.camera.h264_round_trip`); :mod:`.expressions`: blinks and mouth motion; :mod:`.capture`: the
  frames a camera delivers and the face clips cut from them.

Three framings: ``"scene"`` (a face about half the frame high in a room, detectable by OpenCV's Haar
cascade: for the reader/preprocessing path), ``"crop"`` (the face fills the frame: training clips) and
``"webcam"`` (a 640×480 frame, the face 150-250 px wide; clips are cut out and resampled as on real video).
``SyntheticConfig.from_preset("realistic")`` turns on the webcam framing, H.264 at CRF 28, camera drift,
blinks and mouth motion together.
"""
from sspd.data.synthetic.config import FRAMINGS, SKIN_TONES, SyntheticConfig
from sspd.data.synthetic.generate import generate_dataset, parse_size
from sspd.data.synthetic.pulse import PulseModel, PulseTrace, draw_pulse_model, simulate_pulse
from sspd.data.synthetic.reader import open_synthetic, render_synthetic, scan_synthetic
from sspd.data.synthetic.render import U_PULSE, U_SPECULAR, SyntheticVideo
from sspd.data.synthetic.scene import spawn_seed

__all__ = ["SyntheticConfig", "SKIN_TONES", "FRAMINGS", "simulate_pulse", "draw_pulse_model", "PulseModel",
           "PulseTrace", "SyntheticVideo", "U_PULSE", "U_SPECULAR", "generate_dataset", "parse_size",
           "open_synthetic", "scan_synthetic", "render_synthetic", "SyntheticClipDataset", "spawn_seed"]


def __getattr__(name: str):
    # The torch dataset is imported on first use, so generating or reading videos does not import torch.
    if name == "SyntheticClipDataset":
        from sspd.data.synthetic.clips import SyntheticClipDataset

        return SyntheticClipDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
