"""Opening the store's SQLite file: for writing (station, uplink) or read-only (stats, listings).

Each failure becomes a StoreError with one line: read-only file system, permission, storage full, damage.
A full disk at open is met with the delivery reserve (edge.store.reserve): the uplink must be able to start
and record PUBACKs on a full disk, since delivery is what frees space.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from edge.store import integrity
from edge.store.errors import StorageFull, StoreError
from edge.store.files import AccessProblem, check_access, describe_os_error, make_private, read_only_fs, sidecars
from edge.store.reserve import Reserve
from edge.store.schema import LATEST, migrate

WAL_SIZE_LIMIT = 16 * 2**20


def _uri(path: Path, immutable: bool = False) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")


def _checked(path: Path, boot: str | None, uri: str) -> bool:
    """The integrity check at open; raises StoreError on damage, other sqlite3 errors for the caller."""
    try:
        ran, problem = integrity.check_at_open(path, boot, uri)
    except sqlite3.DatabaseError as exc:
        if not integrity.is_damage(exc, path):   # full, read-only, cannot open: the caller words it
            raise
        raise StoreError(f"{path}: not a usable SQLite database ({exc}); no new crossings are taken; "
                         f"{integrity.KEEP_IT}") from None
    if problem is not None:
        raise StoreError(integrity.damaged_message(path, problem))
    return ran


def _pre_checks(path: Path, write: bool) -> bool:
    """Returns whether the file exists (and has content)."""
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, expected the store's SQLite file")
    if path.exists():
        try:
            check_access(path, write)
        except AccessProblem as exc:
            raise StoreError(str(exc)) from None
        return path.stat().st_size > 0
    if not write:
        raise StoreError(f"{path}: no store here (nothing was recorded yet, or --store names the wrong file)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(describe_os_error(path.parent, exc, "cannot create the store's directory")) from None
    return False


def open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that can never write: what read commands use, also on a read-only or full file system.

    There SQLite cannot create the WAL index; when the WAL holds nothing, the database file is all there is and
    nothing can be writing it, so the file is then opened as immutable.
    """
    has_content = _pre_checks(path, write=False)
    boot = integrity.boot_id()
    wal, _ = sidecars(path)
    wal_empty = not (wal.exists() and wal.stat().st_size)

    def attempt(immutable: bool) -> tuple[sqlite3.Connection, int]:
        uri = _uri(path, immutable)
        if has_content:
            _checked(path, boot, uri)
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn, found

    try:
        try:
            conn, found = attempt(immutable=False)
        except sqlite3.DatabaseError as exc:
            cannot_index = read_only_fs(path) or integrity.is_full(exc, path)
            if not (cannot_index and wal_empty) or integrity.is_damage(exc, path):
                raise
            conn, found = attempt(immutable=True)
    except sqlite3.DatabaseError as exc:
        if integrity.is_damage(exc, path):
            raise StoreError(integrity.damaged_message(path, str(exc))) from None
        why = ("read-only file system" if read_only_fs(path) else
               "storage full" if integrity.is_full(exc, path) else str(exc))
        raise StoreError(f"{path}: cannot open the store for reading ({why})") from None
    if found > LATEST:
        conn.close()
        raise StoreError(f"{path}: database schema version {found} is newer than this software ({LATEST})")
    if found == 0:
        conn.close()
        raise StoreError(f"{path}: an empty store (no schema yet): nothing was recorded")
    return conn


def _connect(path: Path, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{path}: cannot use WAL journal mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        # after a checkpoint resets the WAL, cut its file back to this (default: it keeps its largest size)
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def open_writable(path: Path, busy_timeout_ms: int, synchronous: str,
                  reserve: Reserve) -> sqlite3.Connection:
    """Open (creating or migrating) for writing; on a full disk the reserve is released once and the open retried."""
    has_content = _pre_checks(path, write=True)
    boot = integrity.boot_id()
    try:
        make_private(path)
    except AccessProblem as exc:
        raise StoreError(str(exc)) from None

    def attempt() -> sqlite3.Connection:
        checked = has_content and _checked(path, boot, _uri(path))
        conn = _connect(path, busy_timeout_ms, synchronous)
        if checked and boot is not None:
            try:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (integrity.CHECKED_KEY, boot))
            except sqlite3.OperationalError as exc:
                if not integrity.is_full(exc, path):   # the marker only saves a re-check: not worth failing for
                    raise
        return conn

    conn = _full_disk_retry(path, attempt, reserve)
    with contextlib.suppress(AccessProblem):
        make_private(path)
    return conn


def _full_disk_retry(path: Path, attempt: Callable[[], sqlite3.Connection], reserve: Reserve) -> sqlite3.Connection:
    for last_try in (False, True):
        try:
            return attempt()
        except (sqlite3.DatabaseError, OSError) as exc:
            full = integrity.is_full(exc, path) if isinstance(exc, sqlite3.DatabaseError) else \
                exc.errno in (errno.ENOSPC, errno.EDQUOT)
            if full and not last_try and reserve.release():
                continue
            if full:
                raise StorageFull(f"{path}: storage full ({exc}): no new crossings can be recorded; the store is "
                                  "intact - free space on its file system (old logs, not the store)") from None
            if isinstance(exc, OSError):
                raise StoreError(describe_os_error(path, exc, "cannot open the store")) from None
            if integrity.is_damage(exc, path):
                raise StoreError(integrity.damaged_message(path, str(exc))) from None
            raise StoreError(f"{path}: cannot open the store: {exc}") from None
        except RuntimeError as exc:   # a schema newer than this software
            raise StoreError(f"{path}: {exc}") from None
    raise AssertionError("unreachable")
