"""Every registered backbone, at tiny sizes: the contract, gradients, determinism, size errors."""
import inspect

import pytest
import torch

from sspd.backbones import count_parameters, create_backbone, list_backbones

# Tiny but valid sizes per backbone (SSPD-Net's valid convs need 66×66; width 0.25 keeps it fast).
TINY = {
    "physnet": dict(frames=16, input_size=32, width=0.25),
    "physformer": dict(frames=16, input_size=32, width=0.25, depth=4),  # one stage of the three
    "sspdnet": dict(frames=16, input_size=66, width=0.25),
}


def _build(name, seed=0, **overrides):
    torch.manual_seed(seed)
    return create_backbone(name, **{**TINY[name], **overrides})


def _clip(model, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, model.frames, *model.input_size, generator=g)


def test_registry_holds_the_three_reference_models():
    assert list_backbones() == ["physformer", "physnet", "sspdnet"]


@pytest.mark.parametrize("name", list_backbones())
def test_shapes_follow_the_contract(name):
    model = _build(name)
    x = _clip(model)
    features = model.forward_features(x)
    assert features.ndim == 5 and features.shape[:3] == (2, model.feature_dim, 16)
    assert model(x).shape == (2, 16)
    model.eval()  # no dropout: two calls must agree
    torch.testing.assert_close(model.forward_pooled(x), model.forward_features(x).mean(dim=(3, 4)))


@pytest.mark.parametrize("name", list_backbones())
def test_every_parameter_gets_a_finite_gradient(name):
    model = _build(name)
    x = _clip(model)
    out = model(x)
    assert torch.isfinite(out).all()
    (out.square().mean() + model.forward_features(x).square().mean()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


SE_BACKBONES = [n for n in list_backbones()
                if "se" in inspect.signature(type(create_backbone(n, **TINY[n]))).parameters]


def test_the_cnn_backbones_offer_squeeze_excitation():
    assert SE_BACKBONES == ["physnet", "sspdnet"]


@pytest.mark.parametrize("name", SE_BACKBONES)
def test_se_variant_trains_too(name):
    model = _build(name, se=True)
    model(_clip(model)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", list_backbones())
def test_deterministic_under_a_seed(name):
    outputs = []
    for _ in range(2):
        model = _build(name, seed=3)
        x = _clip(model, seed=4)
        torch.manual_seed(5)  # PhysFormer's dropout draws from the global generator
        outputs.append(model(x))
    assert torch.equal(outputs[0], outputs[1])
    other = _build(name, seed=4)
    torch.manual_seed(5)
    assert not torch.equal(other(_clip(other, seed=4)), outputs[0])


@pytest.mark.parametrize("name", list_backbones())
def test_batch_items_do_not_interact_in_eval_mode(name):
    model = _build(name).eval()
    x = _clip(model, batch=3)
    together = model(x)
    alone = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name, expected", [("physnet", 768_577), ("physformer", 7_380_865),
                                            ("sspdnet", 613_598)])
def test_reference_parameter_counts(name, expected):
    assert count_parameters(create_backbone(name)) == expected


@pytest.mark.parametrize("name, width, dim", [("physnet", 0.5, 32), ("physformer", 0.5, 24),
                                              ("sspdnet", 0.5, 128), ("sspdnet", 2.0, 512)])
def test_feature_dim_follows_width(name, width, dim):
    model = create_backbone(name, width=width)
    assert model.feature_dim == dim
    assert count_parameters(model) != count_parameters(create_backbone(name))


@pytest.mark.parametrize("name", list_backbones())
def test_bad_clip_rank_and_channels_raise(name):
    model = _build(name)
    x = _clip(model)
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(x[0])
    with pytest.raises(ValueError, match="3 colour channels"):
        model(x.transpose(1, 2))


@pytest.mark.parametrize("name, frames, size, match", [
    ("physnet", 18, 32, r"multiple of 4.*e\.g\. 16 or 20"),
    ("physnet", 2, 32, r"multiple of 4"),
    ("physnet", 16, 15, r"at least 16×16"),
    ("physformer", 30, 32, r"multiple of the tube size 4.*e\.g\. 28 or 32"),
    ("physformer", 16, 31, r"at least 32×32"),
    ("sspdnet", 16, 65, r"at least 66×66"),
])
def test_sizes_a_backbone_cannot_take_raise_naming_the_minimum(name, frames, size, match):
    model = _build(name)
    x = torch.zeros(1, 3, frames, size, size + 3)
    with pytest.raises(ValueError, match=match):
        model.forward_features(x)
    with pytest.raises(ValueError, match=match):  # and already at construction
        create_backbone(name, frames=frames, input_size=(size, size + 3))


def test_sspdnet_runs_at_any_frame_count_and_its_minimum_size():
    model = _build("sspdnet", frames=5, input_size=66)
    assert model.forward_features(_clip(model)).shape == (2, model.feature_dim, 5, 1, 1)


@pytest.mark.parametrize("name, size, grid", [("physnet", 128, 8), ("physformer", 128, 4),
                                               ("physformer", 72, 2), ("sspdnet", 128, 8)])
def test_feature_map_grid_at_real_input_sizes(name, size, grid):
    model = _build(name, frames=4, input_size=size)
    assert model.forward_features(_clip(model, batch=1)).shape == (1, model.feature_dim, 4, grid, grid)


@pytest.mark.parametrize("bad", [dict(input_size=0), dict(input_size=(32,)), dict(frames=0),
                                 dict(width=0.0), dict(width=-1.0)])
def test_bad_constructor_arguments_raise(bad):
    with pytest.raises(ValueError):
        create_backbone("physnet", **bad)
