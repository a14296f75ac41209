"""sspd.infer.checkpoint_predictor: a 2-step pretraining run (tiny PhysNet) as a ClipPredictor.

The network's output is checked against a reference written here (frames resized with F.interpolate, the
frame difference by slicing, the network's own predict, z-scored with numpy), which pins the frame
alignment and the normalisation; accuracy of a 2-step model is not asserted.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.synthetic import generate_dataset
from sspd.engine import load_checkpoint, load_pretrained, save_checkpoint
from sspd.infer.checkpoint_predictor import CheckpointPredictor
from sspd.infer.predict import ClipPredictor, predict_video

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
        "loop.batch_size=4", "collapse.enabled=false", "loop.channels_last=false", "loop.checkpoint_every=1",
        "loop.max_steps=2"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pretrain") / "run"
    result = pretrain(load_config(RunConfig, None, [*TINY, f"run_dir={path}"]))
    assert result.stop_reason == "completed"
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(root, subjects=1, seconds=4.0, fps=30.0, size="96x72", seed=3)
    return root / "subject1" / "vid.avi"


def random_clip(n_frames, size=20, seed=0):
    """(T, S, S, 3) uint8: a skin tone with noise (any content does for parity)."""
    rng = np.random.default_rng(seed)
    frames = np.array([175.0, 130.0, 110.0]) + 8.0 * rng.standard_normal((n_frames, size, size, 3))
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


def reference_signal(network, clip):
    """(T-1,) the network's signal on the clip: resize every frame, difference by slicing (normalised and
    without luminance when the network's view says so), predict."""
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float()  # (T, C, S, S)
    resized = F.interpolate(frames, size=network.input_size, mode="bilinear", align_corners=False,
                            antialias=True)  # (T, C, h, w)
    diff = resized[1:] - resized[:-1]  # (T-1, C, h, w)
    if network.view.difference == "normalized":
        diff = diff / (resized[1:] + resized[:-1] + network.view.difference_eps)
    if network.view.luminance == "remove":
        diff = diff - diff.mean(dim=1, keepdim=True)
    diff = diff.permute(1, 0, 2, 3)[None]  # (1, C, T-1, h, w)
    with torch.no_grad():
        return network.predict(diff)[0].double().numpy()


def zscore(x):
    return (x - x.mean()) / x.std()


def integral(x):
    """The pulse of a difference signal, written out: its mean removed, then summed."""
    return np.cumsum(x - x.mean())


@pytest.mark.parametrize("which", ["online", "target"])
def test_output_is_the_networks_zscored_signal_aligned_with_frames(run_dir, which):
    predictor = CheckpointPredictor(run_dir, which=which)
    network, _ = load_pretrained(run_dir, which=which)
    clip = random_clip(predictor.clip_frames)
    out = predictor(clip, 30.0)
    assert isinstance(predictor, ClipPredictor) and out.shape == (49,)
    reference = reference_signal(network, clip)
    assert network.signal == "diff"  # SSPD's prediction follows the pulse's difference: integrated here
    np.testing.assert_allclose(out[1:], zscore(integral(reference)), atol=1e-5)
    assert out[0] == out[1]  # frame 0 has no earlier frame: it repeats frame 1's sample
    assert predictor.name == f"sspd:run:{which}" and predictor.describe()["which"] == which


def test_recipe_comes_from_the_checkpoint(run_dir):
    predictor = CheckpointPredictor(run_dir, which_file="best")
    model = predictor.describe()
    assert predictor.clip_frames == 48 + 1  # data.frames difference frames
    assert predictor.crop_size == 20 and "input spec" in model["crop_size_from"]
    assert model["checkpoint"] == str(run_dir / "checkpoints" / "best.pt")
    assert (model["step"], model["backbone"], model["input_size"], model["target"]) == (2, "PhysNet", [16, 16],
                                                                                       "diff")  # SSPD's


def test_finetuned_diff_target_is_integrated_and_crop_falls_back_to_the_input(run_dir, tmp_path):
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    del state["input"]  # written the way sspd finetune wrote checkpoints before the input spec
    state.update(config={"steps": 2, "window": 48}, finetune={"source": None, "target": "diff"})
    file = save_checkpoint(tmp_path / "finetuned.pt", state)
    predictor = CheckpointPredictor(file)
    assert predictor.crop_size == 16 and "input size" in predictor.describe()["crop_size_from"]
    clip = random_clip(33, size=16, seed=1)
    network, _ = load_pretrained(file)
    out = predictor(clip, 30.0)
    np.testing.assert_allclose(out[1:], zscore(integral(reference_signal(network, clip))), atol=1e-5)
    assert predictor.name == "sspd:finetuned:online"


