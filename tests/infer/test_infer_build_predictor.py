"""build_predictor: one entry for every model file, dispatched on what the file holds (sspd's checkpoint
format, an rPPG-Toolbox state dict), and one line naming the file for anything else.

The files are real ``torch.save`` files; the toolbox one is an sspd PhysNet's weights under the toolbox's
key names (renamed here with a table written for the test), the sspd one a checkpoint of a small PhysNet
with the SSPD predictor and its InputSpec.
"""
import numpy as np
import pytest
import torch

from sspd.augment.inference import InferenceView
from sspd.backbones import create_backbone
from sspd.cli import main
from sspd.engine import save_checkpoint
from sspd.infer.checkpoint_predictor import CheckpointPredictor, build_predictor
from sspd.models import CHECKPOINT_FORMAT, InputSpec, ModelConfig, build_network, network_spec

_TO_TOOLBOX = [("encoder.0.0.", "ConvBlock1.")] + [
    (f"encoder.{n // 2}.{n % 2}.", f"ConvBlock{n}.") for n in range(2, 10)] + [
    ("decoder.0.", "upsample."), ("decoder.1.", "upsample2."), ("head.", "ConvBlock10.")]


def _toolbox_name(key):
    return next(new + key[len(old):] for old, new in _TO_TOOLBOX if key.startswith(old))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    physnet = create_backbone("physnet", frames=128, input_size=72, width=0.25)
    toolbox = save_checkpoint(root / "UBFC_PhysNet_DiffNormalized.pth",
                              {"module." + _toolbox_name(k): v for k, v in physnet.state_dict().items()})
    view = InferenceView(difference="normalized", luminance="remove")
    spec = network_spec(ModelConfig(backbone="physnet", input_size=16, width=0.25), frames=32, view=view)
    network = build_network(spec)
    inputs = InputSpec(frames=32, input_size=16, box_size=20, enlarge="sspd", view=view, fps=25.0)
    sspd = save_checkpoint(root / "sspd.pt", {"format": CHECKPOINT_FORMAT, "step": 3, "config": {}, "network": spec,
                                              "input": inputs.as_dict(), "online": network.state_dict(),
                                              "target": None})
    return {"toolbox": toolbox, "sspd": sspd, "root": root}


def test_an_sspd_checkpoint_gives_its_network_on_its_input_spec(files):
    predictor = build_predictor(files["sspd"])
    assert isinstance(predictor, CheckpointPredictor) and predictor.format == CHECKPOINT_FORMAT
    assert type(predictor.network.backbone).__name__ == "PhysNet" and predictor.step == 3
    assert predictor.network.predictor is not None  # the SSPD predictor, not the toolbox's own head
    assert (predictor.clip_frames, predictor.crop_size, predictor.target) == (33, 20, "pulse")
    assert predictor.input.enlarge == "sspd" and predictor.input.fps == 25.0
    out = predictor(np.random.default_rng(0).integers(0, 255, (33, 20, 20, 3), dtype=np.uint8), 25.0)
    assert out.shape == (33,) and np.isfinite(out).all()


def test_a_toolbox_state_dict_gives_the_toolbox_network_and_input(files):
    predictor = build_predictor(files["toolbox"])
    assert predictor.format == "rppg-toolbox" and type(predictor.network.backbone).__name__ == "PhysNet"
    spec = predictor.input
    assert (spec.frames, spec.input_size, spec.box_size, spec.signal, spec.fps) == (128, (72, 72), 72, "diff", None)
    assert spec.view == InferenceView(difference="normalized", scale="std")
    assert "input size" in predictor.describe()["crop_size_from"]
    with pytest.raises(ValueError, match="not an rPPG-Toolbox PhysNet or PhysFormer state dict"):
        build_predictor(files["sspd"], format="rppg-toolbox")  # insisting on a format the file lacks
    with pytest.raises(ValueError, match="holds one network, not an EMA target"):
        build_predictor(files["toolbox"], which="target")


@pytest.mark.parametrize("contents, held", [({"weights": torch.zeros(2)}, "format None"),
                                            ({"format": "onnx-1", "graph": torch.zeros(1)}, "format 'onnx-1'")])
def test_an_unknown_format_is_one_line_naming_the_file(files, contents, held, capsys):
    file = save_checkpoint(files["root"] / "unknown.pt", contents)
    with pytest.raises(ValueError) as err:
        build_predictor(file)
    message = str(err.value)
    assert len(message.splitlines()) == 1 and str(file) in message and held in message
    assert main(["predict", str(file), "--checkpoint", str(file), "--out", str(files["root"] / "o")]) == 2
    stderr = capsys.readouterr().err.strip()
    assert len(stderr.splitlines()) == 1 and "unknown.pt" in stderr and "rPPG-Toolbox" in stderr


def test_predict_crops_faces_as_the_model_was_trained_unless_told(files, capsys):
    """The sspd file's InputSpec says its crops were enlarged "sspd" (not the default square1.5): sspd
    predict cuts its face boxes that way when --enlarge is not given."""
    import json

    from sspd.data.synthetic import generate_dataset

    generate_dataset(files["root"] / "video", subjects=1, seconds=2.0, fps=25.0, size="96x72", seed=2)
    video = files["root"] / "video" / "subject1" / "vid.avi"
    assert main(["predict", str(video), "--checkpoint", str(files["sspd"]), "--window", "2", "--json",
                 "--no-progress", "--out", str(files["root"] / "p")]) == 0
    face = json.loads(capsys.readouterr().out)["protocol"]["face"]
    assert (face["enlarge"], face["size"]) == ("sspd", 20)
