"""Preprocessing: dataset records → the face-crop cache (layout in :mod:`sspd.data.cache`).

Per video, frames are streamed from the reader through the face cropper straight into ``frames.npy``
(a few frames in memory, never the whole video); the label, frame times, boxes and per-frame metadata
follow, then the manifest. Everything is written into a hidden partial folder that is renamed into place
when complete, and the manifest goes last, so an interrupted run never leaves a video that looks done.
A video whose manifest matches its source and the configuration is skipped: rerunning after an
interruption finishes only what is missing. Videos run in parallel in worker processes; one that fails
is reported (file and reason) in the summary, and the others carry on. Nothing is dropped silently.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

import sspd
from sspd.data.cache import (ARRAY_FILES, CACHE_FORMAT, MANIFEST, OWNER_MARK, PARTIAL_MARK, SUMMARY,
                             arrays_complete, child_path, fingerprint_source, jsonable, read_manifest,
                             remove_video_folder, write_json_atomic)
from sspd.data.cache_lock import cache_lock
from sspd.data.face import FaceCropper, FaceCrops
from sspd.data.preprocess_config import PreprocessConfig, default_workers
from sspd.data.preprocess_summary import PreprocessSummary, VideoResult, failure_result, reader_failure
from sspd.data.records import VideoRecord
from sspd.files import check_folder, claim_folder
from sspd.signal import check_fs

__all__ = ["preprocess_video", "preprocess_dataset", "is_cached", "CACHE_OUTPUTS", "check_cache_folder"]

log = logging.getLogger(__name__)

Progress = Callable[[VideoResult], None]


def is_cached(record: VideoRecord, out_dir: str | Path, config: PreprocessConfig) -> bool:
    """Whether ``out_dir`` holds a complete cache of ``record`` made from the same source and settings, with
    every array as long as the manifest says (a truncated file is not a cache)."""
    folder = child_path(Path(out_dir), record.name)
    try:
        manifest = read_manifest(folder)
    except ValueError as err:  # a corrupt manifest is a stale cache: redo the video
        log.warning("%s", err)
        return False
    if (manifest is None or manifest.get("format") != CACHE_FORMAT
            or manifest.get("config_hash") != config.config_hash()):
        return False
    if manifest.get("source", {}).get("fingerprint") != fingerprint_source(record)["fingerprint"]:
        return False
    return arrays_complete(folder, manifest)


class _FrameLimit:
    """Calls ``read_frames`` and yields at most ``limit`` frames; ``beyond`` tells whether more existed."""

    def __init__(self, read_frames: Callable[[], Iterator[np.ndarray]], limit: int):
        self.read_frames, self.limit, self.beyond = read_frames, limit, False

    def __call__(self) -> Iterator[np.ndarray]:
        for t, frame in enumerate(self.read_frames()):
            if t >= self.limit:
                self.beyond = True
                return
            yield frame


def _write_crops(path: Path, crops: FaceCrops, *, n_frames: int, size: int) -> tuple[int, np.ndarray]:
    """Stream crops into a (T, S, S, 3) uint8 ``.npy`` sized for ``n_frames``; shrink it if fewer came.

    Written through a file handle, not a memory map: the pages a map writes stay resident, so a long video
    would grow the process by its whole crop array; readers memory-map the finished file.

    Returns (frames written, (n_frames, 4) int32 boxes)."""
    boxes = np.zeros((n_frames, 4), dtype=np.int32)
    header = {"descr": "|u1", "fortran_order": False, "shape": (n_frames, size, size, 3)}
    count = 0
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        offset = fh.tell()
        for count, (crop, box) in enumerate(crops, start=1):
            fh.write(np.ascontiguousarray(crop, dtype=np.uint8).data)  # (S, S, 3)
            boxes[count - 1] = box
        if count < n_frames:  # numpy pads the header so the length of axis 0 can change in place
            fh.seek(0)
            np.lib.format.write_array_header_1_0(fh, {**header, "shape": (count, size, size, 3)})
            if fh.tell() != offset:
                raise RuntimeError(f"{path}: the .npy header changed length when shrinking it")
            fh.truncate(offset + count * size * size * 3)
        fh.flush()
        os.fsync(fh.fileno())
    return count, boxes


def _check_length(record: VideoRecord, decoded: int, config: PreprocessConfig) -> list[str]:
    """Apply the missing-frame policy; returns notes for the manifest."""
    expected = record.n_frames
    if decoded >= expected:
        return []
    message = (f"{record.source}: {decoded} frames decoded but the record has {expected} "
               f"(labels and timestamps for {expected})")
    if config.missing_frames == "error":
        raise ValueError(f"{message}; missing_frames='error'. Use missing_frames='trim' to keep the decoded frames")
    if expected - decoded > config.max_missing_fraction * expected:
        raise ValueError(f"{message}: more than {config.max_missing_fraction:.0%} missing, the video is "
                         "truncated or corrupt; raise max_missing_fraction to keep it anyway")
    log.warning("%s; trimmed to %d frames", message, decoded)
    return [f"trimmed: {expected - decoded} of {expected} frames missing at the end"]


def _check_record(record: VideoRecord) -> None:
    if record.n_frames < 1:
        raise ValueError(f"{record.source}: the record has no frames")
    check_fs(record.fps, name=f"{record.source}: fps")
    if record.ppg is None:  # an unlabeled video: nothing more to check
        return
    ppg = np.asarray(record.ppg)
    if ppg.shape != (record.n_frames,):
        raise ValueError(f"{record.source}: label shape {ppg.shape} does not match {record.n_frames} frames")
    if not np.isfinite(ppg).all():
        raise ValueError(f"{record.source}: NaN or inf in the aligned label at frame "
                         f"{int(np.flatnonzero(~np.isfinite(ppg))[0])}")


def _write_side_arrays(folder: Path, record: VideoRecord, boxes: np.ndarray, n: int) -> tuple[dict, dict]:
    """Save label (when the record has one), frame times, boxes and per-frame metadata (first ``n``
    frames); returns the ``files`` map of the manifest and the metadata that stays in the JSON."""
    arrays = {"frame_times": np.asarray(record.frame_times, dtype=np.float64)[:n],  # (T,)
              "boxes": boxes[:n]}  # (T, 4)
    if record.labelled:
        arrays["label"] = np.asarray(record.ppg, dtype=np.float32)[:n]  # (T,)
    files = {"frames": ARRAY_FILES["frames"]}
    scalar_meta = {}
    for key, value in record.metadata.items():
        if (isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim >= 1
                and len(value) == record.n_frames):
            arrays[f"meta_{key}"] = value[:n]
        else:
            scalar_meta[key] = value
    for key, arr in arrays.items():
        name = ARRAY_FILES.get(key, f"{key}.npy")
        np.save(folder / name, np.ascontiguousarray(arr))
        files[key] = name
    return files, scalar_meta


def _remove_stale(out_dir: Path, name: str) -> None:
    """Remove a video's outdated cache before redoing it, so a failure never leaves data from another
    source or configuration behind; a folder sspd did not write raises instead (see
    :func:`sspd.data.cache.remove_video_folder`)."""
    if child_path(out_dir, name).exists():
        log.info("%s is out of date (other source or settings, or incomplete): redoing it", out_dir / name)
        remove_video_folder(out_dir, name)


def _commit(tmp: Path, out_dir: Path, name: str, manifest: dict[str, Any]) -> None:
    """Move a complete partial folder into place (replacing a stale one), then write the manifest."""
    remove_video_folder(out_dir, name)
    final = child_path(out_dir, name)
    os.replace(tmp, final)
    write_json_atomic(final / MANIFEST, manifest)


def preprocess_video(record: VideoRecord, out_dir: str | Path, config: PreprocessConfig, *,
                     cropper: FaceCropper | None = None) -> VideoResult:
    """Cache one video, or skip it if its cache is up to date (see :func:`is_cached`).

    Args:
        record: the video and its aligned label.
        out_dir: the cache folder.
        config: crop and frame-count settings (dataset/root/workers are not used here).
        cropper: a ready cropper (e.g. with an injected detector); default one built from ``config``.

    Returns:
        a :class:`VideoResult` with status ``done`` or ``skipped``.

    Raises:
        ValueError / OSError: bad input (unreadable video, NaN label, no face with no_face='error', too
            many frames missing); nothing of the video is left in the cache then (an outdated cache of it
            is removed before it is redone).
    """
    out_dir, start = Path(out_dir), time.perf_counter()
    if is_cached(record, out_dir, config):
        return VideoResult(name=record.name, source=str(record.source), status="skipped",
                           n_frames=int(read_manifest(out_dir / record.name)["n_frames"]))
    _remove_stale(out_dir, record.name)
    _check_record(record)
    cropper = cropper or FaceCropper(**config.crop_options())
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = child_path(out_dir, f".{record.name}{PARTIAL_MARK}{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        (tmp / OWNER_MARK).write_text(f'{{"format": {CACHE_FORMAT}}}\n', encoding="utf-8")
        manifest = _write_video(record, tmp, config, cropper, start)
        _commit(tmp, out_dir, record.name, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return VideoResult(name=record.name, source=str(record.source), status="done",
                       n_frames=manifest["n_frames"], face=manifest["face"], notes=manifest["notes"],
                       seconds=manifest["seconds"])


def _write_video(record: VideoRecord, tmp: Path, config: PreprocessConfig, cropper: FaceCropper,
                 start: float) -> dict[str, Any]:
    frames = _FrameLimit(record.read_frames, record.n_frames)
    crops = cropper.crop(frames, source=str(record.source))
    decoded, boxes = _write_crops(tmp / ARRAY_FILES["frames"], crops, n_frames=record.n_frames,
                                  size=config.size)
    reader_notes = record.metadata.get("notes", [])  # what the reader noticed (e.g. a repeated timestamp)
    notes = [*(reader_notes if isinstance(reader_notes, list) else []), *_check_length(record, decoded, config)]
    if frames.beyond:
        kind = "labelled" if record.labelled else "probed"
        notes.append(f"the video has more frames than its {record.n_frames} {kind} ones; those were not cached")
        log.warning("%s: %s", record.source, notes[-1])
    stats = crops.stats.as_dict()
    if stats["reused"] or stats["centre"]:
        notes.append(f"no face box for {stats['reused'] + stats['centre']} of {stats['frames']} frames "
                     f"({stats['reused']} reused, {stats['centre']} centred)")
    files, metadata = _write_side_arrays(tmp, record, boxes, decoded)
    return {"format": CACHE_FORMAT, "sspd_version": sspd.__version__, "name": record.name,
            "subject": record.subject, "session": record.session, "fps": float(record.fps),
            "labelled": record.labelled,
            "n_frames": decoded, "n_frames_expected": record.n_frames, "source": fingerprint_source(record),
            "config": config.output_options(), "config_hash": config.config_hash(), "face": stats,
            "files": files, "notes": notes, "metadata": jsonable(metadata),
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.perf_counter() - start, 3)}


def _run_record(record: VideoRecord, out_dir: Path, config: PreprocessConfig) -> VideoResult:
    """One video in a worker: any error becomes a failed result, so one bad video never stops the rest."""
    start = time.perf_counter()
    try:
        return preprocess_video(record, out_dir, config)
    except (ValueError, OSError) as err:
        log.warning("failed %s (%s): %s", record.name, record.source, err)
        return failure_result(record.name, str(record.source), err, seconds=time.perf_counter() - start)
    except Exception as err:  # a bug, but still reported per video in the summary, with its type
        log.error("failed %s (%s)", record.name, record.source, exc_info=True)
        return failure_result(record.name, str(record.source), err, seconds=time.perf_counter() - start)


def _init_worker() -> None:
    import cv2  # one OpenCV thread per worker process: the pool already uses the cores

    cv2.setNumThreads(1)


def _check_names(records: Sequence[VideoRecord]) -> tuple[list[VideoRecord], list[VideoResult]]:
    """(the records whose names can be cache folders, a failed result for each of the others).

    Raises:
        ValueError: two records share a name (naming both sources).
    """
    seen: dict[str, VideoRecord] = {}
    refused = []
    for record in records:
        try:
            name = record.name
        except ValueError as err:
            log.warning("failed %s: %s", record.source, err)
            refused.append(failure_result(repr(record.subject), str(record.source), err))
            continue
        if name in seen:
            raise ValueError(f"two videos share the cache name {name!r}: {seen[name].source} and "
                             f"{record.source}; give them distinct subject/session")
        seen[name] = record
    return list(seen.values()), refused


def _remove_partials(out_dir: Path) -> None:
    """Delete the partial folders an interrupted run left (only those it marked as its own, or empty)."""
    for folder in out_dir.glob(f".*{PARTIAL_MARK}*"):
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            log.info("removing %s, left by an interrupted run", folder)
            remove_video_folder(out_dir, folder.name)
        except ValueError as err:
            log.warning("%s", err)


def _serial_reason(records: Sequence[VideoRecord], workers: int) -> str:
    """Why the videos run in this process ('' when a pool is used)."""
    if workers <= 1 or len(records) <= 1:
        return "one worker" if workers <= 1 else "one video"
    try:
        pickle.dumps(records[0])
    except Exception as err:  # e.g. a reader whose frames callable is a lambda
        reason = f"records cannot be sent to worker processes ({type(err).__name__}: {err})"
        log.warning("running serially: %s; make the record's frames callable picklable "
                    "(a functools.partial of a module-level function)", reason)
        return reason
    return ""


def _run_serial(todo: Sequence[VideoRecord], out_dir: Path, config: PreprocessConfig) -> Iterator[VideoResult]:
    for record in todo:
        yield _run_record(record, out_dir, config)


def _run_pool(todo: Sequence[VideoRecord], out_dir: Path, config: PreprocessConfig,
              workers: int) -> Iterator[VideoResult]:
    """Videos in worker processes (spawned: no fork of a process holding OpenCV/BLAS threads), results in
    completion order. On interruption the queued videos are cancelled; the running ones finish or leave
    only partial folders behind."""
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn"),
                               initializer=_init_worker)
    futures: dict[Future, VideoRecord] = {pool.submit(_run_record, r, out_dir, config): r for r in todo}
    try:
        for future in as_completed(futures):
            yield _result_of(future, futures[future])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result_of(future: Future, record: VideoRecord) -> VideoResult:
    try:
        return future.result()
    except BrokenProcessPool as err:
        reason = RuntimeError(f"the worker process died ({err}): out of memory or a crash in a native "
                              "library; rerun with --workers 1 to see it")
        return failure_result(record.name, str(record.source), reason)
    except Exception as err:  # e.g. the record could not be sent to the worker
        return failure_result(record.name, str(record.source), err)


#: the names sspd preprocess writes at the top of a cache folder (the CLI adds preprocess.yaml)
CACHE_OUTPUTS = (SUMMARY, "preprocess.yaml")


def _made_by_sspd(out_dir: Path) -> bool:
    """Whether a folder without the owner mark is a cache an older sspd made: its summary.json is a
    preprocessing summary, or a video folder in it carries the cache's mark or manifest."""
    try:
        summary = json.loads((out_dir / SUMMARY).read_text(encoding="utf-8"))
        if isinstance(summary, dict) and {"config_hash", "results"} <= set(summary):
            return True
    except (OSError, ValueError):
        pass
    return any((child / OWNER_MARK).is_file() or (child / MANIFEST).is_file()
               for child in out_dir.iterdir() if child.is_dir())


