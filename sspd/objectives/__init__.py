"""Self-supervised objectives by name, each a pure function of the networks' outputs with a typed config.

    objective = build_objective("sinc")                # or "sspd", "contrast-phys", "supervised"
    total, scalars = objective(online_outputs, target_outputs_or_None, fs, batch)

- ``sspd``: self-similarity distillation (docs/method.md §4): needs an EMA target and the TS stack; its
  predictor learns on detached features.
- ``sinc``: SiNC's bandwidth, sparsity and variance priors (docs/method.md); no target.
- ``contrast-phys``: Contrast-Phys's spectral contrast, window PSDs of one video together and of different
  videos apart (docs/method.md); no target; the batch must carry ``video_id``.
- ``supervised``: the labelled control, negative Pearson to the PPG.

:class:`ObjectiveConfig` is the run config's ``objective`` section: a name and that objective's options,
read into the config type its spec declares (a new objective registers itself and nothing else). A researcher imports these into their own loop; the engine (``sspd.engine``) calls them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sspd.models.outputs import NetworkOutputs
from sspd.objectives.contrast_phys import (ContrastPhysConfig, contrast_phys_objective, contrast_terms,
                                           irrelevant_power_ratio, window_psds)
from sspd.objectives.registry import (Objective, ObjectiveSpec, build_objective, get_objective, list_objectives,
                                      register_objective, unregister_objective)
from sspd.objectives.sinc import (SiNCConfig, bandwidth_loss, clip_bands, sinc_objective, sinc_psd,
                                  sparsity_loss, variance_loss)
from sspd.objectives.sspd import (PredictorLossTerms, SSPDLossWeights, SSPDObjectiveConfig, frame_rates,
                                  predictor_loss, predictor_loss_terms, sspd_objective)
from sspd.objectives.supervised import SupervisedConfig, supervised_objective

__all__ = [
    "NetworkOutputs", "Objective", "ObjectiveSpec", "ObjectiveConfig", "section_name", "build_objective", "get_objective",
    "list_objectives", "register_objective", "unregister_objective",
    "SSPDObjectiveConfig", "SSPDLossWeights", "PredictorLossTerms", "predictor_loss_terms", "predictor_loss",
    "frame_rates", "sspd_objective",
    "SiNCConfig", "sinc_psd", "clip_bands", "bandwidth_loss", "sparsity_loss", "variance_loss", "sinc_objective",
    "SupervisedConfig", "supervised_objective",
    "ContrastPhysConfig", "contrast_phys_objective", "window_psds", "contrast_terms", "irrelevant_power_ratio",
]


@dataclass(init=False)
class ObjectiveConfig:
    """The run config's ``objective`` section: which objective, and its options in its own typed config.

    In a run config: ``objective: {name: sinc, sinc: {n_fft: 1024}}``; the options' section is named after
    the objective, hyphens as underscores (``contrast_phys``), and is read into the ``config_type`` its
    :class:`ObjectiveSpec` declares, so any registered objective, the library's or one registered by its
    user, is configured the same way and nothing here names one. Sections of other registered objectives
    are checked too (a run's config.yaml from before held every objective's options) and kept, but only
    the named objective's options are used and written back (:meth:`config_dump`).

    Attributes:
        name: a registered objective (``sspd``, ``sinc``, ``contrast-phys``, ``supervised``, or one the
            user registered); an unknown name raises with the valid ones.
        options: the named objective's options (an instance of its ``config_type``; None: its defaults).

    ``config.sspd``, ``config.contrast_phys``... read the options of that objective (the named one's, a
    given section's, else its defaults). ``ObjectiveConfig(name="sinc", sinc=SiNCConfig(n_fft=1024))``
    is the same as ``ObjectiveConfig(name="sinc", options=SiNCConfig(n_fft=1024))``.
    """

    name: str = "sspd"
    options: Any = None

    def __init__(self, name: str = "sspd", options: Any = None, **sections: Any) -> None:
        spec = get_objective(name)  # raises with the valid names
        given = {}
        for key, value in sections.items():
            other = _section_spec(key)
            given[key] = _typed_options(other, value)
        own = section_name(name)
        if options is not None and own in given and given[own] != _typed_options(spec, options):
            raise ValueError(f"objective {name!r}: give its options once, as options or as {own}, not both")
        self.name = name
        self.options = _typed_options(spec, options if options is not None else given.get(own))
        self._sections = {**given, own: self.options}

    @property
    def spec(self) -> ObjectiveSpec:
        """The named objective's :class:`ObjectiveSpec`."""
        return get_objective(self.name)

    def build(self) -> Objective:
        """The named objective bound to its options."""
        return build_objective(self.name, self.options)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # copy/pickle probe attributes before __init__ ran
            raise AttributeError(attr)
        try:
            spec = _section_spec(attr)
        except ValueError:
            raise AttributeError(f"ObjectiveConfig has no attribute {attr!r}") from None
        options = self.__dict__.get("_sections", {}).get(attr)
        return options if options is not None else spec.config_type()

    def __repr__(self) -> str:
        return f"ObjectiveConfig(name={self.name!r}, options={self.options!r})"

    def config_dump(self) -> dict[str, Any]:
        """The section as written to config.yaml: the name and the named objective's options."""
        return {"name": self.name, section_name(self.name): self.options}

    @classmethod
    def config_load(cls, value: Mapping[str, Any], reader: Any, base: Any) -> "ObjectiveConfig":
        """Read ``{name: ..., <section>: {...}, ...}`` with the config loader's checks
        (:class:`sspd.configuration.SectionReader`); keys left out come from ``base`` (the field's default)."""
        base = base if isinstance(base, cls) else cls()
        reader.check_keys(["name", *sorted({section_name(n) for n in list_objectives()})])
        name = reader.read("name", str) if "name" in value else base.name
        try:
            get_objective(name)
        except ValueError as err:
            raise reader.error("name", str(err)) from None
        sections = {key: reader.read(key, _section_spec(key).config_type, current=getattr(base, key))
                    for key in value if key != "name"}
        try:
            return cls(name, **sections)
        except ValueError as err:
            raise reader.error(None, str(err)) from None


def section_name(objective: str) -> str:
    """The ``objective`` section's key for an objective's options: its name, hyphens as underscores."""
    return objective.replace("-", "_")


def _section_spec(key: str) -> ObjectiveSpec:
    """The spec whose options live under ``key``; raises with the valid section names."""
    for name in list_objectives():
        if section_name(name) == key:
            return get_objective(name)
    valid = ", ".join(section_name(n) for n in list_objectives())
    raise ValueError(f"objective section {key!r} names no registered objective; valid sections: {valid}")


def _typed_options(spec: ObjectiveSpec, options: Any) -> Any:
    """``options`` as an instance of ``spec.config_type`` (None: its defaults; a wrong type raises)."""
    if options is None:
        return spec.config_type()
    if not isinstance(options, spec.config_type):
        raise ValueError(f"objective {spec.name!r} takes a {spec.config_type.__name__}, got "
                         f"{type(options).__name__}")
    return options