def test_short_clip_is_padded_to_a_length_the_backbone_accepts(run_dir):
    """PhysNet needs a multiple of 4 difference frames: 29 are padded to 32, and the output keeps 30."""
    predictor = CheckpointPredictor(run_dir)
    out = predictor(random_clip(30, seed=2), 30.0)
    assert out.shape == (30,) and np.isfinite(out).all()
    assert abs(out[1:].mean()) < 1e-9 and abs(out[1:].std() - 1) < 1e-9


def test_predict_video_with_a_checkpoint(run_dir, video):
    prediction = predict_video(video, predictor=CheckpointPredictor(run_dir), window_s=2.0)
    assert prediction.signal.shape == prediction.pulse.shape == prediction.frame_times.shape == (120,)
    assert np.isfinite(prediction.signal).all() and np.isfinite(prediction.hr_bpm)
    assert 40.0 <= prediction.hr_bpm <= 180.0  # inside the read-out band, not a claim of accuracy
    assert len(prediction.windows) == 3  # 2 s windows every 1 s over 4 s
    summary = prediction.as_dict()
    assert summary["method"] == "sspd:run:online" and summary["n_frames"] == 120
    assert summary["protocol"]["face"]["size"] == 20
    assert summary["protocol"]["model"]["checkpoint"] == str(run_dir / "checkpoints" / "last.pt")
    assert summary["protocol"]["signal"] == "predictor on clips of 49 frames"


