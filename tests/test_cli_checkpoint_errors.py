"""predict, evaluate and probe given a file that is not an sspd checkpoint say exactly that (exit 2)."""
import pickle

import pytest
import torch

from sspd.cli import main


@pytest.mark.parametrize("command", ["predict", "evaluate", "probe"])
@pytest.mark.parametrize("kind", ["text", "pickle", "tensor"])
def test_a_file_that_is_not_an_sspd_checkpoint_says_so(tmp_path, capsys, command, kind):
    path = tmp_path / "model.pt"
    if kind == "text":
        path.write_text("hello")  # torch.load raised a bare KeyError for this one
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"w": [1.0]}))
    else:
        torch.save(torch.zeros(3), path)
    argv = {"predict": ["predict", str(tmp_path / "clip.avi"), "--checkpoint", str(path)],
            "evaluate": ["evaluate", str(path)], "probe": ["probe", str(path)]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"sspd {command}: error:" in err and "model.pt" in err and "is not an sspd checkpoint" in err


@pytest.mark.parametrize("command", ["evaluate", "probe", "finetune"])
@pytest.mark.parametrize("edit", ["width", "backbone"])
def test_a_checkpoint_whose_recipe_does_not_match_its_weights_is_one_line(tmp_path, capsys, command, edit):
    from sspd.engine import save_checkpoint
    from sspd.eval.finetune import build_from_scratch

    spec = {"backbone": "physnet", "backbone_kwargs": {"frames": 32, "input_size": 32, "width": 0.25}, "stack": {}}
    net = build_from_scratch(spec, seed=0)
    recipe = {**spec, "backbone_kwargs": {**spec["backbone_kwargs"], "width": 0.5}} if edit == "width" else \
        {**spec, "backbone": "sspdnet", "backbone_kwargs": {"frames": 32, "input_size": 66, "width": 0.25}}
    path = save_checkpoint(tmp_path / "model.pt", {"format": "sspd-checkpoint-1", "step": 1, "epoch": 0,
                                                   "config": {}, "network": recipe, "online": net.state_dict(),
                                                   "target": net.state_dict()})
    argv = {"evaluate": ["evaluate", str(path)], "probe": ["probe", str(path)],
            "finetune": ["finetune", str(path), "--out", str(tmp_path / "ft")]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"sspd {command}: error:" in err and "model.pt: its online weights do not fit" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "ft").exists()
