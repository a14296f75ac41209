"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half of one.

Every write goes to a temporary file in the destination's own directory (so the rename never crosses a
file system), is flushed and, by default, fsynced, then renamed over the destination with
``os.replace``; on any error the temporary file is removed and the destination is left as it was.
Temporary names are ``.{name}.<random>{suffix}``: hidden, and recognisable by their suffix (``.tmp``
unless told otherwise), so a tool can clean up what a SIGKILL mid-write left behind. The file gets the
mode a plain ``open(path, "w")`` would give it (0644 under the usual umask 022), not the private 0600 of a
temporary file.

Output folders are claimed (:func:`claim_folder`): a command writes only into a folder that is new, or
already its own (an :data:`OWNER_FILE` names it), or holds none of the names it writes; it never
overwrites a file it did not write.

This is the bottom layer of sspd: it imports nothing from the package.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

__all__ = ["TMP_SUFFIX", "atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json", "fsync_directory", "OWNER_FILE", "folder_owner", "check_folder", "claim_folder"]

#: Suffix of every temporary file written here unless the caller needs another (e.g. ``.avi`` for cv2).
TMP_SUFFIX = ".tmp"


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (POSIX); directories cannot be synced on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = TMP_SUFFIX, fsync: bool = True,
                sync_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for any writer (``torch.save``, numpy, cv2) to fill.

    On a clean exit the temporary file is fsynced (``fsync=True``) and renamed over ``path``; with
    ``sync_dir=True`` the directory is fsynced too, so the rename itself survives a power cut. On an
    exception the temporary file is removed and ``path`` keeps its old content.

    Args:
        path: the destination; its directory must exist.
        suffix: the temporary file's suffix, e.g. ``".tmp.avi"`` for a writer that picks the format
            from the extension.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)  # the writer opens the path itself
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it 0600: give it a plain open()'s mode
        yield tmp
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_directory(path.parent)


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], *, mode: str = "wb",
                 encoding: str | None = None, fsync: bool = True, sync_dir: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file opened with ``mode`` and rename it over ``path``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, fsync=False, sync_dir=sync_dir) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True,
                       sync_dir: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data), fsync=fsync, sync_dir=sync_dir)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text), mode="w", encoding=encoding, fsync=fsync)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, fsync: bool = True, **dump_options: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; ``dump_options`` go to :func:`json.dumps` (indent,
    sort_keys, default). The object is serialised before the temporary file is created, so an object
    that cannot be serialised leaves no file at all."""
    return atomic_write_text(path, json.dumps(obj, **dump_options), fsync=fsync)


# ------------------------------------------------------------------------------------ folder ownership
#: Written into every output folder a command of sspd claims: ``{"command": "pretrain"}``.
OWNER_FILE = ".sspd-owner.json"


def folder_owner(folder: str | os.PathLike) -> str | None:
    """The sspd command that claimed ``folder`` (its :data:`OWNER_FILE`), or None (none, or unreadable)."""
    try:
        value = json.loads((Path(folder) / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    command = value.get("command") if isinstance(value, dict) else None
    return command if isinstance(command, str) else None


def check_folder(folder: str | os.PathLike, command: str, *, outputs: Sequence[str], where: str,
                 legacy: Callable[[Path], bool] | None = None) -> bool:
    """Whether ``folder`` may take the files of ``sspd command``, writing nothing; True: it is already its own.

    A folder is the command's when its :data:`OWNER_FILE` names the command, or ``legacy(folder)`` says an
    sspd from before the mark made it. Any other folder that already holds one of the ``outputs`` (file or
    folder names the command writes) is refused, as is a folder another sspd command claimed.

    Args:
        where: how the user names the folder, for the message (``"--out"``, ``"run_dir"``).

    Raises:
        ValueError: ``folder`` is an existing file, is claimed by another command, or holds some of
            ``outputs`` that the command did not write (naming them).
    """
    folder = Path(folder)
    for part in (folder, *folder.parents):   # the folder, or one above it, may be an existing file
        if part.exists() and not part.is_dir():
            raise ValueError(f"{where} {folder}: {part} is an existing file, not a folder; pass a folder (it is "
                             "created when missing)")
        if part.exists():
            break
    if not folder.is_dir():
        return False
    owner = folder_owner(folder)
    if owner == command:
        return True
    if owner is not None:
        raise ValueError(f"{folder} is an output folder of sspd {owner}: sspd {command} would overwrite its "
                         f"files; choose another {where}")
    found = [name for name in outputs if os.path.lexists(folder / name)]
    if not found or (legacy is not None and legacy(folder)):
        return False
    raise ValueError(f"{folder} already holds {', '.join(found)}, which sspd {command} did not write and would "
                     f"overwrite: move them away or choose another {where}")


def claim_folder(folder: str | os.PathLike, command: str, *, outputs: Sequence[str], where: str,
                 legacy: Callable[[Path], bool] | None = None) -> Path:
    """Check ``folder`` (:func:`check_folder`), create it and mark it as ``sspd command``'s; returns it."""
    folder = Path(folder)
    if not check_folder(folder, command, outputs=outputs, where=where, legacy=legacy):
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / OWNER_FILE, {"command": command}, fsync=False)
    return folder
