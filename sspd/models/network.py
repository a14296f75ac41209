"""The SSPD network on any registered backbone: backbone + TS stack + predictor (docs/method.md §2).

    network = create_sspd_network("sspdnet", frames=300, input_size=128)
    outputs = network(view)             # SSPDOutputs(hs=[(B, T'_l, D)] * 3, rppg=(B, T))

The same class serves as the online network and, deep-copied by :class:`sspd.ema.OnlineTargetPair`,
as the target network. The TS stack is a training auxiliary; :meth:`SSPDNetwork.predict` is the
inference network (backbone + predictor).
"""
from __future__ import annotations

import logging
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from torch import Tensor, nn

from sspd.augment.inference import InferenceView
from sspd.backbones import Backbone, create_backbone, pool_features
from sspd.configuration import require_positive_int
from sspd.models.heads import SSPDPredictor, STRPPGHead
from sspd.models.outputs import NetworkOutputs
from sspd.ssm import TSStack

__all__ = ["ModelConfig", "SSPDOutputs", "SSPDNetwork", "create_sspd_network", "SSPD_BACKBONE_DEFAULTS",
           "OUTPUTS", "network_spec", "build_network", "network_signal"]

log = logging.getLogger(__name__)


#: the rPPG heads a network can carry (``ModelConfig.head``)
HEADS = ("sspd", "st_rppg")


@dataclass
class ModelConfig:
    """The SSPD network: backbone, TS stack, predictor (:func:`sspd.models.create_sspd_network`).

    Attributes:
        backbone: registered backbone (sspdnet, physnet, physformer).
        input_size: network input side in pixels (SSPD-Net needs >= 66).
        width: channel multiplier of the backbone (1.0 = the paper's network).
        backbone_options: further keyword options of the backbone (e.g. PhysFormer's depth).
        kernel_sizes, num_heads, attention, resample: the TS stack (SSPD: 9, 7, 5; 2 heads).
        predictor_hidden: hidden width of the predictor (SSPD: 64).
        output: what gives the rPPG signal: ``"predictor"`` (the SSPD predictor on the feature map) or
            ``"backbone"`` (the backbone's own head, e.g. a PhysNet trained elsewhere; no SSPD predictor).
        signal: what that signal follows: ``"pulse"`` or ``"diff"`` (the pulse's first difference,
            integrated before any HR; the rPPG-Toolbox's models), or ``"auto"``: what the run's objective
            makes it follow (SSPD: ``diff``; SiNC and the supervised control: their ``signal``/``target``;
            :func:`sspd.engine.adapt.resolve_signal`), the default of a run config.
        init: a file the weights start from (a run directory or checkpoint of sspd, or an rPPG-Toolbox
            PhysNet/PhysFormer .pth): its architecture, output, signal and view are the network's, which
            the other fields must then agree with (:func:`sspd.engine.adapt.initial_network`).
        head: the rPPG head on the feature map: ``sspd`` (the SSPD predictor) or ``st_rppg``
            (Contrast-Phys's ST-rPPG block: the map pooled to T × grid × grid, one signal per cell,
            their mean the rPPG signal).
        head_grid: cells per side of the ST-rPPG block (Contrast-Phys: 2, four spatial signals).
    """

    backbone: str = "sspdnet"
    input_size: int = 66
    width: float = 0.25
    backbone_options: dict[str, Any] = field(default_factory=dict)
    kernel_sizes: list[int] = field(default_factory=lambda: [9, 7, 5])
    num_heads: int = 2
    attention: str = "tokens"
    resample: str = "nearest"
    predictor_hidden: int = 64
    output: str = "predictor"
    signal: str = "pulse"
    init: str | None = None
    head: Literal["sspd", "st_rppg"] = "sspd"
    head_grid: int = 2

    def __post_init__(self) -> None:
        require_positive_int("model", input_size=self.input_size, num_heads=self.num_heads,
                             predictor_hidden=self.predictor_hidden, head_grid=self.head_grid)
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if not self.width > 0:
            raise ValueError(f"model.width must be > 0, got {self.width}")
        if self.output not in OUTPUTS or self.signal not in ("pulse", "diff", "auto"):
            raise ValueError(f"model.output must be one of {OUTPUTS} and model.signal 'pulse', 'diff' or 'auto', got "
                             f"{self.output!r}, {self.signal!r}")

# Backbone options SSPD uses unless the caller sets them. PhysFormer's dropout (0.1, ViT's custom) is
# switched off: the target network runs in train mode (batch statistics, as in the release), so a
# dropout in it would make the distillation target itself random; SSPD-Net and PhysNet have none.
SSPD_BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {"physformer": {"dropout": 0.0}}

#: what produces the network's rPPG signal from the feature map
OUTPUTS = ("predictor", "backbone")


#: the outputs of one view (the objectives' :class:`sspd.objectives.NetworkOutputs`)
SSPDOutputs = NetworkOutputs


