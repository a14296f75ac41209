"""The SSPD network on any registered backbone: backbone + TS stack + predictor (SSPD_METHOD.md §2).

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
from sspd.heads import SSPDPredictor, STRPPGHead
from sspd.objectives.outputs import NetworkOutputs
from sspd.ssm import TSStack

__all__ = ["ModelConfig", "SSPDOutputs", "SSPDNetwork", "create_sspd_network", "SSPD_BACKBONE_DEFAULTS",
           "network_spec", "build_network"]

log = logging.getLogger(__name__)


#: the rPPG heads a network can carry (``ModelConfig.head``)
HEADS = ("sspd", "st_rppg")


@dataclass
class ModelConfig:
    """The SSPD network: backbone, TS stack, predictor (:func:`sspd.engine.create_sspd_network`).

    Attributes:
        backbone: registered backbone (sspdnet, physnet, physformer).
        input_size: network input side in pixels (SSPD-Net needs >= 66).
        width: channel multiplier of the backbone (1.0 = the paper's network).
        backbone_options: further keyword options of the backbone (e.g. PhysFormer's depth).
        kernel_sizes, num_heads, attention, resample: the TS stack (SSPD: 9, 7, 5; 2 heads).
        predictor_hidden: hidden width of the predictor (SSPD: 64).
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
    head: Literal["sspd", "st_rppg"] = "sspd"
    head_grid: int = 2

    def __post_init__(self) -> None:
        require_positive_int("model", input_size=self.input_size, num_heads=self.num_heads,
                             predictor_hidden=self.predictor_hidden, head_grid=self.head_grid)
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if not self.width > 0:
            raise ValueError(f"model.width must be > 0, got {self.width}")

# Backbone options SSPD uses unless the caller sets them. PhysFormer's dropout (0.1, ViT's custom) is
# switched off: the target network runs in train mode (batch statistics, as in the release), so a
# dropout in it would make the distillation target itself random; SSPD-Net and PhysNet have none.
SSPD_BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {"physformer": {"dropout": 0.0}}


#: the outputs of one view (the objectives' :class:`sspd.objectives.NetworkOutputs`)
SSPDOutputs = NetworkOutputs


class SSPDNetwork(nn.Module):
    """Backbone + TS stack (width D = backbone.feature_dim) + an rPPG head (the SSPD predictor by default).

    Gradient routing (SSPD_METHOD.md §4) is built in: the predictor reads ``features.detach()``, so a
    loss on ``rppg`` reaches the predictor only, and losses on ``hs`` reach the TS stack and backbone.
    The backbone's own supervised output (``backbone.forward``, e.g. PhysNet's ``head``) takes no part:
    those parameters get no gradient and keep their initial values.

    Args:
        backbone: any :class:`sspd.backbones.Backbone`.
        kernel_sizes: TS block kernels (SSPD: 9, 7, 5).
        num_heads: TS block heads (SSPD: 2).
        attention, resample: TS block options, see :class:`sspd.ssm.TSBlock` (faithful defaults).
        predictor_hidden: the predictor's hidden width (SSPD: 64).
        head: ``"sspd"`` (:class:`sspd.heads.SSPDPredictor`) or ``"st_rppg"`` (:class:`sspd.heads.STRPPGHead`,
            Contrast-Phys: its spatial signals fill ``outputs.spatial``, their mean ``outputs.rppg``).
        head_grid: the ST-rPPG block's cells per side (2).
    """

    def __init__(self, backbone: Backbone, *, kernel_sizes: Sequence[int] = (9, 7, 5), num_heads: int = 2,
                 attention: str = "tokens", resample: str = "nearest", predictor_hidden: int = 64,
                 head: str = "sspd", head_grid: int = 2) -> None:
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise ValueError(f"SSPDNetwork needs a sspd.backbones.Backbone, got {type(backbone).__name__}: "
                             "build one with sspd.backbones.create_backbone")
        self.backbone = backbone
        self.ts_stack = TSStack(backbone.feature_dim, kernel_sizes=tuple(kernel_sizes), num_heads=num_heads,
                                attention=attention, resample=resample)
        if head not in HEADS:
            raise ValueError(f"SSPDNetwork: head must be one of {', '.join(HEADS)}, got {head!r}")
        self.head = head
        self.predictor = (SSPDPredictor(backbone.feature_dim, hidden=predictor_hidden) if head == "sspd"
                          else STRPPGHead(backbone.feature_dim, grid=head_grid))
        self.view = InferenceView()  # the inference view it expects (set from the run's views when built)

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
        return SSPDOutputs(hs=hs, rppg=self.predictor(head_input), pooled=pooled)  # rppg (B, T)

    def predict(self, x: Tensor) -> Tensor:
        """The inference network, backbone + predictor: (B, 3, T, h, w) → rPPG (B, T)."""
        return self.predictor(self.backbone.forward_features(x))


def create_sspd_network(backbone: str = "sspdnet", *, kernel_sizes: Sequence[int] = (9, 7, 5),
                        num_heads: int = 2, attention: str = "tokens", resample: str = "nearest",
                        predictor_hidden: int = 64, head: str = "sspd", head_grid: int = 2,
                        **backbone_kwargs: Any) -> SSPDNetwork:
    """Build the backbone registered as ``backbone`` and wrap it in an :class:`SSPDNetwork`.

    ``backbone_kwargs`` go to :func:`sspd.backbones.create_backbone`, on top of
    :data:`SSPD_BACKBONE_DEFAULTS` (PhysFormer: ``dropout=0.0`` unless given).
    """
    options = {**SSPD_BACKBONE_DEFAULTS.get(backbone, {}), **backbone_kwargs}
    net = create_backbone(backbone, **options)
    log.debug("SSPD network on %s with %s", backbone, options)
    return SSPDNetwork(net, kernel_sizes=kernel_sizes, num_heads=num_heads, attention=attention,
                       resample=resample, predictor_hidden=predictor_hidden, head=head, head_grid=head_grid)


def network_spec(model: ModelConfig, *, frames: int, view: InferenceView) -> dict[str, Any]:
    """What rebuilds the network with :func:`build_network` (a checkpoint's ``"network"`` entry): the
    backbone, its kwargs, the TS-stack kwargs and the inference view the network is trained on.

    Args:
        model: the run's model section; frames: difference frames T per clip; view: the views section's
            inference view (:meth:`sspd.augment.ViewOptions.inference_view`).
    """
    backbone_kwargs = {**model.backbone_options, "frames": frames, "input_size": model.input_size,
                       "width": model.width}
    stack = {"kernel_sizes": list(model.kernel_sizes), "num_heads": model.num_heads,
             "attention": model.attention, "resample": model.resample,
             "predictor_hidden": model.predictor_hidden, "head": model.head, "head_grid": model.head_grid}
    return {"backbone": model.backbone, "backbone_kwargs": backbone_kwargs, "stack": stack,
            "view": dataclasses.asdict(view)}


def build_network(spec: dict[str, Any]) -> SSPDNetwork:
    """An :class:`SSPDNetwork` from a checkpoint's ``"network"`` entry (or :func:`network_spec`).

    The spec's ``"view"`` (the inference view the network was trained on) becomes ``network.view``;
    checkpoints without one had SSPD's raw difference view.
    """
    missing = {"backbone", "backbone_kwargs", "stack"} - set(spec)
    if missing:
        raise ValueError(f"network spec lacks {sorted(missing)}; it needs backbone, backbone_kwargs and stack")
    network = create_sspd_network(spec["backbone"], **spec["stack"], **spec["backbone_kwargs"])
    network.view = InferenceView.from_dict(spec.get("view"))
    return network
