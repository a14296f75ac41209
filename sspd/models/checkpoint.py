"""A network from what a checkpoint file holds, whatever its format: sspd's or an rPPG-Toolbox state dict.

    model = model_from_checkpoint(torch.load("last.pt", weights_only=True), source="last.pt")
    model.network.predict(view)       # (B, 3, T, h, w) → (B, T)
    model.input                       # the InputSpec: crop, view, clip length, what the output follows

Reading the file is the engine's (:func:`sspd.engine.load_model`); this module only turns its contents into
a network. Each format is one entry of :data:`MODEL_FORMATS`: a test that recognises its contents and a
builder; ``format="auto"`` takes the first that recognises them, and contents that none recognises raise
one line naming the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sspd.models.input_spec import FROM_INPUT, InputSpec, read_input_spec
from sspd.models.network import SSPDNetwork, build_network
from sspd.models.toolbox import TOOLBOX_FORMAT, load_toolbox_state_dict, toolbox_backbone

__all__ = ["CHECKPOINT_FORMAT", "SSPD_FORMAT", "MODEL_FORMATS", "LoadedModel", "model_from_checkpoint",
           "sspd_network"]

#: the ``"format"`` entry of every checkpoint sspd writes
CHECKPOINT_FORMAT = "sspd-checkpoint-1"
#: the name of sspd's own format (``--format sspd``)
SSPD_FORMAT = "sspd"

_WHICH = ("online", "target")


@dataclass
class LoadedModel:
    """A network read from a checkpoint, with what inference needs to run it.

    Attributes:
        network: the :class:`SSPDNetwork` in eval mode (on the CPU; move it where it should run).
        input: its :class:`InputSpec` (recorded, or derived for older checkpoints).
        crop_size_from: where ``input.box_size`` came from, in words.
        format: the checkpoint's ``format`` (``sspd-checkpoint-1`` or ``rppg-toolbox``).
        checkpoint: the checkpoint dict (a toolbox file: a checkpoint-like dict of its recipe).
        which: the network it holds (``online`` or ``target``).
    """

    network: SSPDNetwork
    input: InputSpec
    crop_size_from: str
    format: str
    checkpoint: dict[str, Any]
    which: str = "online"

    @property
    def step(self) -> int | None:
        return self.checkpoint.get("step")


def _is_sspd(state: Any) -> bool:
    return isinstance(state, Mapping) and state.get("format") == CHECKPOINT_FORMAT


def _is_toolbox(state: Any) -> bool:
    return isinstance(state, Mapping) and not _is_sspd(state) and toolbox_backbone(state) is not None


def sspd_network(checkpoint: Mapping[str, Any], which: str, source: str | os.PathLike) -> SSPDNetwork:
    """The network of an sspd checkpoint's recipe with its ``which`` weights; one ValueError naming ``source``
    when the recipe is missing or cannot be built, the network is absent, or the weights do not fit it."""
    missing = {"network", which} - set(checkpoint)
    if missing:
        raise ValueError(f"load_pretrained: {source} lacks {sorted(missing)}")
    if checkpoint[which] is None:
        name = (checkpoint.get("config") or {}).get("objective", {}).get("name", "?")
        raise ValueError(f"load_pretrained: {source} holds no {which} network: its objective ({name}) trains "
                         "without an EMA target; load which='online'")
    try:
        network = build_network(checkpoint["network"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"load_pretrained: {source}: its network recipe cannot be built ({err}); the checkpoint "
                         "was edited or is corrupt") from None
    try:
        network.load_state_dict(checkpoint[which])
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()
        raise ValueError(f"load_pretrained: {source}: its {which} weights do not fit the network it describes "
                         f"({first[0] if first else type(err).__name__}; {len(first)} line(s) of detail); the "
                         "checkpoint was edited or is corrupt") from None
    return network.eval()


def _load_sspd(state: Mapping[str, Any], which: str, source: str | os.PathLike) -> LoadedModel:
    network = sspd_network(state, which, source)
    spec, origin = read_input_spec(state, source)
    return LoadedModel(network=network, input=spec, crop_size_from=origin, format=CHECKPOINT_FORMAT,
                       checkpoint=dict(state), which=which)


def _load_toolbox(state: Mapping[str, Any], which: str, source: str | os.PathLike) -> LoadedModel:
    if which != "online":
        raise ValueError(f"{source}: an rPPG-Toolbox checkpoint holds one network, not an EMA target; use "
                         "which='online'")
    network, checkpoint = load_toolbox_state_dict(state, source)
    spec, _ = read_input_spec(checkpoint, source)
    return LoadedModel(network=network, input=spec, crop_size_from=FROM_INPUT, format=TOOLBOX_FORMAT,
                       checkpoint=checkpoint, which=which)


#: format name → (recognises the contents, builds the model); ``format="auto"`` tries them in this order
MODEL_FORMATS: dict[str, tuple[Callable[[Any], bool], Callable[..., LoadedModel]]] = {
    SSPD_FORMAT: (_is_sspd, _load_sspd),
    TOOLBOX_FORMAT: (_is_toolbox, _load_toolbox),
}


def _unknown(state: Any, source: str | os.PathLike) -> ValueError:
    held = f"format {state.get('format')!r}" if isinstance(state, Mapping) else f"a {type(state).__name__}"
    return ValueError(f"load_pretrained: {source} is not an sspd pretraining checkpoint ({held}, expected "
                      f"{CHECKPOINT_FORMAT!r}) nor an rPPG-Toolbox PhysNet/PhysFormer state dict: pass a run "
                      "directory of sspd pretrain or finetune, a .pt from its checkpoints/, or a toolbox .pth")


def model_from_checkpoint(state: Any, *, which: str = "online", source: str | os.PathLike = "checkpoint",
                          format: str = "auto") -> LoadedModel:
    """The model a checkpoint's contents hold (what ``torch.load`` returned), in eval mode on the CPU.

    Args:
        state: the loaded contents. which: ``"online"`` or ``"target"`` (its EMA; sspd only).
        source: the file, named in every error. format: ``"auto"`` (recognise the contents) or a key of
            :data:`MODEL_FORMATS` (insist on it).

    Raises:
        ValueError (one line naming ``source``): a format the contents do not have, contents of no known
            format, or a network that cannot be built from them.
    """
    if which not in _WHICH:
        raise ValueError(f"load_pretrained: which must be 'online' or 'target', got {which!r}")
    if format != "auto" and format not in MODEL_FORMATS:
        raise ValueError(f"load_pretrained: format must be one of auto, {', '.join(MODEL_FORMATS)}, got {format!r}")
    if format == TOOLBOX_FORMAT:  # insisted on: its own error says why the contents are not a toolbox layout
        return _load_toolbox(state if isinstance(state, Mapping) else {}, which, source)
    for name, (recognises, load) in MODEL_FORMATS.items():
        if format in ("auto", name) and recognises(state):
            return load(state, which, source)
    raise _unknown(state, source)
