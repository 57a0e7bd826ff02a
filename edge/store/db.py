"""The durable store: the only hand-off between capture (station) and delivery (uplink).

SQLite in WAL mode with `synchronous=FULL`: a committed crossing survives a power cut. The station
and the uplink each open their own connection; the uplink notices new rows through
`PRAGMA data_version`, which changes only when another connection commits (cheap to poll).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from edge import sdnotify
from edge.store.schema import migrate


class StoreError(Exception):
    """The store cannot be used (corrupt, unreadable, newer schema); the message says what to do."""


class StorageFull(StoreError):
    """No new crossing can be recorded until space is freed; what is stored is intact."""


@dataclass(frozen=True)
class Pending:
    seq: int
    id: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Stats:
    total: int
    pending: int
    delivered: int
    parked: int
    purged: int
    oldest_pending_age_s: float | None
    db_size_bytes: int
    next_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "pending": self.pending, "delivered": self.delivered, "parked": self.parked,
            "purged": self.purged, "oldest_pending_age_s": self.oldest_pending_age_s,
            "db_size_bytes": self.db_size_bytes, "next_seq": self.next_seq,
        }


WAL_SIZE_LIMIT = 16 * 2**20
PURGE_BATCH = 2000         # rows per retention transaction
REPLAY_MEMORY_S = 86400.0  # command ids are remembered this long (a command is valid for minutes, see commands)


def _make_private(path: Path) -> None:
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
            raise StoreError(f"{path}: cannot create the store: {exc.strerror}") from None
        else:
            try:
                if os.geteuid() == 0:
                    # root (a technician's sudo) creates it for the owner of its directory, the service user;
                    # SQLite gives the -wal and -shm files the database file's owner
                    d = path.parent.stat()
                    os.fchown(fd, d.st_uid, d.st_gid)
            finally:
                os.close(fd)
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if f.exists() and f.stat().st_mode & 0o077:
                os.chmod(f, 0o600)
        except PermissionError:
            pass  # not ours (someone else's copy): open it anyway, the service's own files are right


def _check_access(path: Path) -> None:
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"{path}: permission denied (the store belongs to the service user: run this as that "
                         "user or with sudo); the file was left untouched")


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
CHECKED_KEY = "integrity_checked_boot"   # meta: the boot in which quick_check last passed
PROGRESS_EVERY = 200_000                 # SQLite VM steps between progress calls during the check (~10 ms)


def boot_id() -> str | None:
    """This boot's id (Linux): a store checked since the last power cut need not be read through again."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


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


