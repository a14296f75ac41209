"""The dataset registry: ``open_dataset(name, root, **options)`` and ``list_datasets()``.

``open_dataset`` scans the folder, applies the subject and metadata filters that the paths already
answer, loads every remaining video (label read and aligned, video probed) and applies the filters that
need loaded metadata. It returns a :class:`~sspd.data.readers.loading.RecordList`: the good records,
with ``.failures`` naming every video that could not be loaded and why (also logged as warnings).
``on_error="raise"`` raises the first such error instead. A root that matches no known layout, an
unknown option or filter key, and filters that match nothing raise ValueError at once.

Every format is one :class:`DatasetFormat` in ``_FORMATS``, named by its reader's scan function; a format
that can also make its records without a folder (``synthetic``, rendered on the fly) names that function
as ``render``, and ``open_dataset(name)`` with no root calls it.
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
from sspd.data.readers.videos import scan_videos
from sspd.data.readers.vipl import scan_vipl
from sspd.data.records import VideoRecord
from sspd.data.synthetic.reader import render_synthetic, scan_synthetic

__all__ = ["DatasetFormat", "open_dataset", "list_datasets", "get_format"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetFormat:
    """A registered layout: ``scan(root, **options) -> list[PendingRecord]`` and its filter keys;
    ``render(**options) -> list[VideoRecord]`` when the format can make its records without a folder
    (``root=None``; there ``subjects`` is one of render's options, e.g. a count, not an id selection)."""

    name: str
    scan: Callable[..., list[PendingRecord]]
    filter_keys: tuple[str, ...]
    description: str
    render: Callable[..., list[VideoRecord]] | None = None


_FORMATS: dict[str, DatasetFormat] = {f.name: f for f in (
    DatasetFormat("ubfc-rppg", scan_ubfc, (), "UBFC-rPPG DATASET_2 (subject*/vid.avi + ground_truth.txt) "
                  "and DATASET_1 (*/vid.avi + gtdump.xmp)"),
    DatasetFormat("pure", scan_pure, ("setup",), "PURE: XX-YY/Image<ns>.png + XX-YY.json"),
    DatasetFormat("mmpd", scan_mmpd, MMPD_FIELDS, "MMPD: subject*/p*_*.mat"),
    DatasetFormat("vipl-hr", scan_vipl, ("scenario", "source"),
                  "VIPL-HR: p*/v*/source*/video.avi + wave.csv [+ time.txt, gt_HR.csv]"),
    DatasetFormat("generic", scan_generic, (), "any video or image folder + a CSV with time and PPG columns "
                  "(missing_labels=unlabeled keeps a video without CSV, unlabeled)"),
    DatasetFormat("videos", scan_videos, (), "any folder of videos or image folders, searched recursively, "
                  "no labels (for self-supervised pretraining)"),
    DatasetFormat("synthetic", scan_synthetic, (), "videos of sspd's generator: rendered on the fly (no root) "
                  "or written by sspd synth (subject*/vid.avi + ground_truth.txt + synthetic.json)",
                  render=render_synthetic),
)}


def list_datasets() -> list[str]:
    """The registered dataset names."""
    return sorted(_FORMATS)


def get_format(name: str) -> DatasetFormat:
    """The registered layout called ``name``; ValueError listing the valid names otherwise."""
    key = name.strip().lower()
    if key not in _FORMATS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}")
    return _FORMATS[key]


def _check_options(fmt: DatasetFormat, reader: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Every option is a keyword of ``reader`` (the format's scan or render)."""
    valid = [p for p in inspect.signature(reader).parameters if p != "root"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        common = [k for k in ("filters", "subjects", "on_error") if k not in valid]
        raise ValueError(f"unknown option(s) {unknown} for dataset {fmt.name}; valid options: "
                         f"{', '.join(valid + common)}")


def _keep_subjects(items: list, subjects: Sequence[Any] | None) -> list:
    """The pending records or records (anything with ``.subject``) of the wanted subjects."""
    if subjects is None:
        return items
    wanted = {normalise_id(s) for s in subjects}
    return [item for item in items if normalise_id(item.subject) in wanted]


def _render(fmt: DatasetFormat, *, filters: dict[str, Any], subjects: Any,
            options: dict[str, Any]) -> RecordList:
    """The records a format makes without a folder; ``subjects`` and every option are its render's."""
    given = {**({"subjects": subjects} if subjects is not None else {}), **options}
    _check_options(fmt, fmt.render, given)
    check_filter_keys(filters, fmt.filter_keys, dataset=fmt.name)
    records = RecordList(fmt.render(**given), dataset=fmt.name, root=None)
    return _apply_late_filters(records, filters, None)


def open_dataset(name: str, root: str | Path | None = None, *, filters: Mapping[str, Any] | None = None,
                 subjects: Sequence[Any] | None = None, on_error: str = "collect",
                 **options: Any) -> RecordList:
    """Open a dataset folder as a list of :class:`~sspd.data.records.VideoRecord`.

    Args:
        name: one of :func:`list_datasets` (``ubfc-rppg``, ``pure``, ``mmpd``, ``vipl-hr``, ``generic``,
            ``videos`` (unlabeled), ``synthetic``).
        root: the dataset folder; ``None`` for a format that renders its records (``synthetic``).
        filters: metadata filters, key -> accepted value or list of values, e.g.
            ``{"motion": ["Stationary"], "light": ["LED-high"]}`` for MMPD, ``{"setup": [1, 2]}`` for PURE.
        subjects: keep only these subject ids (before loading, so others cost nothing). With no root
            it is the format's render option: for ``synthetic``, the number of subjects to render.
        on_error: ``"collect"`` (broken videos become ``.failures``) or ``"raise"``.
        **options: the format's own options (see each reader's ``scan_*``), e.g. ``setups=[1, 2]`` for
            PURE, ``version=2`` for UBFC-rPPG, ``video=``/``labels=``/``fps=`` for generic; with no root,
            the render's (``seconds=``, ``fps=``, ``size=``, ``seed=``, ``config=`` for synthetic).

    Raises:
        ValueError: unknown name, option or filter key; a root matching no known layout; filters or
            ``subjects`` that match no video. FileNotFoundError: ``root`` does not exist.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    fmt = get_format(name)
    filters = dict(filters or {})
    if root is None and fmt.render is not None:
        return _render(fmt, filters=filters, subjects=subjects, options=options)
    if root is None:
        raise ValueError(f"dataset {fmt.name} needs root= (the dataset folder: {fmt.description})")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such dataset folder for {fmt.name}")
    _check_options(fmt, fmt.scan, options)
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
