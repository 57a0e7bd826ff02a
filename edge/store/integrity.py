"""The store's integrity check, and SQLite errors turned into one line a technician can act on.

The full read of the file runs once per boot (after a power cut, a new boot, it always runs); a damage that
appears later is met as an error by whoever reads the page, and then the check runs again (`recheck`).
No message ever advises throwing the file away: it may hold crossings not yet delivered.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import suppress
from pathlib import Path

from edge import sdnotify

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
CHECKED_KEY = "integrity_checked_boot"   # meta: the boot in which quick_check last passed
PROGRESS_EVERY = 200_000                 # SQLite VM steps between progress calls during the check (~10 ms)

KEEP_IT = ("the file was left untouched and may hold crossings not yet delivered: keep it (do not delete, move or "
           "replace it) and call the technician, who copies it for the agency before restoring")

_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FORMAT}
_FULL_CODES = {sqlite3.SQLITE_FULL}
NEARLY_FULL = 256 * 1024   # bytes free below which an I/O error is taken for a full disk


def boot_id() -> str | None:
    """This boot's id (Linux): a store checked since the last power cut need not be read through again."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def is_full(exc: BaseException, path: Path | None = None) -> bool:
    """SQLite ran out of disk (or of its own size limit).

    Creating the WAL index on a full disk fails as an I/O error, not SQLITE_FULL: with `path` given, an I/O
    error on a file system with (next to) no free space counts as full, never as damage.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code in _FULL_CODES or "full" in str(exc).lower():
        return True
    if path is not None and ((code or 0) & 0xFF == sqlite3.SQLITE_IOERR or "i/o error" in str(exc).lower()):
        try:
            return shutil.disk_usage(path.parent).free < NEARLY_FULL
        except OSError:
            return False
    return False


def is_damage(exc: BaseException, path: Path | None = None) -> bool:
    """The error says the file's content cannot be trusted (as opposed to busy, locked or full)."""
    if not isinstance(exc, sqlite3.DatabaseError) or is_full(exc, path):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGE_CODES
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "disk i/o error" in text


def damaged_message(path: Path, detail: str) -> str:
    return f"{path}: database is damaged ({detail}); no new crossings are taken; {KEEP_IT}"


class _Progress:
    """Tells systemd the check is alive, at most once a second, so a slow SD card is not a restart loop."""

    def __init__(self, path: Path) -> None:
        self.path, self.last = path, -1.0

    def __call__(self) -> int:
        now = time.monotonic()
        if self.last < 0 or now - self.last >= 1.0:
            self.last = now
            sdnotify.notify_extend_timeout(30, f"checking the store's integrity ({self.path.name})")
        return 0   # non-zero would abort the check


def quick_check(conn: sqlite3.Connection, path: Path) -> str | None:
    """Run SQLite's quick_check on `conn`: None when the file is sound, else what is wrong (one line)."""
    conn.set_progress_handler(_Progress(path), PROGRESS_EVERY)
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc, path):   # full, read-only, cannot open: not the file's fault
            raise
        return str(exc)
    finally:
        conn.set_progress_handler(None, 0)
    result = "; ".join(str(r[0]) for r in rows[:3])
    return None if result == "ok" else result


def check_at_open(path: Path, boot: str | None, uri: str) -> tuple[bool, str | None]:
    """Check the file through a read-only connection (`uri`), so a damaged file is never 'repaired' by writing.

    Skipped when this boot already checked it. Returns (ran, problem); raises sqlite3.DatabaseError when the
    file cannot even be opened (the caller words it: a full disk is not damage).
    """
    ro = sqlite3.connect(uri, uri=True)
    try:
        if boot is not None:
            with suppress(sqlite3.Error):   # no meta yet, or unreadable: check
                row = ro.execute("SELECT value FROM meta WHERE key = ?", (CHECKED_KEY,)).fetchone()
                if row is not None and row[0] == boot:
                    return False, None
        problem = quick_check(ro, path)
    finally:
        ro.close()
    return True, problem
