"""A lock on an output folder while a run writes to it.

``fcntl.flock`` on ``DIR/.lock``: the kernel releases it when the process ends, however it
ends (SIGKILL included), so there is never a stale lock to clean up; the file itself may
stay. The lock file holds the holder's process id and command line, for the message a
second run gets.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from spikesim.errors import SpikesimError

__all__ = ["LOCK", "FolderLock", "RunLockedError", "lock_holder"]

LOCK = ".lock"


class RunLockedError(SpikesimError):
    """Another process is writing into the output folder."""


def lock_holder(folder: str | os.PathLike) -> str | None:
    """What holds ``folder``'s lock (``"pid N: command"``), or None when it is free.

    Reads only; creates nothing.
    """
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = Path(path).read_text(errors="replace").strip()
            return text or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class FolderLock:
    """Exclusive lock on an output folder (a context manager; reentrant per folder is not
    supported).

    Parameters
    ----------
    folder : path-like
        Created if missing.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise :class:`RunLockedError` at once (never waits)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = (self.folder / LOCK).read_text(errors="replace").strip()
            raise RunLockedError(
                f"{self.folder} is in use by another run ({holder or 'another process'}); "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
