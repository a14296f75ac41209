"""The backbone registry: names, creation, errors."""
import pytest
import torch

from sspd.backbones import Backbone, PhysNet, create_backbone, list_backbones, register_backbone
from sspd.backbones import registry


def test_create_returns_the_registered_class_with_options():
    model = create_backbone("physnet", width=0.5, frames=32, input_size=(64, 48))
    assert isinstance(model, PhysNet) and isinstance(model, Backbone)
    assert (model.frames, model.input_size, model.feature_dim) == (32, (64, 48), 32)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown backbone 'resnet'.*physformer, physnet, sspdnet"):
        create_backbone("resnet")


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'physnet' has no option\(s\) widht.*width"):
        create_backbone("physnet", widht=0.5)


def test_register_a_new_backbone_and_refuse_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_BACKBONES", dict(registry._BACKBONES))

    @register_backbone("tiny")
    class Tiny(Backbone):
        def __init__(self, *, frames: int = 4, input_size: int = 8) -> None:
            super().__init__(frames=frames, input_size=input_size)
            self.feature_dim = 3
            self.scale = torch.nn.Parameter(torch.ones(1))

        def forward_features(self, x):
            return x * self.scale

        def forward(self, x):
            return self.forward_features(x).mean(dim=(1, 3, 4))

    assert "tiny" in list_backbones()
    assert isinstance(create_backbone("tiny", frames=6), Tiny)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny")(Tiny)
    with pytest.raises(ValueError, match="lower case"):
        register_backbone("Tiny")