def _check_integrity(path: Path, boot: str | None) -> bool:
    """Open read-only and check, so a damaged file is reported and never 'repaired' by overwriting.

    Reads the whole file, so it runs once per boot: after a power cut (a new boot) it always runs. Returns
    whether it ran (the caller then records the boot).
    """
    try:
        ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if boot is not None:
                with suppress(sqlite3.Error):   # no meta yet, or unreadable: check
                    row = ro.execute("SELECT value FROM meta WHERE key = ?", (CHECKED_KEY,)).fetchone()
                    if row is not None and row[0] == boot:
                        return False
            ro.set_progress_handler(_Progress(path), PROGRESS_EVERY)
            result = ro.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            ro.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable SQLite database ({exc}); it was left untouched - "
                         "move it aside to start with an empty store, or restore it from a copy") from None
    if result != "ok":
        raise StoreError(f"{path}: database is damaged ({result}); it was left untouched - "
                         "move it aside or restore it from a copy")
    return True


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path, max_db_bytes: int, min_free_bytes: int) -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.path = path
        self.max_db_bytes = max_db_bytes
        self.min_free_bytes = min_free_bytes
        self._data_version = -1

    @classmethod
    def open(cls, path: Path | str, *, max_db_mb: int = 2048, min_free_mb: int = 200,
             busy_timeout_ms: int = 10000, synchronous: str = "FULL") -> Store:
        """Open (creating or migrating) the store.

        `synchronous="NORMAL"` is for the uplink's connection only: what it writes (delivered marks) may be
        lost on a power cut, which can only cause a duplicate publish, never a lost event.
        """
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        path = Path(path)
        boot, checked = boot_id(), False
        if path.exists():
            if path.is_dir():
                raise StoreError(f"{path}: is a directory, expected the store's SQLite file")
            _check_access(path)
            if path.stat().st_size:
                checked = _check_integrity(path, boot)
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path.parent}: cannot create the store's directory: {exc.strerror}") from None
        _make_private(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{path}: cannot use WAL journal mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            # after a checkpoint resets the WAL, cut its file back to this (default: it keeps its largest size)
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
            if checked and boot is not None:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (CHECKED_KEY, boot))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from None
        except RuntimeError as exc:
            raise StoreError(f"{path}: {exc}") from None
        _make_private(path)
        return cls(conn, path, max_db_mb * 1024 * 1024, min_free_mb * 1024 * 1024)

    def close(self) -> None:
        self.conn.close()

    # ---------------------------------------------------------------- writing
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT). A disk-full error rolls back and says so."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"store is busy or unwritable: {exc}") from None
        tx = Transaction(self)
        try:
            yield tx
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback()
            if _is_full(exc):
                raise StorageFull(f"storage full: {exc}; nothing of this write was kept") from None
            raise StoreError(f"write failed and was rolled back: {exc}") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def capacity_problem(self) -> str | None:
        """Why new crossings must not be taken now, or None. Checked before a crossing starts.

        The limit applies to the pages holding data: pages freed by retention are reused by SQLite (the file does
        not shrink without VACUUM) and the WAL is transient, so counting either would keep a purged store 'full'.
        The disk itself is guarded by the free-space check.
        """
        size = self.data_bytes()
        if size >= self.max_db_bytes:
            return f"database is {size // 2**20} MB, at its limit of {self.max_db_bytes // 2**20} MB"
        free = shutil.disk_usage(self.path.parent).free
        if free < self.min_free_bytes:
            return f"only {free // 2**20} MB free on disk, below {self.min_free_bytes // 2**20} MB"
        return None

    def ensure_capacity(self) -> None:
        problem = self.capacity_problem()
        if problem:
            raise StorageFull(f"storage full: {problem}")

    # ---------------------------------------------------------------- outbox (uplink side)
    def changed(self) -> bool:
        """True when another connection committed since the last call (first call: True)."""
        v = self.conn.execute("PRAGMA data_version").fetchone()[0]
        changed, self._data_version = v != self._data_version, v
        return changed

    def pending(self, after_seq: int = 0, limit: int = 500, max_bytes: int | None = None) -> list[Pending]:
        """Pending events after `after_seq` in order: at most `limit`, and (when given) no more payload bytes than
        `max_bytes` beyond the first event, so a backlog of large events is not read into memory at once."""
        if max_bytes is not None:
            sizes = self.conn.execute(
                "SELECT seq, length(payload) FROM events WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            total, upto = 0, None
            for seq, size in sizes:
                if upto is not None and total + (size or 0) > max_bytes:
                    break
                total += size or 0
                upto = seq
            if upto is None:
                return []
            rows = self.conn.execute(
                "SELECT seq, id, topic, payload FROM events WHERE state = 'pending' AND seq > ? AND seq <= ? "
                "ORDER BY seq", (after_seq, upto),
            ).fetchall()
            return [Pending(*r) for r in rows]
        rows = self.conn.execute(
            "SELECT seq, id, topic, payload FROM events WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [Pending(*r) for r in rows]

    def mark_delivered(self, seqs: Sequence[int], at: Sequence[float] | None = None) -> None:
        """Mark events acknowledged; `at` gives each PUBACK's arrival time (default: now)."""
        if not seqs:
            return
        times = at if at is not None else [time.time()] * len(seqs)
        with self.transaction():
            self.conn.executemany(
                "UPDATE events SET state = 'delivered', delivered_at = ? WHERE seq = ? AND state = 'pending'",
                list(zip(times, seqs, strict=True)),
            )

    def park(self, seq: int, reason: str) -> bool:
        """Park a pending event the broker refused; False if it is no longer pending (e.g. a copy was delivered)."""
        with self.transaction() as tx:
            n = self.conn.execute("UPDATE events SET state = 'parked', park_reason = ? WHERE seq = ? "
                                  "AND state = 'pending'", (reason, seq)).rowcount
            if n:
                tx.audit("uplink", "event.parked", str(seq), {"reason": reason})
        return bool(n)

    def requeue_from(self, seq: int) -> int:
        """Mark delivered (and parked) events from `seq` on as pending again: the `resend` command."""
        with self.transaction() as tx:
            n = self.conn.execute(
                "UPDATE events SET state = 'pending', delivered_at = NULL WHERE seq >= ? "
                "AND state IN ('delivered', 'parked') AND payload IS NOT NULL", (seq,)
            ).rowcount
            tx.audit("uplink", "events.resend", str(seq), {"requeued": n})
        return n

    # ---------------------------------------------------------------- reading
    def data_bytes(self) -> int:
        """Bytes of the database's pages that hold data (excluding free pages and the WAL)."""
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self.conn.execute("PRAGMA page_size").fetchone()[0]

    def db_size_bytes(self) -> int:
        """On-disk size: the database file and its WAL."""
        page_count = self.conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        wal = self.path.with_name(self.path.name + "-wal")
        return page_count * page_size + (wal.stat().st_size if wal.exists() else 0)

    def stats(self) -> Stats:
        counts = dict(self.conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
        oldest = self.conn.execute("SELECT min(created_at) FROM events WHERE state = 'pending'").fetchone()[0]
        next_seq = int(self.conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        return Stats(
            total=sum(counts.values()), pending=counts.get("pending", 0), delivered=counts.get("delivered", 0),
            parked=counts.get("parked", 0), purged=counts.get("purged", 0),
            oldest_pending_age_s=None if oldest is None else round(max(0.0, time.time() - oldest), 3),
            db_size_bytes=self.db_size_bytes(), next_seq=next_seq,
        )

    def listing(self, pending_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Events for people to read: ids, states and the non-personal summary only."""
        where = "WHERE state = 'pending'" if pending_only else ""
        rows = self.conn.execute(
            f"SELECT seq, id, kind, state, created_at, delivered_at, park_reason, summary FROM events {where} "
            "ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        out = []
        for seq, eid, kind, state, created, delivered, reason, summary in rows:
            out.append({"seq": seq, "id": eid, "kind": kind, "state": state, "created_at": created,
                        "delivered_at": delivered, "park_reason": reason, **json.loads(summary or "{}")})
        return out

    def payload(self, event_id: str) -> bytes | None:
        row = self.conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
        return row[0] if row else None

    def audit_entries(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]))

    def verify_audit_chain(self) -> bool:
        prev = ""
        for row in self.db.query("SELECT * FROM audit ORDER BY id"):
            if row["prev_hash"] != prev or row["hash"] != _audit_hash(prev, row):
                return False
            prev = row["hash"]
        return True

    # ---------------------------------------------------------------- devices and commands
    def set_device_status(self, name: str, backend: str, status: str, detail: str = "") -> None:
        self.conn.execute(
            "INSERT INTO device_status(name, backend, status, detail, updated_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET backend=excluded.backend, status=excluded.status, "
            "detail=excluded.detail, updated_at=excluded.updated_at",
            (name, backend, status, detail, time.time()),
        )

    def device_statuses(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT name, status FROM device_status").fetchall())

    def command_done(self, command_id: str) -> tuple[bool, bytes | None]:
        """(done before, the signed answer kept for it): a replay, or the broker delivering it again."""
        row = self.conn.execute("SELECT result FROM commands_seen WHERE id = ?", (command_id,)).fetchone()
        return (False, None) if row is None else (True, row[0])

    def remember_command(self, command_id: str, result: bytes | None) -> None:
        """Mark a command done, with the signed answer sent for it.

        Ids older than REPLAY_MEMORY_S are forgotten (a command that old is refused as expired anyway), so the
        table does not grow for the life of the appliance.
        """
        now = time.time()
        with self.transaction():
            self.conn.execute("DELETE FROM commands_seen WHERE at < ?", (now - REPLAY_MEMORY_S,))
            self.conn.execute("INSERT OR REPLACE INTO commands_seen(id, at, result) VALUES (?, ?, ?)",
                              (command_id, now, result))

    # ---------------------------------------------------------------- retention
    def purge(self, delivered_days: float, biometric_days: float, now: float | None = None) -> dict[str, int]:
        """Delete delivered events past retention; drop biometric payloads past theirs (delivered or not)."""
        now = time.time() if now is None else now
        # in batches, each its own transaction: the station must get the write lock within its busy timeout
        gone = bio = 0
        while True:
            with self.transaction():
                n = self.conn.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state = 'delivered' "
                    "AND delivered_at < ? LIMIT ?)", (now - delivered_days * 86400, PURGE_BATCH),
                ).rowcount
            gone += n
            if n < PURGE_BATCH:
                break
        while True:
            with self.transaction():
                n = self.conn.execute(
                    "UPDATE events SET payload = NULL, state = 'purged' WHERE seq IN (SELECT seq FROM events "
                    "WHERE biometric = 1 AND state != 'purged' AND created_at < ? LIMIT ?)",
                    (now - biometric_days * 86400, PURGE_BATCH),
                ).rowcount
            bio += n
            if n < PURGE_BATCH:
                break
        with self.transaction() as tx:
            tx.audit("retention", "store.purge", "", {"delivered_deleted": gone, "biometric_purged": bio})
        return {"delivered_deleted": gone, "biometric_purged": bio}


def _is_full(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "full" in str(exc).lower()


def _audit_hash(prev: str, row: dict[str, Any]) -> str:
    body = json.dumps([prev, row["at"], row["actor"], row["action"], row["subject"], row["detail"]],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


class Transaction:
    """What may be written inside one store transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    def next_seq(self) -> int:
        seq = int(self.conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(seq + 1),))
        return seq

    def add_event(self, *, seq: int, event_id: str, kind: str, topic: str, payload: bytes,
                  biometric: bool = False, summary: dict[str, Any] | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events(seq, id, kind, topic, created_at, payload, state, biometric, summary) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (seq, event_id, kind, topic, time.time(), payload, int(biometric),
             json.dumps(summary or {}, ensure_ascii=False)),
        )

    def audit(self, actor: str, action: str, subject: str = "", detail: dict[str, Any] | None = None) -> None:
        """Append to the hash-chained audit log (no personal data: ids and codes only)."""
        prev_row = self.conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        prev = prev_row[0] if prev_row else ""
        row = {"at": time.time(), "actor": actor, "action": action, "subject": subject,
               "detail": json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)}
        self.conn.execute(
            "INSERT INTO audit(at, actor, action, subject, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            (row["at"], actor, action, subject, row["detail"], prev, _audit_hash(prev, row)),
        )