def check_cache_folder(out_dir: str | Path) -> None:
    """Refuse, writing nothing, a cache folder that holds files sspd preprocess did not write.

    Raises:
        ValueError: naming the files (or the command that owns the folder) and the fix.
    """
    check_folder(out_dir, "preprocess", outputs=CACHE_OUTPUTS, where="--out", legacy=_made_by_sspd)


def preprocess_dataset(records: Sequence[VideoRecord], out_dir: str | Path, config: PreprocessConfig, *,
                       workers: int | None = None, progress: Progress | None = None, limit: int | None = None,
                       failures: Sequence[Any] | None = None) -> PreprocessSummary:
    """Cache every record's face crops and label; skip the up-to-date ones; report every failure.

    Args:
        records: the videos, e.g. ``open_dataset(...)``; a list with a ``failures`` attribute (the reader's
            broken videos) has those reported in the summary too.
        out_dir: the cache folder (created).
        config: the crop settings (its dataset/root/out fields are not used here).
        workers: worker processes; default ``config.workers`` or min(4, CPUs). 1 runs in this process.
            Parallel runs need picklable records (the readers' are); otherwise they run here, and the
            summary says why.
        progress: called in this process with each video's :class:`VideoResult` as it finishes.
        limit: process at most this many of the videos that need work; the rest stay ``pending``.
        failures: reader failures to report (objects with ``name``/``source``/``message``, or exceptions);
            default ``records.failures`` when present.

    Returns:
        the :class:`PreprocessSummary`, also written to ``out_dir/summary.json`` (even when interrupted).

    Raises:
        ValueError: two records with the same name; ``out_dir`` holds files preprocessing did not write
            (:func:`check_cache_folder`). CacheBusyError: another process is preprocessing into
            ``out_dir`` (the message names it). Failures of single videos never raise.
    """
    out_dir = Path(out_dir)
    failures = list(getattr(records, "failures", ()) if failures is None else failures)
    records, refused = _check_names(list(records))
    claim_folder(out_dir, "preprocess", outputs=CACHE_OUTPUTS, where="--out", legacy=_made_by_sspd)
    with cache_lock(out_dir):
        summary = PreprocessSummary(out_dir=str(out_dir), config_hash=config.config_hash(),
                                    config=config.to_dict(), results=[reader_failure(f) for f in failures] + refused)
        _remove_partials(out_dir)
        _run_all(records, out_dir, config, summary, workers=workers, progress=progress, limit=limit)
    return summary


