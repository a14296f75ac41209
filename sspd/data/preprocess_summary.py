"""What a preprocessing run did: one :class:`VideoResult` per video (done / skipped / failed, with the
file and the reason), gathered in a :class:`PreprocessSummary` that is saved as ``summary.json``."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["VideoResult", "PreprocessSummary", "failure_result", "reader_failure", "STATUSES"]

STATUSES = ("done", "skipped", "failed")


@dataclass
class VideoResult:
    """The outcome for one video.

    Attributes:
        name: the cache name (``VideoRecord.name``).
        source: the video file or frame folder (what a failure names).
        status: ``done`` (cached now), ``skipped`` (already cached, up to date) or ``failed``.
        reason: for a failure, the error type and message (what is wrong, where, how to fix it).
        n_frames: frames cached.
        face: the face-crop statistics (:class:`sspd.data.face.FaceCropStats` as a dict).
        notes: what else happened (frames trimmed, frames without a face box, ...).
        seconds: wall time spent on it.
    """

    name: str
    source: str
    status: str
    reason: str = ""
    n_frames: int = 0
    face: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def failure_result(name: str, source: str, err: BaseException, *, seconds: float = 0.0) -> VideoResult:
    return VideoResult(name=name, source=source, status="failed", reason=f"{type(err).__name__}: {err}",
                       seconds=round(seconds, 3))


def reader_failure(failure: Any) -> VideoResult:
    """A failed result from a reader's failure record (``name``, ``source``, ``message``, ``error_type``,
    as :class:`sspd.data.readers.loading.LoadFailure`) or an exception."""
    if isinstance(failure, BaseException):
        return failure_result(str(getattr(failure, "filename", "") or "?"), str(failure), failure)
    kind = getattr(failure, "error_type", "") or "LoadError"
    return VideoResult(name=str(getattr(failure, "name", "?")), source=str(getattr(failure, "source", "?")),
                       status="failed", reason=f"{kind}: {getattr(failure, 'message', failure)}",
                       notes=["not loaded by the dataset reader"])


@dataclass
class PreprocessSummary:
    """Every video of a run and what happened to it.

    Attributes:
        out_dir: the cache folder.
        config_hash: the settings' hash (as in every manifest).
        config: the settings of the run (``PreprocessConfig.to_dict()``).
        results: one per video, reader failures first, then in completion order.
        pending: videos not attempted (``limit`` reached, or the run was interrupted).
        interrupted: the run stopped early (e.g. Ctrl-C); rerun to finish the pending videos.
        serial_reason: why the videos ran in the calling process ('' when a worker pool was used).
        seconds: wall time of the run.
    """

    out_dir: str
    config_hash: str
    config: dict[str, Any] = field(default_factory=dict)
    results: list[VideoResult] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    interrupted: bool = False
    serial_reason: str = ""
    seconds: float = 0.0

    def with_status(self, status: str) -> list[VideoResult]:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[str]:
        return [r.name for r in self.with_status("done")]

    @property
    def skipped(self) -> list[str]:
        return [r.name for r in self.with_status("skipped")]

    @property
    def failed(self) -> list[VideoResult]:
        return self.with_status("failed")

    def to_dict(self) -> dict[str, Any]:
        counts = {status: len(self.with_status(status)) for status in STATUSES}
        return {**asdict(self), "counts": {**counts, "pending": len(self.pending)}}

    def format_report(self) -> str:
        """A plain-text report: counts, then every failure with its file and reason, then every video
        that had frames without a face box."""
        counts = self.to_dict()["counts"]
        lines = [f"{self.out_dir}: {counts['done']} done, {counts['skipped']} skipped (up to date), "
                 f"{counts['failed']} failed, {counts['pending']} pending ({self.seconds:.1f} s)"]
        if self.interrupted:
            lines.append("interrupted: run the same command again to finish the pending videos")
        if self.serial_reason and self.serial_reason not in ("one worker", "one video"):
            lines.append(f"ran in one process: {self.serial_reason}")
        lines += [f"FAILED {r.name} ({r.source}): {r.reason}" for r in self.failed]
        lines += [f"note {r.name}: {note}" for r in self.results if r.status == "done" for note in r.notes]
        return "\n".join(lines)