class SSPDNetwork(nn.Module):
    """Backbone + TS stack (width D = backbone.feature_dim) + an rPPG head (the SSPD predictor by default).

    Gradient routing (docs/method.md §4) is built in: the predictor reads ``features.detach()``, so a
    loss on ``rppg`` reaches the predictor only, and losses on ``hs`` reach the TS stack and backbone.
    The backbone's own supervised output (``backbone.forward``, e.g. PhysNet's ``head``) takes no part:
    those parameters get no gradient and keep their initial values.

    Args:
        backbone: any :class:`sspd.backbones.Backbone`.
        kernel_sizes: TS block kernels (SSPD: 9, 7, 5).
        num_heads: TS block heads (SSPD: 2).
        attention, resample: TS block options, see :class:`sspd.ssm.TSBlock` (faithful defaults).
        predictor_hidden: the predictor's hidden width (SSPD: 64).
        output: ``"predictor"`` (the SSPD predictor gives the rPPG) or ``"backbone"`` (the backbone's own
            head does, :meth:`sspd.backbones.Backbone.forward_head`, with the same gradient routing; no
            SSPD predictor is built: a network trained elsewhere, e.g. an rPPG-Toolbox PhysNet).
        head: ``"sspd"`` (:class:`sspd.models.heads.SSPDPredictor`) or ``"st_rppg"`` (:class:`sspd.models.heads.STRPPGHead`,
            Contrast-Phys: its spatial signals fill ``outputs.spatial``, their mean ``outputs.rppg``).
        head_grid: the ST-rPPG block's cells per side (2).
    """

    def __init__(self, backbone: Backbone, *, kernel_sizes: Sequence[int] = (9, 7, 5), num_heads: int = 2,
                 attention: str = "tokens", resample: str = "nearest", predictor_hidden: int = 64,
                 output: str = "predictor", head: str = "sspd", head_grid: int = 2) -> None:
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise ValueError(f"SSPDNetwork needs a sspd.backbones.Backbone, got {type(backbone).__name__}: "
                             "build one with sspd.backbones.create_backbone")
        if output not in OUTPUTS:
            raise ValueError(f"SSPDNetwork output must be one of {OUTPUTS}, got {output!r}")
        self.backbone = backbone
        self.output = output
        self.ts_stack = TSStack(backbone.feature_dim, kernel_sizes=tuple(kernel_sizes), num_heads=num_heads,
                                attention=attention, resample=resample)
        if head not in HEADS:
            raise ValueError(f"SSPDNetwork: head must be one of {', '.join(HEADS)}, got {head!r}")
        if output == "backbone" and head != "sspd":
            raise ValueError(f"SSPDNetwork: head={head!r} needs output='predictor' (the backbone's own head has no "
                             "spatial signals)")
        self.head = head
        if output != "predictor":
            self.predictor = None
        elif head == "sspd":
            self.predictor = SSPDPredictor(backbone.feature_dim, hidden=predictor_hidden)
        else:
            self.predictor = STRPPGHead(backbone.feature_dim, grid=head_grid)
        self.view = InferenceView()  # the inference view it expects (set from the run's views when built)
        self.signal = "pulse"  # what the rPPG follows, "pulse" or "diff" (set from the spec when built)

    @property
    def min_frames(self) -> int:
        """The fewest difference frames T a view may have (the TS stack keeps one token per level)."""
        return self.ts_stack.min_frames

    @property
    def input_size(self) -> tuple[int, int]:
        """(h, w) of the views: the backbone's input size."""
        return self.backbone.input_size

    def forward(self, x: Tensor, *, with_ts: bool = True, detach_predictor: bool = True) -> SSPDOutputs:
        """x: (B, 3, T, h, w) view → :class:`SSPDOutputs` (hs per level, rppg (B, T), pooled (B, D, T);
        with the ST-rPPG head also spatial (B, S², T), whose mean is rppg).

        ``with_ts=False`` skips the TS stack (``hs`` empty) for objectives that do not use it;
        ``detach_predictor=False`` lets the predictor's loss reach the backbone (SiNC, supervised).
        """
        if with_ts and x.ndim == 5 and x.shape[2] < self.min_frames:
            raise ValueError(f"SSPDNetwork: the TS stack needs views of at least {self.min_frames} frames, "
                             f"got T={x.shape[2]}: use longer clips or smaller kernel_sizes")
        features = self.backbone.forward_features(x)          # (B, D, T, h, w)
        pooled = pool_features(features)                      # (B, D, T)
        hs = self.ts_stack(pooled).hs if with_ts else []      # [(B, T'_l, D)]
        head_input = features.detach() if detach_predictor else features
        if isinstance(self.predictor, STRPPGHead):
            spatial = self.predictor.spatial(head_input)     # (B, S², T)
            return SSPDOutputs(hs=hs, rppg=spatial.mean(dim=1), pooled=pooled, spatial=spatial)
        return SSPDOutputs(hs=hs, rppg=self.read_out(head_input), pooled=pooled)  # rppg (B, T)

    def read_out(self, features: Tensor) -> Tensor:
        """The rPPG of a feature map (B, D, T, h, w) → (B, T): the predictor's, or the backbone head's."""
        return self.predictor(features) if self.predictor is not None else self.backbone.forward_head(features)

    def output_parameters(self) -> list[nn.Parameter]:
        """The parameters that turn the feature map into the rPPG: the predictor's, or the backbone
        head's (``backbone.head``; none for a parameter-free read-out)."""
        if self.predictor is not None:
            return list(self.predictor.parameters())
        head = getattr(self.backbone, "head", None)
        return list(head.parameters()) if isinstance(head, nn.Module) else []

    def predict(self, x: Tensor) -> Tensor:
        """The inference network, backbone + predictor (or its own head): (B, 3, T, h, w) → rPPG (B, T)."""
        return self.read_out(self.backbone.forward_features(x))


