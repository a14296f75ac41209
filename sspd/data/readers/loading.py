"""What a dataset reader returns: the loaded records plus a named failure for every broken one.

Readers work in two steps. A *scan* walks the dataset folder and returns one :class:`PendingRecord` per
video it finds (cheap: names and paths only); *loading* each one reads its label and probes its video.
A pending record that fails to load (missing or malformed label, unreadable or zero-frame video, label
not covering the video, NaN) becomes a :class:`LoadFailure`; the others become
:class:`~sspd.data.records.VideoRecord` objects. :func:`load_pending` collects both into a
:class:`RecordList`: a ``list`` of the good records whose ``failures`` attribute names the broken ones.
Nothing is dropped silently: every failure is also logged as a warning.

Consumers (the preprocessing cache) iterate the list and report ``records.failures`` in their summary:
each failure has ``source`` (the file or folder at fault), ``subject``, ``session``, ``name`` (the same
filesystem-safe name a record would have had), ``message`` (what is wrong and where) and ``error_type``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from sspd.data.label_checks import check_label_pulse
from sspd.data.records import VideoRecord, safe_name

__all__ = ["PendingRecord", "LoadFailure", "RecordList", "load_pending"]

log = logging.getLogger(__name__)

ON_ERROR = ("collect", "raise")


@dataclass(frozen=True)
class PendingRecord:
    """A video found by a scan but not loaded yet.

    Attributes:
        subject, session: as the record will have them (known from the path).
        source: the file or folder a failure will name.
        load: reads the label and probes the video; returns the record or raises ValueError/OSError.
        metadata: what the path already tells (e.g. PURE setup), so filters can apply before loading.
    """

    subject: str
    session: str
    source: Path
    load: Callable[[], VideoRecord] = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadFailure:
    """A video that could not be loaded, and why."""

    subject: str
    session: str
    source: Path
    message: str
    error_type: str

    @property
    def name(self) -> str:
        """The filesystem-safe name the record would have had (see ``VideoRecord.name``), or the raw name
        quoted when it names no folder (``.``, ``..``, empty)."""
        try:
            return safe_name(self.subject, self.session)
        except ValueError:
            return repr(f"{self.subject}_{self.session}" if self.session else self.subject)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class RecordList(list):
    """A list of :class:`VideoRecord` with the failures of the same load.

    Attributes:
        dataset: the registry name it was opened with.
        root: the dataset folder (``None`` for data rendered on the fly).
        failures: one :class:`LoadFailure` per video that could not be loaded.
    """

    def __init__(self, records: Iterable[VideoRecord] = (), *, dataset: str = "",
                 root: Path | None = None, failures: Iterable[LoadFailure] = ()) -> None:
        super().__init__(records)
        self.dataset = dataset
        self.root = root
        self.failures: list[LoadFailure] = list(failures)

    def summary(self) -> str:
        """One line per failure after a count line, for logs and CLI reports."""
        head = f"{self.dataset}: {len(self)} records loaded, {len(self.failures)} failed"
        return "\n".join([head] + [f"  {failure}" for failure in self.failures])

    def __repr__(self) -> str:
        return f"RecordList(dataset={self.dataset!r}, records={len(self)}, failures={len(self.failures)})"


def _fail(pending: PendingRecord, err: Exception) -> LoadFailure:
    failure = LoadFailure(subject=pending.subject, session=pending.session, source=pending.source,
                          message=str(err), error_type=type(err).__name__)
    log.warning("skipping %s (%s): %s", failure.name, pending.source, err)
    return failure


def _checked(record: VideoRecord) -> VideoRecord:
    """The record, its label checked for a pulse (a constant one is warned about, naming the file); an
    unlabeled record (no ppg) has nothing to check."""
    if record.ppg is None:
        return record
    source = record.metadata.get("label_file", record.source)
    record.metadata.setdefault("label_has_pulse", check_label_pulse(record.ppg, source=source))
    return record


def load_pending(pending: Iterable[PendingRecord], *, dataset: str, root: Path | None,
                 on_error: str = "collect") -> RecordList:
    """Load every pending record; broken ones become failures (``on_error="collect"``) or raise.

    Only bad-input errors (ValueError, OSError such as FileNotFoundError) are collected: anything else
    is a bug and propagates.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    out = RecordList(dataset=dataset, root=root)
    for item in pending:
        try:
            safe_name(item.subject, item.session)  # a name that cannot be a folder fails before loading
            out.append(_checked(item.load()))
        except (ValueError, OSError) as err:
            if on_error == "raise":
                raise
            out.failures.append(_fail(item, err))
    return out
