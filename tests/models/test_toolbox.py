"""rPPG-Toolbox checkpoints: key layout, renaming, strict loading, the input convention, the CLI.

The toolbox-layout state dicts are built here from sspd's own backbones with an inverse renaming
written independently of sspd.models.toolbox (prefix tables, toolbox names as the toolbox spells them),
and random values, so every tensor's destination can be checked.
"""
import json

import cv2
import numpy as np
import pytest
import torch

from sspd.augment.inference import InferenceView, prepare_video
from sspd.backbones import create_backbone
from sspd.cli import main
from sspd.data.video import write_video
from sspd.engine import load_pretrained, save_checkpoint
from sspd.models.toolbox import (TOOLBOX_VIEW, load_toolbox_state_dict, map_toolbox_state_dict, physformer_key,
                                 physnet_key, toolbox_backbone)
from sspd.infer.checkpoint_predictor import CheckpointPredictor
from sspd.signal import zscore

# ------------------------------------------------------------------ the inverse renaming (sspd → toolbox)
_PHYSNET_PREFIXES = [("encoder.0.0.", "ConvBlock1.")] + [
    (f"encoder.{n // 2}.{n % 2}.", f"ConvBlock{n}.") for n in range(2, 10)] + [
    ("decoder.0.", "upsample."), ("decoder.1.", "upsample2."), ("head.", "ConvBlock10.")]

_BLOCK_INNER = [("attn.q.0.", "attn.proj_q.0.conv."), ("attn.q.1.", "attn.proj_q.1."),
                ("attn.k.0.", "attn.proj_k.0.conv."), ("attn.k.1.", "attn.proj_k.1."),
                ("attn.v.", "attn.proj_v.0."), ("attn.proj.", "proj."),
                ("ffn.layers.0.0.", "pwff.fc1.0."), ("ffn.layers.0.1.", "pwff.fc1.1."),
                ("ffn.layers.1.", "pwff.STConv.0."), ("ffn.layers.2.", "pwff.STConv.1."),
                ("ffn.layers.4.", "pwff.fc2.0."), ("ffn.layers.5.", "pwff.fc2.1."),
                ("norm1.", "norm1."), ("norm2.", "norm2.")]

_PHYSFORMER_PREFIXES = [("stem.0.", "Stem0."), ("stem.2.", "Stem1."), ("stem.4.", "Stem2."),
                        ("tube_embed.", "patch_embedding."), ("upsample.0.1.0.", "upsample.1."),
                        ("upsample.0.1.1.", "upsample.2."), ("upsample.1.1.0.", "upsample2.1."),
                        ("upsample.1.1.1.", "upsample2.2."), ("head.", "ConvBlockLast.")]


def _swap_prefix(key, table):
    for sspd_prefix, toolbox_prefix in table:
        if key.startswith(sspd_prefix):
            return toolbox_prefix + key[len(sspd_prefix):]
    raise AssertionError(f"the test's inverse table misses {key}")


def to_toolbox_physnet(key):
    return _swap_prefix(key, _PHYSNET_PREFIXES)


def to_toolbox_physformer(key, per_stage):
    if key.startswith("blocks."):
        _, number, inner = key.split(".", 2)
        stage, block = divmod(int(number), per_stage)
        return f"transformer{stage + 1}.blocks.{block}.{_swap_prefix(inner, _BLOCK_INNER)}"
    return _swap_prefix(key, _PHYSFORMER_PREFIXES)


def toolbox_state(backbone, rename, seed=0, prefix=""):
    """(toolbox-layout state dict with random values, sspd key → its tensor) of a backbone."""
    generator = torch.Generator().manual_seed(seed)
    toolbox, expected = {}, {}
    for key, value in backbone.state_dict().items():
        if value.is_floating_point():
            fresh = torch.randn(value.shape, generator=generator)
            fresh = fresh.abs() + 0.5 if key.endswith("running_var") else fresh
        else:
            fresh = torch.randint(0, 1000, value.shape, generator=generator, dtype=value.dtype)
        toolbox[prefix + rename(key)] = fresh
        expected[key] = fresh
    return toolbox, expected


# ------------------------------------------------------------------ renaming and strict loading
def test_physnet_keys_of_the_rules():
    assert physnet_key("ConvBlock1.0.weight") == "encoder.0.0.0.weight"
    assert physnet_key("ConvBlock2.1.running_var") == "encoder.1.0.1.running_var"
    assert physnet_key("ConvBlock9.0.bias") == "encoder.4.1.0.bias"
    assert physnet_key("ConvBlock10.weight") == "head.weight"
    assert physnet_key("upsample.1.weight") == "decoder.0.1.weight"
    assert physnet_key("upsample2.0.weight") == "decoder.1.0.weight"
    with pytest.raises(ValueError, match="ConvBlock11"):
        physnet_key("ConvBlock11.weight")