def create_sspd_network(backbone: str = "sspdnet", *, kernel_sizes: Sequence[int] = (9, 7, 5),
                        num_heads: int = 2, attention: str = "tokens", resample: str = "nearest",
                        predictor_hidden: int = 64, output: str = "predictor", head: str = "sspd",
                        head_grid: int = 2,
                        **backbone_kwargs: Any) -> SSPDNetwork:
    """Build the backbone registered as ``backbone`` and wrap it in an :class:`SSPDNetwork`.

    ``backbone_kwargs`` go to :func:`sspd.backbones.create_backbone`, on top of
    :data:`SSPD_BACKBONE_DEFAULTS` (PhysFormer: ``dropout=0.0`` unless given).
    """
    options = {**SSPD_BACKBONE_DEFAULTS.get(backbone, {}), **backbone_kwargs}
    net = create_backbone(backbone, **options)
    log.debug("SSPD network on %s with %s", backbone, options)
    return SSPDNetwork(net, kernel_sizes=kernel_sizes, num_heads=num_heads, attention=attention,
                       resample=resample, predictor_hidden=predictor_hidden, output=output, head=head,
                       head_grid=head_grid)


def network_spec(model: ModelConfig, *, frames: int, view: InferenceView) -> dict[str, Any]:
    """What rebuilds the network with :func:`build_network` (a checkpoint's ``"network"`` entry): the
    backbone, its kwargs, the TS-stack kwargs (and the output), the inference view the network is trained
    on and what its signal follows (``"signal"``).

    Args:
        model: the run's model section; frames: difference frames T per clip; view: the views section's
            inference view (:meth:`sspd.augment.ViewOptions.inference_view`). Its ``signal`` must be
            resolved (``pulse`` or ``diff``): ``auto`` is the objective's to decide
            (:func:`sspd.engine.adapt.resolve_signal`).
    """
    if model.signal == "auto":
        raise ValueError("model.signal 'auto' depends on the objective: resolve it first "
                         "(sspd.engine.adapt.resolve_signal(model, objective)) or set model.signal=pulse|diff")
    backbone_kwargs = {**model.backbone_options, "frames": frames, "input_size": model.input_size,
                       "width": model.width}
    stack = {"kernel_sizes": list(model.kernel_sizes), "num_heads": model.num_heads,
             "attention": model.attention, "resample": model.resample,
             "predictor_hidden": model.predictor_hidden, "head": model.head, "head_grid": model.head_grid}
    if model.output != "predictor":
        stack["output"] = model.output
    spec = {"backbone": model.backbone, "backbone_kwargs": backbone_kwargs, "stack": stack,
            "view": dataclasses.asdict(view)}
    if model.signal != "pulse":
        spec["signal"] = model.signal
    return spec


def build_network(spec: dict[str, Any]) -> SSPDNetwork:
    """An :class:`SSPDNetwork` from a checkpoint's ``"network"`` entry (or :func:`network_spec`).

    The spec's ``"view"`` (the inference view the network was trained on) becomes ``network.view``;
    checkpoints without one had SSPD's raw difference view. Its ``"signal"`` becomes ``network.signal``
    (``"pulse"`` when absent).
    """
    missing = {"backbone", "backbone_kwargs", "stack"} - set(spec)
    if missing:
        raise ValueError(f"network spec lacks {sorted(missing)}; it needs backbone, backbone_kwargs and stack")
    network = create_sspd_network(spec["backbone"], **spec["stack"], **spec["backbone_kwargs"])
    network.view = InferenceView.from_dict(spec.get("view"))
    network.signal = network_signal(spec)
    return network


def network_signal(spec: dict[str, Any]) -> str:
    """What a network spec's signal follows: ``"pulse"`` (the default) or ``"diff"``."""
    signal = str(spec.get("signal", "pulse"))
    if signal not in ("pulse", "diff"):
        raise ValueError(f"network spec signal must be 'pulse' or 'diff', got {signal!r}")
    return signal
