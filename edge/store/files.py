"""The store's files on disk: owner-only modes, and access problems named for what they are.

A read-only file system, a file that belongs to another user and a missing file each need a different action
from the technician, so each gets its own message.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class AccessProblem(Exception):
    """The store's file cannot be used as asked; the message says why and what to do."""


def sidecars(path: Path) -> tuple[Path, Path]:
    """SQLite's write-ahead log and shared-memory index for the database at `path`."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def read_only_fs(path: Path) -> bool:
    """Whether the file system holding `path` (or its nearest existing parent) is mounted read-only."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_access(path: Path, write: bool) -> None:
    """Raise AccessProblem when the existing store at `path` cannot be read (or written, when `write`)."""
    if write and read_only_fs(path):
        raise AccessProblem(f"{path}: read-only file system (remount it read-write to record or deliver; "
                            "read commands such as `events stats` still work); the file was left untouched")
    if not os.access(path, os.R_OK | (os.W_OK if write else 0)):
        raise AccessProblem(f"{path}: permission denied (the store belongs to the service user: run this as that "
                            "user or with sudo); the file was left untouched")


def describe_os_error(path: Path, exc: OSError, doing: str) -> str:
    """One line for an OSError met while `doing` something with the store's files."""
    if exc.errno == errno.EROFS:
        return f"{path}: read-only file system ({doing})"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{path}: storage full ({doing})"
    return f"{path}: {doing}: {exc.strerror or exc}"


def give_to_dir_owner(fd: int, directory: Path) -> None:
    """A file root (a technician's sudo) creates beside the store belongs to the service user, like the store."""
    if os.geteuid() == 0:
        d = directory.stat()
        os.fchown(fd, d.st_uid, d.st_gid)


def make_private(path: Path) -> None:
    """The database, its WAL (recent crossings in clear) and its shared-memory file: owner only.

    A new database file is created 0600 before SQLite opens it, so SQLite creates the -wal and -shm files
    with the same mode; an existing one is tightened (when we own it).
    """
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise AccessProblem(describe_os_error(path, exc, "cannot create the store")) from None
        else:
            try:
                give_to_dir_owner(fd, path.parent)   # SQLite gives the -wal and -shm files the same owner
            finally:
                os.close(fd)
    for f in (path, *sidecars(path)):
        try:
            if f.exists() and f.stat().st_mode & 0o077:
                os.chmod(f, 0o600)
        except PermissionError:
            pass  # not ours (someone else's copy): open it anyway, the service's own files are right