def test_physformer_keys_of_the_rules():
    assert physformer_key("Stem2.1.running_mean") == "stem.4.1.running_mean"
    assert physformer_key("transformer3.blocks.2.attn.proj_q.0.conv.weight") == "blocks.10.attn.q.0.weight"
    assert physformer_key("transformer2.blocks.0.attn.proj_k.1.bias") == "blocks.4.attn.k.1.bias"
    assert physformer_key("transformer1.blocks.1.attn.proj_v.0.weight") == "blocks.1.attn.v.weight"
    assert physformer_key("transformer1.blocks.1.proj.bias") == "blocks.1.attn.proj.bias"
    assert physformer_key("transformer1.blocks.3.pwff.fc2.1.weight") == "blocks.3.ffn.layers.5.weight"
    assert physformer_key("upsample2.2.bias") == "upsample.1.1.1.bias"
    assert physformer_key("transformer2.blocks.1.norm2.weight", blocks_per_stage=2) == "blocks.3.norm2.weight"
    with pytest.raises(ValueError, match="pos_embedding"):
        physformer_key("pos_embedding")


def test_toolbox_physnet_loads_strictly_with_every_tensor_at_its_mapped_name():
    reference = create_backbone("physnet", frames=128, input_size=72)
    state, expected = toolbox_state(reference, to_toolbox_physnet, prefix="module.")  # a DataParallel save
    assert len(state) == 79 and toolbox_backbone(state) == "physnet"
    name, mapped = map_toolbox_state_dict(state)
    assert name == "physnet" and set(mapped) == set(expected)
    network, checkpoint = load_toolbox_state_dict(state, "physnet.pth")
    loaded = network.backbone.state_dict()
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    assert network.predictor is None and network.output == "backbone" and network.signal == "diff"
    assert network.view == TOOLBOX_VIEW and network.backbone.frames == 128
    assert network.input_size == (72, 72) and checkpoint["format"] == "rppg-toolbox"
    # the inference network is the toolbox's forward: spatial mean, then ConvBlock10
    clip = torch.randn(1, 3, 8, 72, 72)
    reference.load_state_dict(expected)
    with torch.no_grad():
        assert torch.allclose(network.predict(clip), reference.eval()(clip), atol=1e-5)


