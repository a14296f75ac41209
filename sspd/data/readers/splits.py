"""Subject-wise splits and metadata filters over loaded records.

Splits are always by subject, so no subject's videos land in two parts. Subject ids and filter values
are compared after normalisation: surrounding space and case are ignored and numbers compare as numbers
(``1``, ``"1"`` and ``"01"`` are the same subject; skin colour ``3`` matches ``"3"``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from sspd.data.readers.frames import natural_key
from sspd.data.records import VideoRecord

__all__ = ["NAMED_SPLITS", "SubjectSplit", "split_subjects", "filter_records", "normalise_id",
           "matches_filters", "check_filter_keys"]

log = logging.getLogger(__name__)

_PARTS = ("train", "val", "test")

# The common UBFC-rPPG DATASET_2 protocol (42 subjects): 30 train, 12 test.
NAMED_SPLITS: dict[str, dict[str, tuple[int, ...]]] = {
    "ubfc-paper": {
        "train": (1, 3, 4, 5, *range(8, 19), 20, *range(22, 28), *range(30, 38)),
        "test": tuple(range(38, 50)),
    },
}


def normalise_id(value: Any) -> str:
    """Comparable form of a subject id or filter value: stripped, case-folded, numbers as numbers."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.casefold()
    return str(int(number)) if number.is_integer() else repr(number)


@dataclass
class SubjectSplit:
    """Records split by subject into ``train``, ``val`` and ``test`` (each a list, possibly empty)."""

    train: list[VideoRecord] = field(default_factory=list)
    val: list[VideoRecord] = field(default_factory=list)
    test: list[VideoRecord] = field(default_factory=list)

    def subjects(self, part: str) -> list[str]:
        """The distinct subject ids of ``part`` (``"train"``, ``"val"`` or ``"test"``), sorted."""
        return sorted({r.subject for r in getattr(self, part)}, key=natural_key)

    def as_dict(self) -> dict[str, list[VideoRecord]]:
        return {part: getattr(self, part) for part in _PARTS}


