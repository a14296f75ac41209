"""The objective registry: names, errors, and what each objective declares it needs."""
from __future__ import annotations

import pytest

from sspd.cli.config import RunConfig
from sspd.configuration import load_config
from sspd.objectives import (ObjectiveConfig, SiNCConfig, SSPDObjectiveConfig, SupervisedConfig, build_objective,
                             get_objective, list_objectives)


def test_the_three_objectives_are_registered_with_their_needs():
    assert {"sspd", "sinc", "supervised"} <= set(list_objectives())
    sspd, sinc, supervised = (get_objective(n) for n in ("sspd", "sinc", "supervised"))
    assert (sspd.needs_target, sspd.uses_ts, sspd.detach_predictor, sspd.needs_labels) == (True, True, True, False)
    assert (sinc.needs_target, sinc.uses_ts, sinc.detach_predictor, sinc.needs_labels) == (False, False, False, False)
    assert (supervised.needs_target, supervised.needs_labels) == (False, True)


def test_unknown_name_raises_listing_the_valid_ones():
    with pytest.raises(ValueError, match="unknown objective 'simclr'; valid objectives: contrast-phys, sinc, sspd, supervised"):
        get_objective("simclr")
    with pytest.raises(ValueError, match="valid objectives"):
        ObjectiveConfig(name="simclr")
    with pytest.raises(ValueError, match="objective.*simclr.*valid objectives"):
        load_config(RunConfig, {"objective": {"name": "simclr"}})


def test_build_binds_the_named_section_and_checks_the_config_type():
    config = load_config(RunConfig, {"objective": {"name": "sinc", "sinc": {"n_fft": 1024}}})
    objective = config.objective.build()
    assert objective.name == "sinc" and objective.config == SiNCConfig(n_fft=1024)
    assert build_objective("supervised").config == SupervisedConfig()
    assert build_objective("sspd").config == SSPDObjectiveConfig()
    with pytest.raises(ValueError, match="takes a SiNCConfig, got SupervisedConfig"):
        build_objective("sinc", SupervisedConfig())


def test_sspd_objective_refuses_a_missing_target():
    import torch

    from sspd.objectives import NetworkOutputs

    outputs = NetworkOutputs(hs=[torch.randn(2, 8, 4)], rppg=torch.randn(2, 16))
    with pytest.raises(ValueError, match="needs the target network's outputs"):
        build_objective("sspd")(outputs, None, torch.full((2,), 30.0, dtype=torch.float64), {})


def test_a_hyphenated_objective_reads_its_underscored_section():
    config = load_config(RunConfig, {"objective": {"name": "contrast-phys", "contrast_phys": {"windows": 2}}})
    assert config.objective.build().config.windows == 2
    with pytest.raises(ValueError, match="objective.contrast_phys.*windows must be an int >= 1"):
        load_config(RunConfig, {"objective": {"name": "contrast-phys", "contrast_phys": {"windows": 0}}})