@pytest.mark.parametrize("width, depth", [(1.0, 12), (0.5, 6)])
def test_toolbox_physformer_loads_strictly_and_infers_its_architecture(width, depth):
    reference = create_backbone("physformer", frames=160, input_size=128, width=width, depth=depth)
    state, expected = toolbox_state(reference, lambda k: to_toolbox_physformer(k, depth // 3), seed=1)
    assert toolbox_backbone(state) == "physformer"
    if width == 1.0:
        assert len(state) == 483
    network, checkpoint = load_toolbox_state_dict(state)
    loaded = network.backbone.state_dict()
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    options = checkpoint["network"]["backbone_kwargs"]
    assert options["depth"] == depth and options["width"] == width
    assert (options["num_heads"], options["theta"], options["sharpness"]) == (4, 0.7, 2.0)
    assert (options["frames"], options["input_size"]) == (160, 128)


def test_wrong_shapes_and_unknown_keys_are_named():
    state, _ = toolbox_state(create_backbone("physnet", width=0.5), to_toolbox_physnet)
    state["ConvBlock4.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"bad\.pth: the rPPG-Toolbox physnet weights do not fit"):
        load_toolbox_state_dict(state, "bad.pth")
    state, _ = toolbox_state(create_backbone("physnet", width=0.5), to_toolbox_physnet)
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="no sspd PhysNet parameter for the toolbox key 'extra.weight'"):
        load_toolbox_state_dict(state, "extra.pth")
    assert toolbox_backbone({"weights": torch.zeros(2)}) is None


# ------------------------------------------------------------------ the input convention
def reference_input(frames, size):
    """The stated convention in numpy: each frame resized with area interpolation, (x[t+1] - x[t]) /
    (x[t+1] + x[t] + 1e-7), divided by the standard deviation over the whole video."""
    small = np.array([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames], dtype=np.float64)
    diff = (small[1:] - small[:-1]) / (small[1:] + small[:-1] + 1e-7)
    return (diff / diff.std()).transpose(3, 0, 1, 2)  # (3, N-1, size, size)


def test_the_input_pipeline_equals_the_reference_of_the_convention():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(9, 50, 50, 3), dtype=np.uint8)
    frames[2, :5, :5] = 0  # zero pixels in two frames: 0/(0 + 1e-7) = 0, as the convention gives
    frames[3, :5, :5] = 0
    got = prepare_video(frames, 24, TOOLBOX_VIEW)
    want = reference_input(frames, 24)
    assert got.shape == (3, 8, 24, 24) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert abs(float(np.std(got)) - 1.0) < 1e-5
    # the raw view is unchanged: no std scaling
    raw = prepare_video(frames, 24, InferenceView())
    assert not np.allclose(raw.std(), 1.0)


def write_toolbox_physnet(path, width=0.25, seed=0):
    backbone = create_backbone("physnet", frames=128, input_size=72, width=width)
    state, _ = toolbox_state(backbone, to_toolbox_physnet, seed=seed)
    state = {k: (v.abs() + 0.5 if k.endswith("running_var") else v * 0.1) for k, v in state.items()}
    torch.save(state, path)
    return path


def test_checkpoint_predictor_runs_a_toolbox_model_on_its_convention_and_integrates(tmp_path):
    path = write_toolbox_physnet(tmp_path / "UBFC_PhysNet_DiffNormalized.pth")
    predictor = CheckpointPredictor(path)
    assert predictor.clip_frames == 129 and predictor.crop_size == 72 and predictor.target == "diff"
    assert predictor.describe()["format"] == "rppg-toolbox"
    clip = np.random.default_rng(0).integers(60, 200, size=(129, 72, 72, 3), dtype=np.uint8)
    out = predictor(clip, 30.0)
    network, _ = load_pretrained(path)
    with torch.no_grad():
        diff = network.backbone(torch.from_numpy(reference_input(clip, 72)).float()[None])[0].double().numpy()
    want = zscore(np.cumsum(diff - diff.mean()))  # the clip's mean first: this untrained model's offset
    np.testing.assert_allclose(out[1:], want, atol=1e-4)
    assert np.abs(out[1:] - zscore(np.cumsum(diff))).max() > 0.5  # summed as it is, the offset is a ramp
    assert out[0] == out[1]


# ------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def short_video(tmp_path_factory):
    from sspd.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("toolbox_video")
    generate_dataset(root, subjects=1, seconds=6.0, fps=30.0, size="96x96", seed=4)
    return root / "subject1" / "vid.avi"


@pytest.mark.slow
def test_predict_with_a_toolbox_checkpoint_end_to_end(short_video, tmp_path, capsys):
    path = write_toolbox_physnet(tmp_path / "PURE_PhysNet_DiffNormalized.pth")
    out = tmp_path / "out"
    assert main(["predict", str(short_video), "--checkpoint", str(path), "--json", "--no-progress",
                 "--window", "4", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    model = result["protocol"]["model"]
    assert model["format"] == "rppg-toolbox" and model["backbone"] == "PhysNet" and model["target"] == "diff"
    assert model["clip_frames"] == 129 and model["crop_size"] == 72
    assert result["n_frames"] == 180 and 45 <= result["hr_bpm"] <= 150
    assert np.isfinite(np.loadtxt(out / "waveform.csv", delimiter=",", skiprows=1)).all()
    # --format rppg-toolbox on an sspd-format file, and a file of neither layout: one clear line
    other = save_checkpoint(tmp_path / "other.pth", {"weights": torch.zeros(2)})
    for flags, words in ((["--format", "rppg-toolbox"], "not an rPPG-Toolbox PhysNet or PhysFormer state dict"),
                         ([], "nor an rPPG-Toolbox PhysNet/PhysFormer state dict")):
        assert main(["predict", str(short_video), "--checkpoint", str(other), "--no-progress",
                     "--out", str(tmp_path / "o2"), *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err and "other.pth" in err, err


def test_training_views_and_clip_views_of_the_convention_are_scaled_per_clip():
    from sspd.augment import ViewOptions, make_single_view
    from sspd.augment.inference import prepare_view

    rng = np.random.default_rng(5)
    clip = torch.from_numpy(rng.uniform(40, 220, size=(2, 3, 9, 24, 24))).float()
    clip[1] = clip[1] * 0.5 + 20  # another brightness: its own std
    options = ViewOptions(difference="normalized", luminance="keep", scale="std", p_horizontal=0.0,
                          p_vertical=0.0)
    assert options.inference_view() == TOOLBOX_VIEW
    view = make_single_view(clip, 24, torch.Generator().manual_seed(0), options)  # (2, 3, 8, 24, 24)
    later, earlier = clip[:, :, 1:].double(), clip[:, :, :-1].double()
    diff = (later - earlier) / (later + earlier + 1e-7)
    want = diff / diff.std(dim=(1, 2, 3, 4), correction=0, keepdim=True)
    torch.testing.assert_close(view.double(), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(prepare_view(clip, 24, TOOLBOX_VIEW).double(), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="scale must be one of"):
        ViewOptions(scale="video")