def _assign_fractions(subjects: list[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """subject key -> part, shuffling subjects with ``seed`` and cutting at the cumulative fractions."""
    bad = {k: v for k, v in fractions.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"split fractions must lie in [0, 1], got {bad}")
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1 so that no subject is left out, got {fractions} "
                         f"(sum {sum(fractions.values()):.4g})")
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    cuts = np.round(np.cumsum([fractions[p] for p in fractions]) * len(order)).astype(int)
    assignment, start = {}, 0
    for part, stop in zip(fractions, cuts):
        if fractions[part] > 0 and stop == start:
            raise ValueError(f"{part}={fractions[part]} of {len(order)} subjects rounds to no subject; "
                             "use a larger fraction, fewer parts or more subjects")
        assignment.update({s: part for s in order[start:stop]})
        start = stop
    return assignment


def _assign_lists(subjects: list[str], lists: dict[str, Sequence[Any]]) -> dict[str, str]:
    """subject key -> part from explicit subject lists; a subject in two parts is an error."""
    assignment: dict[str, str] = {}
    for part, ids in lists.items():
        for key in map(normalise_id, ids):
            if key in assignment and assignment[key] != part:
                raise ValueError(f"subject {key!r} is listed in both {assignment[key]} and {part}")
            assignment[key] = part
    absent = sorted(set(assignment) - set(subjects), key=natural_key)
    if absent:
        log.warning("split lists subjects not in the records (missing or failed to load): %s", absent)
    return assignment


def _resolve_parts(split: str | None, parts: dict[str, Any]) -> dict[str, Any]:
    given = {p: v for p, v in parts.items() if v is not None}
    if split is None:
        if not given:
            raise ValueError("give split= (one of " + ", ".join(NAMED_SPLITS) + ") or train=/val=/test= "
                             "as fractions or subject lists")
        return given
    if given:
        raise ValueError(f"split={split!r} already defines the parts; do not also pass {sorted(given)}")
    if split not in NAMED_SPLITS:
        raise ValueError(f"unknown split {split!r}; named splits: {sorted(NAMED_SPLITS)}")
    return dict(NAMED_SPLITS[split])


def split_subjects(records: Iterable[VideoRecord], *, train: float | Sequence[Any] | None = None,
                   val: float | Sequence[Any] | None = None, test: float | Sequence[Any] | None = None,
                   seed: int = 0, split: str | None = None) -> SubjectSplit:
    """Split records by subject.

    Args:
        records: loaded records (e.g. from :func:`open_dataset`).
        train, val, test: all fractions (summing to 1; subjects shuffled deterministically by ``seed``)
            or all subject lists (ids as ints or str; subjects in no list are left out, logged).
        seed: shuffle seed for fractions.
        split: a named split instead, e.g. ``"ubfc-paper"`` (UBFC-rPPG: subjects 1, 3, 4, 5, 8-18, 20,
            22-27, 30-37 train; 38-49 test).

    Raises:
        ValueError: mixed fractions and lists, fractions not summing to 1, a requested part that ends up
            with no subject, a subject in two lists, an unknown named split.
    """
    records = list(records)
    parts = _resolve_parts(split, {"train": train, "val": val, "test": test})
    kinds = {isinstance(v, (int, float)) and not isinstance(v, bool) for v in parts.values()}
    if len(kinds) > 1:
        raise ValueError(f"give train/val/test all as fractions or all as subject lists, got {parts}")
    subjects = sorted({normalise_id(r.subject) for r in records}, key=natural_key)
    if not subjects:
        raise ValueError("no records to split")
    assign = (_assign_fractions(subjects, {p: float(v) for p, v in parts.items()}, seed) if kinds == {True}
              else _assign_lists(subjects, parts))
    out = SubjectSplit()
    for record in records:
        part = assign.get(normalise_id(record.subject))
        if part is not None:
            getattr(out, part).append(record)
    empty = [p for p in parts if not getattr(out, p)]
    if empty:
        raise ValueError(f"the split leaves {empty} with no records; check the subject ids against "
                         f"the records' subjects {subjects}")
    left_out = len(records) - sum(len(v) for v in out.as_dict().values())
    if left_out:
        log.info("split: %d records of subjects in no part are left out", left_out)
    return out


def check_filter_keys(filters: Mapping[str, Any], valid_keys: Sequence[str], *, dataset: str) -> None:
    """Raise ValueError for a filter key the dataset does not have, listing the valid ones."""
    unknown = sorted(set(filters) - set(valid_keys))
    if unknown:
        valid = ", ".join(valid_keys) if valid_keys else "none (this format has no metadata filters)"
        raise ValueError(f"unknown filter key(s) {unknown} for {dataset}; valid keys: {valid}")


def _wanted(value: Any) -> set[str]:
    values = [value] if isinstance(value, (str, int, float)) else list(value)
    return {normalise_id(v) for v in values}


def matches_filters(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """True when, for every key, the metadata value is one of the wanted values."""
    return all(key in metadata and normalise_id(metadata[key]) in _wanted(want)
               for key, want in filters.items())


def filter_records(records: Iterable[VideoRecord], filters: Mapping[str, Any]) -> list[VideoRecord]:
    """Keep the records whose metadata match every filter (a value or a list of accepted values).

    A wanted value that no record has is logged as a warning listing the values present, so a typo
    does not pass silently; keys are checked by :func:`open_dataset` against the format's filter keys.
    """
    records = list(records)
    for key, want in filters.items():
        present = {normalise_id(r.metadata[key]) for r in records if key in r.metadata}
        unseen = sorted(_wanted(want) - present)
        if unseen:
            log.warning("filter %s: no record has %s; values present: %s", key, unseen, sorted(present))
    return [r for r in records if matches_filters(r.metadata, filters)]