def test_missing_paths_are_named(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CheckpointPredictor(tmp_path / "nowhere")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty_run has no checkpoints/last\.pt"):
        CheckpointPredictor(empty)


def test_wrong_files_are_named(run_dir, tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.pt cannot be read"):
        CheckpointPredictor(text)
    other = save_checkpoint(tmp_path / "other.pt", {"weights": torch.zeros(2)})
    with pytest.raises(ValueError, match="other.pt is not an sspd pretraining checkpoint"):
        CheckpointPredictor(other)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    state["network"]["backbone_kwargs"]["width"] = 0.5  # the weights no longer fit the recipe
    edited = save_checkpoint(tmp_path / "edited.pt", state)
    with pytest.raises(ValueError, match="edited.pt: its online weights do not fit"):
        CheckpointPredictor(edited)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    del state["input"]
    state["finetune"] = {"target": "velocity"}
    with pytest.raises(ValueError, match="bad_target.pt.*'velocity'"):
        CheckpointPredictor(save_checkpoint(tmp_path / "bad_target.pt", state))


def test_bad_arguments_and_clips(run_dir):
    with pytest.raises(ValueError, match="which must be 'online' or 'target'"):
        CheckpointPredictor(run_dir, which="student")
    with pytest.raises(ValueError, match="clip_frames must be an int >= 2"):
        CheckpointPredictor(run_dir, clip_frames=1)
    predictor = CheckpointPredictor(run_dir, clip_frames=65, crop_size=32)
    assert (predictor.clip_frames, predictor.crop_size, predictor.describe()["crop_size_from"]) == (65, 32, "given")
    with pytest.raises(ValueError, match=r"at least 2 RGB frames, got shape \(1, 20, 20, 3\)"):
        predictor(random_clip(1), 30.0)
    with pytest.raises(ValueError, match=r"got shape \(4, 20, 20\)"):
        predictor(random_clip(4)[..., 0], 30.0)


def test_a_checkpoint_whose_network_refuses_its_own_clip_length_is_refused(run_dir, video, tmp_path, capsys):
    """The recipe says 6 difference frames, but PhysNet takes multiples of 4: predicting would pad every clip
    with still frames the network never saw; refuse the checkpoint instead, naming it."""
    from sspd.cli import main

    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    state["network"]["backbone_kwargs"]["frames"] = 6
    file = save_checkpoint(tmp_path / "edited.pt", state)
    with pytest.raises(ValueError, match=r"edited\.pt: .*multiple of 4.*got 6"):
        CheckpointPredictor(file)
    assert main(["predict", str(video), "--checkpoint", str(file), "--out", str(tmp_path / "p")]) == 2
    assert "edited.pt" in capsys.readouterr().err


def test_the_described_view_is_the_one_the_network_applies(run_dir):
    view = CheckpointPredictor(run_dir).describe()["view"]
    assert "normalised" in view and "luminance removed" in view and "raw" not in view


def test_the_input_spec_round_trips_through_a_real_checkpoint(run_dir):
    """The 2-step run's checkpoint holds its InputSpec, which reads back equal to what the run trained on."""
    from sspd.augment.inference import InferenceView
    from sspd.models import InputSpec, read_input_spec

    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    spec, origin = read_input_spec(state, "last.pt")
    view = InferenceView(difference="normalized", luminance="remove")  # RunConfig's default views
    assert spec == InputSpec(frames=48, input_size=(16, 16), box_size=20, enlarge=None, view=view, signal="diff",
                             fps=30.0)  # signal: SSPD's (model.signal auto)
    assert "input spec" in origin and InputSpec.from_dict(spec.as_dict()) == spec
    predictor = CheckpointPredictor(run_dir)
    assert predictor.input == spec and predictor.describe()["input"] == state["input"]


def test_an_old_checkpoint_without_an_input_spec_loads_and_predicts_the_same(run_dir, tmp_path):
    """A checkpoint written the old way (no "input": the spec is derived from the run config) gives the same
    spec, crop and output as the new one; the crop says where it came from."""
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    del state["input"]
    old = CheckpointPredictor(save_checkpoint(tmp_path / "old.pt", state))
    new = CheckpointPredictor(run_dir)
    assert old.input == new.input and (old.clip_frames, old.crop_size) == (49, 20)
    assert old.describe()["crop_size_from"] == "the run config's data.box_size"
    clip = random_clip(49, seed=5)
    np.testing.assert_array_equal(old(clip, 30.0), new(clip, 30.0))
    state["config"]["data"]["box_size"] = 8  # smaller than the input: the crop falls back to the input side
    fallback = CheckpointPredictor(save_checkpoint(tmp_path / "old_small.pt", state))
    assert fallback.crop_size == 16 and "input size" in fallback.describe()["crop_size_from"]


@pytest.mark.parametrize("view, words, absent", [
    ({"difference": "raw", "luminance": "remove", "scale": "std"},
     ["raw frame difference", "luminance removed", "standard deviation", "area interpolation"], ["normalised"]),
    ({"difference": "normalized", "luminance": "remove", "scale": "std"},
     ["normalised frame difference", "luminance removed", "standard deviation"], ["raw"]),
    ({"difference": "raw", "luminance": "keep", "scale": "none"}, ["raw frame difference"],
     ["normalised", "luminance", "standard deviation"]),
])
def test_prediction_json_describes_the_view_the_input_spec_applies(run_dir, video, tmp_path, view, words, absent):
    """prediction.json's view is the input spec's, in every combination (the old text called every
    std-scaled view "normalised" and dropped its luminance), and the network runs on that very view."""
    import json

    from sspd.augment.inference import InferenceView, prepare_video
    from sspd.infer.predict import write_prediction

    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    state["input"]["view"] = {**state["input"]["view"], **view}
    predictor = CheckpointPredictor(save_checkpoint(tmp_path / "viewed.pt", state))
    if view["difference"] == "raw" and view["scale"] == "std":  # once through predict_video and the file
        prediction = predict_video(video, predictor=predictor, window_s=2.0)
        model = json.loads(write_prediction(prediction, tmp_path / "out")["json"].read_text())["protocol"]["model"]
    else:
        model = predictor.describe()
    text = model["view"]
    assert all(w in text for w in words) and not any(w in text for w in absent), text
    assert text.startswith("20px face crop") and model["input"]["view"]["scale"] == view["scale"]
    clip = random_clip(49, seed=6)
    applied = InferenceView.from_dict(state["input"]["view"])
    if applied.scale == "std":
        with torch.no_grad():
            raw = predictor.network.predict(torch.from_numpy(prepare_video(clip, (16, 16), applied))[None])[0]
        np.testing.assert_allclose(predictor(clip, 30.0)[1:], zscore(integral(raw.double().numpy())), atol=1e-5)
