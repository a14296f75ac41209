"""One writer per output folder: an advisory lock on a file in it (``OUT/.sspd-preprocess.lock`` for a
preprocessing cache, :func:`cache_lock`; ``RUN_DIR/.sspd-pretrain.lock`` for a pretraining run, through
:func:`folder_lock`).

The lock is ``flock`` on an open file, so the operating system drops it when its holder exits (a
killed run never leaves a stale lock). The file records who holds it (pid, host, start time), which is
what a second run reports. On systems without ``fcntl`` (Windows) no lock is taken.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator

__all__ = ["LOCK_FILE", "CacheBusyError", "cache_lock", "folder_lock"]

log = logging.getLogger(__name__)

LOCK_FILE = ".sspd-preprocess.lock"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


class CacheBusyError(RuntimeError):
    """Another process holds the lock of an output folder (a cache, a run directory)."""


def _holder(path: Path) -> str:
    """Who holds the lock, as its file records it."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']}, started {info['started_utc']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it left no details)"


@contextlib.contextmanager
def cache_lock(out_dir: Path) -> Iterator[None]:
    """Hold the preprocessing lock of ``out_dir`` for the block.

    Raises:
        CacheBusyError: another process holds it (naming the process and the lock file).
    """
    with folder_lock(out_dir, name=LOCK_FILE, command="sspd preprocess", where="--out"):
        yield


@contextlib.contextmanager
def folder_lock(directory: Path, *, name: str, command: str, where: str) -> Iterator[None]:
    """Hold the lock file ``directory/name`` for the block: one ``command`` writes into ``directory`` at a time.

    Args:
        name: the lock file's name; command: who takes it ("sspd pretrain"), for the messages; where: how
            the user names the folder ("--out", "run_dir"), for the fix.

    Raises:
        CacheBusyError: another process holds it (naming the process and the lock file).
    """
    path = Path(directory) / name
    if fcntl is None:
        log.info("no file locking on this system: make sure only one %s writes into %s", command, directory)
        yield
        return
    fh = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheBusyError(f"{directory} is being written by another {command} ({_holder(path)}; lock "
                                 f"{path}): wait for it to finish, or use another {where}") from None
        except OSError as err:  # a file system without locks (some network mounts): carry on unlocked
            log.warning("%s: cannot lock (%s); make sure only one %s writes into %s", path, err, command,
                        directory)
        fh.seek(0)
        fh.truncate()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                   "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, fh)
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock
