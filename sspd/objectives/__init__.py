"""Self-supervised objectives by name, each a pure function of the networks' outputs with a typed config.

    objective = build_objective("sinc")                # or "sspd", "contrast-phys", "supervised"
    total, scalars = objective(online_outputs, target_outputs_or_None, fs, batch)

- ``sspd``: self-similarity distillation (docs/method.md §4): needs an EMA target and the TS stack; its
  predictor learns on detached features.
- ``sinc``: SiNC's bandwidth, sparsity and variance priors (docs/method.md); no target.
- ``contrast-phys``: Contrast-Phys's spectral contrast, window PSDs of one video together and of different
  videos apart (docs/method.md); no target; the batch must carry ``video_id``.
- ``supervised``: the labelled control, negative Pearson to the PPG.

:class:`ObjectiveConfig` is the run config's ``objective`` section: a name and one typed section per
objective. A researcher imports these into their own loop; the engine (``sspd.engine``) calls them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sspd.models.outputs import NetworkOutputs
from sspd.objectives.contrast_phys import (ContrastPhysConfig, contrast_phys_objective, contrast_terms,
                                           irrelevant_power_ratio, window_psds)
from sspd.objectives.registry import (Objective, ObjectiveSpec, build_objective, get_objective, list_objectives,
                                      register_objective)
from sspd.objectives.sinc import (SiNCConfig, bandwidth_loss, clip_bands, sinc_objective, sinc_psd,
                                  sparsity_loss, variance_loss)
from sspd.objectives.sspd import (PredictorLossTerms, SSPDLossWeights, SSPDObjectiveConfig, frame_rates,
                                  predictor_loss, predictor_loss_terms, sspd_objective)
from sspd.objectives.supervised import SupervisedConfig, supervised_objective

__all__ = [
    "NetworkOutputs", "Objective", "ObjectiveSpec", "ObjectiveConfig", "section_name", "build_objective", "get_objective",
    "list_objectives", "register_objective",
    "SSPDObjectiveConfig", "SSPDLossWeights", "PredictorLossTerms", "predictor_loss_terms", "predictor_loss",
    "frame_rates", "sspd_objective",
    "SiNCConfig", "sinc_psd", "clip_bands", "bandwidth_loss", "sparsity_loss", "variance_loss", "sinc_objective",
    "SupervisedConfig", "supervised_objective",
    "ContrastPhysConfig", "contrast_phys_objective", "window_psds", "contrast_terms", "irrelevant_power_ratio",
]


@dataclass
class ObjectiveConfig:
    """The run config's ``objective`` section: which objective, and each one's typed options.

    Attributes:
        name: a registered objective (``sspd``, ``sinc``, ``contrast-phys``, ``supervised``); an unknown name
            raises with the valid ones.
        sspd, sinc, contrast_phys, supervised: the options of each (the section of a hyphenated name is
            spelled with an underscore); only the named one is used.
    """

    name: str = "sspd"
    sspd: SSPDObjectiveConfig = field(default_factory=SSPDObjectiveConfig)
    sinc: SiNCConfig = field(default_factory=SiNCConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    contrast_phys: ContrastPhysConfig = field(default_factory=ContrastPhysConfig)

    def __post_init__(self) -> None:
        get_objective(self.name)  # raises with the valid names
        if not hasattr(self, section_name(self.name)):
            raise ValueError(f"objective {self.name!r} is registered but ObjectiveConfig has no "
                             f"{section_name(self.name)!r} section for its options")

    def build(self) -> Objective:
        """The named objective bound to its section."""
        return build_objective(self.name, getattr(self, section_name(self.name)))


def section_name(objective: str) -> str:
    """The ``objective`` section's key for an objective's options: its name, hyphens as underscores."""
    return objective.replace("-", "_")
