"""rPPG-Toolbox checkpoints as sspd networks: recognise a PhysNet or PhysFormer state dict by its key
layout, rename its keys to sspd's backbones, infer the architecture from the tensors' shapes and load it
strictly (no key left over, none missing).

    network, checkpoint = load_toolbox_checkpoint("PURE_PhysNet_DiffNormalized.pth")
    pulse_diff = network.predict(view)          # (B, 3, T, 72, 72) DiffNormalized view → (B, T)

The toolbox's networks are sspd's :class:`sspd.backbones.PhysNet` and :class:`sspd.backbones.PhysFormer`
under other key names. The network is an :class:`sspd.engine.SSPDNetwork` whose rPPG is the backbone's
own head (``output="backbone"``), whose signal is the pulse's first difference (``signal="diff"``, the
toolbox's "DiffNormalized" labels: integrated before any HR) and whose inference view is the toolbox's
input (:data:`TOOLBOX_VIEW`: normalised frame difference divided by its standard deviation over the
video, frames resized with area interpolation). Nothing is downloaded: the user points at a file.

Key renaming (toolbox → sspd), after a leading ``module.`` (DataParallel) is dropped:

- PhysNet: ``ConvBlock1`` → ``encoder.0.0``; ``ConvBlock{n}`` (n = 2…9) → ``encoder.{n//2}.{n%2}``;
  ``upsample`` → ``decoder.0``; ``upsample2`` → ``decoder.1``; ``ConvBlock10`` → ``head``.
- PhysFormer: ``Stem{s}.{0,1}`` → ``stem.{2s}.{0,1}``; ``patch_embedding`` → ``tube_embed``;
  ``transformer{s}.blocks.{b}`` → ``blocks.{k(s-1)+b}`` (k blocks per stage); inside a block
  ``attn.proj_q.0.conv`` → ``attn.q.0``, ``attn.proj_q.1`` → ``attn.q.1`` (k alike), ``attn.proj_v.0``
  → ``attn.v``, ``proj`` → ``attn.proj``, ``pwff.fc1.{0,1}`` → ``ffn.layers.0.{0,1}``, ``pwff.STConv.{0,1}``
  → ``ffn.layers.{1,2}``, ``pwff.fc2.{0,1}`` → ``ffn.layers.{4,5}``, ``norm1``/``norm2`` unchanged;
  ``upsample.{1,2}`` → ``upsample.0.1.{0,1}``; ``upsample2.{1,2}`` → ``upsample.1.1.{0,1}``;
  ``ConvBlockLast`` → ``head``.
"""
from __future__ import annotations

import dataclasses
import os
import re
from functools import partial
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from sspd.augment.inference import InferenceView
from sspd.engine.network import SSPDNetwork, build_network

__all__ = ["TOOLBOX_FORMAT", "TOOLBOX_VIEW", "TOOLBOX_CLIPS", "toolbox_backbone", "physnet_key",
           "physformer_key", "map_toolbox_state_dict", "toolbox_network_spec", "load_toolbox_state_dict",
           "load_toolbox_checkpoint"]

#: the ``format`` name of an rPPG-Toolbox state dict (``sspd predict --format rppg-toolbox``)
TOOLBOX_FORMAT = "rppg-toolbox"

#: the toolbox's "DiffNormalized" input
TOOLBOX_VIEW = InferenceView(difference="normalized", difference_eps=1e-7, luminance="keep", scale="std")

#: the toolbox's clip length (frames) and input side (pixels) per backbone
TOOLBOX_CLIPS = {"physnet": (128, 72), "physformer": (160, 128)}

#: PhysFormer's options the state dict cannot tell (the toolbox's published models)
_PHYSFORMER_FIXED = {"num_heads": 4, "theta": 0.7, "sharpness": 2.0}

_LAYOUT = {"physnet": ("ConvBlock1.0.weight", "ConvBlock10.weight"),
           "physformer": ("patch_embedding.weight", "ConvBlockLast.weight")}


