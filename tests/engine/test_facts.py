"""RunFacts: a run's clip facts validated once; the TrainDataset protocol; the T+1 frame rule and the
band-period check stated once."""
from __future__ import annotations

import pytest
import torch

from sspd.augment.inference import raw_frames
from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.synthetic.clips import SyntheticClipDataset
from sspd.engine.data import build_train_dataset
from sspd.engine.facts import RunFacts, TrainDataset, check_band_period, check_train_dataset
from sspd.signal import DEFAULT_BAND


class _NoRate(torch.utils.data.Dataset):
    """Real synthetic clips behind a dataset that does not say their rate."""

    def __init__(self):
        self.base = SyntheticClipDataset(4, frames=49, size=20, fps=30.0, seed=0)

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        return self.base[index]


def test_the_library_datasets_are_train_datasets():
    config = load_config(RunConfig, None, ["data.fps=24", "data.clips=2", "data.frames=40"])
    dataset = build_train_dataset(config.data, seed=0)
    assert isinstance(dataset, TrainDataset) and dataset.fps == 24.0
    assert dataset[0]["video"].shape[1] == raw_frames(40) == 41


def test_a_dataset_without_fps_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"the training dataset _NoRate lacks fps: .*dataset\.fps"):
        check_train_dataset(_NoRate())
    config = load_config(RunConfig, None, ["model.backbone=physnet", "model.input_size=16", "data.box_size=20",
                                           "data.frames=48", "loop.batch_size=2", "loop.max_steps=1",
                                           f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(ValueError, match="lacks fps"):
        pretrain(config, dataset=_NoRate())
    assert not (tmp_path / "run" / "checkpoints").exists()   # refused before anything was written

    class BadRate(_NoRate):
        fps = "30"

    with pytest.raises(ValueError, match=r"BadRate\.fps must be a number of Hz"):
        check_train_dataset(BadRate())


def test_run_facts_resolve_the_dataset_rate_and_validate_once():
    config = load_config(RunConfig, None, ["data.fps=30", "data.clips=2", "data.frames=40",
                                           "objective.name=sinc"])
    dataset = build_train_dataset(config.data, seed=0)
    dataset.fps = 20.0   # the dataset's word wins over data.fps
    facts = RunFacts.resolve(data=config.data, model=config.model, view=config.views.inference_view(),
                             dataset=dataset, objective_config=config.objective.options)
    assert (facts.fps, facts.frames, facts.raw_frames) == (20.0, 40, 41)
    assert facts.input_size == config.model.input_size and facts.box_size == config.data.box_size
    assert facts.band == DEFAULT_BAND and facts.objective_band == config.objective.options.band
    assert facts.view == config.views.inference_view()
    with pytest.raises(ValueError, match="upper edge 2.5 Hz is not below the Nyquist frequency 2.0 Hz"):
        RunFacts(fps=4.0, frames=40, input_size=16, box_size=20)
    with pytest.raises(ValueError, match=r"data.box_size \(12\) must be >= model.input_size \(16\)"):
        RunFacts(fps=30.0, frames=40, input_size=16, box_size=12)
    with pytest.raises(ValueError, match="data.frames must be >= 2"):
        RunFacts(fps=30.0, frames=1, input_size=16, box_size=16)


def test_the_band_period_rule():
    check_band_period(40, 30.0, DEFAULT_BAND, what="x", off="y")   # 40 frames = one period of 0.75 Hz at 30 fps
    with pytest.raises(ValueError, match=r"collapse monitoring needs clips of at least 34 frames \(one period of "
                                         r"0.75 Hz at 25 fps\), data.frames is 33: use longer clips or set "
                                         r"collapse.enabled=false"):
        RunFacts(fps=25.0, frames=33, input_size=16, box_size=16).check_band_period(
            what="collapse monitoring", off="collapse.enabled=false")


def test_the_default_band_is_written_once():
    """No (0.75, 2.5) or (45, 150) literal in the library but sspd.signal's DEFAULT_BAND."""
    import ast
    from pathlib import Path

    import sspd

    root = Path(sspd.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2 and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) for e in node.elts):
                if tuple(e.value for e in node.elts) in ((0.75, 2.5), (45, 150)):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert [where.split(":")[0] for where in found] == ["signal/checks.py"], found
