"""Owns writing a file as a spreadsheet user expects: whole or not at all, with the mode people expect, never
while a spreadsheet program has it open, and never cut short by the process's own hard exit.

- A file is written to a temporary file beside it and renamed over it. A new file gets the mode the umask gives
  (0644 under 022, as any program's new file would), not mkstemp's 0600; a rewritten file keeps its mode and,
  where the user may set it, its owner and group.
- Lock files of spreadsheet programs mean a person has the file open: Excel's `~$NAME`, LibreOffice's
  `.~lock.NAME#`. The sync stops and says so rather than write under them.
- `WRITING` is held for the whole of a write and its rename. The hard-exit timer of a stop signal takes it before
  it exits, so a process never dies in the middle of a file write, and no temporary file survives a stop. A
  temporary file left by a process killed outright (SIGKILL, power loss) is removed by the next write, which holds
  the file's lock, so it cannot be another writer's.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import SinkError

WRITING = threading.RLock()  # held while a file is written and renamed (or a file and its base): see above


def lock_files(path: Path) -> list[Path]:
    """The lock files a spreadsheet program keeps beside a file it has open."""
    return [path.with_name("~$" + path.name), path.with_name(".~lock." + path.name + "#")]


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """One writer at a time per file, across processes; a spreadsheet program's lock file means a person has it
    open."""
    for office_lock in lock_files(path):
        if office_lock.exists():
            raise SinkError(f"{path} is open in a spreadsheet program (its lock file {office_lock.name} exists).",
                            "Close the file; the next sync will write it.")
    lock_path = path.with_name("." + path.name + ".lock")
    try:
        fh = open(lock_path, "w")
    except OSError as exc:
        raise SinkError(f"Cannot create a lock file beside {path} ({exc.strerror}).",
                        "Make the folder writable for this user.") from exc
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SinkError(f"Another sync is writing {path} right now.", "Run one sync per file.") from None
        _remove_stale_temporaries(path)
        yield
    finally:
        fh.close()


def _temporary_prefix(path: Path) -> str:
    return "." + path.name + "."


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of this file that a killed process left behind (the caller holds the file's lock)."""
    prefix = _temporary_prefix(path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.unlink(path.parent / name)
            except OSError:
                pass


def new_file_mode() -> int:
    """The mode a new file gets under this process's umask (0644 under 022)."""
    mask = os.umask(0o022)  # the umask can only be read by setting it; it is put back at once
    os.umask(mask)
    return 0o666 & ~mask


def replace(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """write(file object) into a temporary file beside path, then rename it over path: path is whole, old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with WRITING:
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            _take_mode(tmp, path)
            os.replace(tmp, path)
        except PermissionError as exc:
            raise SinkError(f"{path} cannot be written ({exc.strerror}); is it open or read-only?",
                            "Close the file or fix its permissions; the next sync will write it.") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _take_mode(tmp: str, path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        os.chmod(tmp, new_file_mode())
        return
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except (PermissionError, AttributeError):
        pass  # another user's file: only its mode can be kept
    os.chmod(tmp, st.st_mode & 0o7777)