def _strip_module(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict without the ``module.`` prefix DataParallel adds to every key."""
    if state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def toolbox_backbone(state: Mapping[str, Any]) -> str | None:
    """``"physnet"`` or ``"physformer"`` when ``state`` has a toolbox model's key layout (its first and
    last layer's weights, as tensors), else None."""
    if not isinstance(state, Mapping):
        return None
    keys = _strip_module(state)
    for name, required in _LAYOUT.items():
        if all(isinstance(keys.get(k), Tensor) for k in required):
            return name
    return None


_PHYSNET_BLOCK = re.compile(r"ConvBlock(\d+)\.(.+)")


def physnet_key(key: str) -> str:
    """A toolbox PhysNet key → sspd's :class:`~sspd.backbones.PhysNet` key; ValueError if it has none."""
    match = _PHYSNET_BLOCK.fullmatch(key)
    if match:
        n, rest = int(match.group(1)), match.group(2)
        if n == 1:
            return f"encoder.0.0.{rest}"
        if 2 <= n <= 9:
            return f"encoder.{n // 2}.{n % 2}.{rest}"
        if n == 10:
            return f"head.{rest}"
    for old, new in (("upsample2.", "decoder.1."), ("upsample.", "decoder.0.")):
        if key.startswith(old):
            return new + key[len(old):]
    raise ValueError(f"no sspd PhysNet parameter for the toolbox key {key!r}")


#: inside a PhysFormer block: (pattern, replacement), the first match wins
_BLOCK_RULES = (
    (re.compile(r"attn\.proj_([qk])\.0\.conv\.(.+)"), r"attn.\1.0.\2"),
    (re.compile(r"attn\.proj_([qk])\.1\.(.+)"), r"attn.\1.1.\2"),
    (re.compile(r"attn\.proj_v\.(?:0\.)?(weight|bias)"), r"attn.v.\1"),
    (re.compile(r"proj\.(.+)"), r"attn.proj.\1"),
    (re.compile(r"pwff\.fc1\.([01])\.(.+)"), r"ffn.layers.0.\1.\2"),
    (re.compile(r"pwff\.STConv\.0\.(.+)"), r"ffn.layers.1.\1"),
    (re.compile(r"pwff\.STConv\.1\.(.+)"), r"ffn.layers.2.\1"),
    (re.compile(r"pwff\.fc2\.0\.(.+)"), r"ffn.layers.4.\1"),
    (re.compile(r"pwff\.fc2\.1\.(.+)"), r"ffn.layers.5.\1"),
    (re.compile(r"(norm[12]\..+)"), r"\1"),
)
_PHYSFORMER_BLOCK = re.compile(r"transformer(\d+)\.blocks\.(\d+)\.(.+)")
_PHYSFORMER_STEM = re.compile(r"Stem(\d+)\.([01])\.(.+)")
_PHYSFORMER_UP = re.compile(r"upsample(2?)\.([12])\.(.+)")


def physformer_key(key: str, blocks_per_stage: int = 4) -> str:
    """A toolbox PhysFormer key → sspd's :class:`~sspd.backbones.PhysFormer` key (``blocks_per_stage``
    blocks in each of the toolbox's ``transformer1..3``); ValueError if it has none."""
    if key.startswith("patch_embedding."):
        return "tube_embed." + key[len("patch_embedding."):]
    if key.startswith("ConvBlockLast."):
        return "head." + key[len("ConvBlockLast."):]
    stem = _PHYSFORMER_STEM.fullmatch(key)
    if stem:
        return f"stem.{2 * int(stem.group(1))}.{stem.group(2)}.{stem.group(3)}"
    up = _PHYSFORMER_UP.fullmatch(key)
    if up:
        return f"upsample.{1 if up.group(1) else 0}.1.{int(up.group(2)) - 1}.{up.group(3)}"
    block = _PHYSFORMER_BLOCK.fullmatch(key)
    if block and int(block.group(1)) >= 1:
        index = blocks_per_stage * (int(block.group(1)) - 1) + int(block.group(2))
        for pattern, replacement in _BLOCK_RULES:
            if pattern.fullmatch(block.group(3)):
                return f"blocks.{index}.{pattern.sub(replacement, block.group(3))}"
    raise ValueError(f"no sspd PhysFormer parameter for the toolbox key {key!r}")


def _blocks_per_stage(keys: Any) -> int:
    """The blocks in each ``transformer{s}`` stage (all stages alike), from the keys."""
    stages: dict[int, set[int]] = {}
    for key in keys:
        match = _PHYSFORMER_BLOCK.fullmatch(key)
        if match:
            stages.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    counts = {len(blocks) for blocks in stages.values()}
    if not stages or len(counts) != 1:
        raise ValueError(f"the PhysFormer state dict's transformer stages hold {sorted(counts)} blocks; "
                         "expected the same number in each")
    return counts.pop()


def map_toolbox_state_dict(state: Mapping[str, Any]) -> tuple[str, dict[str, Tensor]]:
    """(backbone name, the state dict under sspd's backbone key names) of a toolbox state dict.

    Raises:
        ValueError: not a toolbox PhysNet/PhysFormer layout, a key without an sspd name, or two keys
            mapped to one name.
    """
    name = toolbox_backbone(state)
    if name is None:
        raise ValueError("not an rPPG-Toolbox PhysNet or PhysFormer state dict (no ConvBlock1/ConvBlock10 "
                         "or patch_embedding/ConvBlockLast weights)")
    source = _strip_module(state)
    rename = physnet_key if name == "physnet" else partial(physformer_key,
                                                           blocks_per_stage=_blocks_per_stage(source))
    mapped: dict[str, Tensor] = {}
    for key, value in source.items():
        new = rename(key)
        if new in mapped:
            raise ValueError(f"two toolbox keys map to the sspd key {new!r} (the second: {key!r})")
        mapped[new] = value
    return name, mapped


def _backbone_options(name: str, mapped: Mapping[str, Tensor]) -> dict[str, Any]:
    """The backbone's constructor options, from the tensors' shapes and the toolbox's clip size."""
    frames, size = TOOLBOX_CLIPS[name]
    if name == "physnet":
        return {"frames": frames, "input_size": size, "width": mapped["encoder.0.0.0.weight"].shape[0] / 16}
    depth = len({k.split(".")[1] for k in mapped if k.startswith("blocks.")})
    return {"frames": frames, "input_size": size, "width": mapped["tube_embed.weight"].shape[0] / 96,
            "depth": depth, "dropout": 0.0, **_PHYSFORMER_FIXED}


def toolbox_network_spec(name: str, mapped: Mapping[str, Tensor]) -> dict[str, Any]:
    """The network spec (:func:`sspd.engine.build_network`) of a mapped toolbox state dict: the backbone
    with its inferred options, its own head as the output, a difference signal, the toolbox's view."""
    return {"backbone": name, "backbone_kwargs": _backbone_options(name, mapped),
            "stack": {"output": "backbone"}, "view": dataclasses.asdict(TOOLBOX_VIEW), "signal": "diff"}


def load_toolbox_state_dict(state: Mapping[str, Any], source: str | os.PathLike = "state dict"
                            ) -> tuple[SSPDNetwork, dict[str, Any]]:
    """An :class:`SSPDNetwork` (eval mode) holding a toolbox state dict, and a checkpoint-like dict
    (``format`` :data:`TOOLBOX_FORMAT`, ``network`` its spec, ``step`` None).

    Raises:
        ValueError (naming ``source``): not a toolbox layout, or tensors that do not fit the network
            their shapes describe.
    """
    try:
        name, mapped = map_toolbox_state_dict(state)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from err
    spec = toolbox_network_spec(name, mapped)
    network = build_network(spec)
    try:
        network.backbone.load_state_dict(mapped, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ValueError(f"{source}: the rPPG-Toolbox {name} weights do not fit sspd's {name} with "
                         f"{spec['backbone_kwargs']} ({' '.join(first[:3])[:400]})") from err
    checkpoint = {"format": TOOLBOX_FORMAT, "network": spec, "step": None, "config": {},
                  "source": str(source)}
    return network.eval(), checkpoint


def load_toolbox_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                            ) -> tuple[SSPDNetwork, dict[str, Any]]:
    """:func:`load_toolbox_state_dict` of a .pth file (tensors only, ``weights_only``)."""
    from sspd.engine.runfiles.checkpoint import load_checkpoint

    path = Path(path)
    network, checkpoint = load_toolbox_state_dict(load_checkpoint(path, map_location=map_location), path)
    return network.to(map_location), checkpoint
