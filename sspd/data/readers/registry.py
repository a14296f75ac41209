"""The dataset registry: ``open_dataset(name, root, **options)`` and ``list_datasets()``.

``open_dataset`` scans the folder, applies the subject and metadata filters that the paths already
answer, loads every remaining video (label read and aligned, video probed) and applies the filters that
need loaded metadata. It returns a :class:`~sspd.data.readers.loading.RecordList`: the good records,
with ``.failures`` naming every video that could not be loaded and why (also logged as warnings).
``on_error="raise"`` raises the first such error instead. A root that matches no known layout, an
unknown option or filter key, and filters that match nothing raise ValueError at once.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sspd.data.readers.generic import scan_generic
from sspd.data.readers.loading import ON_ERROR, PendingRecord, RecordList, load_pending
from sspd.data.readers.mmpd import MMPD_FIELDS, scan_mmpd
from sspd.data.readers.pure import scan_pure
from sspd.data.readers.splits import check_filter_keys, filter_records, matches_filters, normalise_id
from sspd.data.readers.ubfc import scan_ubfc
from sspd.data.readers.vipl import scan_vipl

__all__ = ["DatasetFormat", "open_dataset", "list_datasets", "get_format"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetFormat:
    """A registered layout: ``scan(root, **options) -> list[PendingRecord]`` and its filter keys."""

    name: str
    scan: Callable[..., list[PendingRecord]]
    filter_keys: tuple[str, ...]
    description: str


_FORMATS: dict[str, DatasetFormat] = {f.name: f for f in (
    DatasetFormat("ubfc-rppg", scan_ubfc, (), "UBFC-rPPG DATASET_2 (subject*/vid.avi + ground_truth.txt) "
                  "and DATASET_1 (*/vid.avi + gtdump.xmp)"),
    DatasetFormat("pure", scan_pure, ("setup",), "PURE: XX-YY/Image<ns>.png + XX-YY.json"),
    DatasetFormat("mmpd", scan_mmpd, MMPD_FIELDS, "MMPD: subject*/p*_*.mat"),
    DatasetFormat("vipl-hr", scan_vipl, ("scenario", "source"),
                  "VIPL-HR: p*/v*/source*/video.avi + wave.csv [+ time.txt, gt_HR.csv]"),
    DatasetFormat("generic", scan_generic, (), "any video or image folder + a CSV with time and PPG columns"),
)}
_SYNTHETIC = "synthetic"


def list_datasets() -> list[str]:
    """The registered dataset names, ``synthetic`` included."""
    return sorted([*_FORMATS, _SYNTHETIC])


def get_format(name: str) -> DatasetFormat:
    """The registered layout called ``name``; ValueError listing the valid names otherwise."""
    key = name.strip().lower()
    if key not in _FORMATS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}")
    return _FORMATS[key]


def _check_options(fmt: DatasetFormat, options: Mapping[str, Any]) -> None:
    valid = [p for p in inspect.signature(fmt.scan).parameters if p != "root"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for dataset {fmt.name}; valid options: "
                         f"{', '.join(valid + ['filters', 'subjects', 'on_error'])}")


def _keep_subjects(items: list, subjects: Sequence[Any] | None) -> list:
    """The pending records or records (anything with ``.subject``) of the wanted subjects."""
    if subjects is None:
        return items
    wanted = {normalise_id(s) for s in subjects}
    return [item for item in items if normalise_id(item.subject) in wanted]


def _open_synthetic(root: Path | None, *, on_error: str, options: dict[str, Any]) -> RecordList:
    """``synthetic`` is the generator's own reader, ``sspd.data.synthetic.open_synthetic``: every option
    (``subjects`` is a count when rendering on the fly, an id selection when reading a folder) is its."""
    from sspd.data.synthetic import open_synthetic  # lazy: keeps the generator out of plain reader imports

    loaded = open_synthetic(root=root, **options)
    records = RecordList(loaded, dataset=_SYNTHETIC, root=root, failures=getattr(loaded, "failures", []))
    if on_error == "raise" and records.failures:
        raise ValueError(records.summary())
    return records


def open_dataset(name: str, root: str | Path | None = None, *, filters: Mapping[str, Any] | None = None,
                 subjects: Sequence[Any] | None = None, on_error: str = "collect",
                 **options: Any) -> RecordList:
    """Open a dataset folder as a list of :class:`~sspd.data.records.VideoRecord`.

    Args:
        name: one of :func:`list_datasets` (``ubfc-rppg``, ``pure``, ``mmpd``, ``vipl-hr``, ``generic``,
            ``synthetic``).
        root: the dataset folder (``synthetic`` renders on the fly when it is ``None``).
        filters: metadata filters, key -> accepted value or list of values, e.g.
            ``{"motion": ["Stationary"], "light": ["LED-high"]}`` for MMPD, ``{"setup": [1, 2]}`` for PURE.
        subjects: keep only these subject ids (before loading, so others cost nothing). For
            ``synthetic`` this and every option go to ``open_synthetic`` (there ``subjects`` is the
            number of subjects to render when ``root`` is ``None``).
        on_error: ``"collect"`` (broken videos become ``.failures``) or ``"raise"``.
        **options: the format's own options (see each reader's ``scan_*``), e.g. ``setups=[1, 2]`` for
            PURE, ``version=2`` for UBFC-rPPG, ``video=``/``labels=``/``fps=`` for generic.

    Raises:
        ValueError: unknown name, option or filter key; a root matching no known layout; filters or
            ``subjects`` that match no video. FileNotFoundError: ``root`` does not exist.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if name.strip().lower() == _SYNTHETIC:
        given = {k: v for k, v in (("filters", filters), ("subjects", subjects)) if v is not None}
        return _open_synthetic(None if root is None else Path(root).expanduser(), on_error=on_error,
                               options={**given, **options})
    fmt = get_format(name)
    if root is None:
        raise ValueError(f"dataset {fmt.name} needs root= (the dataset folder: {fmt.description})")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such dataset folder for {fmt.name}")
    _check_options(fmt, options)
    filters = dict(filters or {})
    check_filter_keys(filters, fmt.filter_keys, dataset=fmt.name)
    pending = fmt.scan(root, **options)
    early = {k: v for k, v in filters.items() if pending and all(k in p.metadata for p in pending)}
    selected = [p for p in _keep_subjects(pending, subjects) if matches_filters(p.metadata, early)]
    if pending and not selected:
        raise ValueError(f"{root}: subjects={subjects} / filters={early} match none of the {len(pending)} "
                         f"videos of this {fmt.name} folder")
    records = load_pending(selected, dataset=fmt.name, root=root, on_error=on_error)
    return _apply_late_filters(records, {k: v for k, v in filters.items() if k not in early}, root)


def _apply_late_filters(records: RecordList, filters: dict[str, Any], root: Path | None) -> RecordList:
    if not filters or not records:
        return records
    kept = filter_records(records, filters)
    if not kept:
        raise ValueError(f"{root}: filters {filters} match none of the {len(records)} loaded "
                         f"{records.dataset} records ({len(records.failures)} more failed to load)")
    log.info("%s: filters %s keep %d of %d records", records.dataset, filters, len(kept), len(records))
    return RecordList(kept, dataset=records.dataset, root=records.root, failures=records.failures)
