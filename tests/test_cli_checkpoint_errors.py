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