def _run_all(records: Sequence[VideoRecord], out_dir: Path, config: PreprocessConfig, summary: PreprocessSummary,
             *, workers: int | None, progress: Progress | None, limit: int | None) -> None:
    """Skip the cached videos, run the others, write ``summary.json`` (also when interrupted)."""
    start = time.perf_counter()
    todo = _skip_cached(records, out_dir, config, summary, progress)
    if limit is not None:
        todo, summary.pending = todo[:limit], [r.name for r in todo[limit:]]
    workers = int(workers or config.workers or default_workers())
    summary.serial_reason = _serial_reason(todo, workers)
    runner = _run_serial(todo, out_dir, config) if summary.serial_reason else _run_pool(todo, out_dir, config, workers)
    try:
        for result in runner:
            summary.results.append(result)
            _report(progress, result)
    except BaseException:  # interrupted (Ctrl-C, or the progress callback raised): record what is left
        finished = {r.name for r in summary.results}
        summary.interrupted = True
        summary.pending = [r.name for r in todo if r.name not in finished] + summary.pending
        raise
    finally:
        runner.close()
        summary.seconds = round(time.perf_counter() - start, 3)
        write_json_atomic(out_dir / SUMMARY, summary.to_dict())


def _skip_cached(records: Sequence[VideoRecord], out_dir: Path, config: PreprocessConfig,
                 summary: PreprocessSummary, progress: Progress | None) -> list[VideoRecord]:
    """Report the up-to-date videos as skipped; return the others."""
    todo = []
    for record in records:
        if not is_cached(record, out_dir, config):
            todo.append(record)
            continue
        n_frames = int(read_manifest(out_dir / record.name)["n_frames"])
        summary.results.append(VideoResult(name=record.name, source=str(record.source), status="skipped",
                                           n_frames=n_frames))
        _report(progress, summary.results[-1])
    return todo


def _report(progress: Progress | None, result: VideoResult) -> None:
    if progress is not None:
        progress(result)
