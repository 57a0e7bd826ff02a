"""The durable store: the only hand-off between capture (station) and delivery (uplink).

SQLite in WAL mode with `synchronous=FULL`: a committed crossing survives a power cut. The station
and the uplink each open their own connection; the uplink notices new rows through
`PRAGMA data_version`, which changes only when another connection commits (cheap to poll).
Every SQLite error leaves here as a StoreError with one line (edge.store.integrity words them); damage found
while running makes the store refuse new crossings and runs the integrity check again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edge.store import integrity, opening
from edge.store.errors import StorageFull, StoreError
from edge.store.highwater import HighWater, Loss, loss
from edge.store.reserve import RESERVE_BYTES, Reserve

log = logging.getLogger("borderpost.store")
F = TypeVar("F", bound=Callable[..., Any])
SEQUENCE_LOSS_KEY = "sequence_loss"   # meta: numbers committed once and missing since (a lost WAL), JSON


def _guarded(method: F) -> F:
    """SQLite errors in a Store method become StoreError (damage: re-checked, and the store is marked damaged)."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self._fault(exc, method.__name__) from None

    return wrapper  # type: ignore[return-value]


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
    sequence_loss: dict[str, Any] | None = None   # see edge.store.highwater

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "pending": self.pending, "delivered": self.delivered, "parked": self.parked,
            "purged": self.purged, "oldest_pending_age_s": self.oldest_pending_age_s,
            "db_size_bytes": self.db_size_bytes, "next_seq": self.next_seq, "sequence_loss": self.sequence_loss,
        }


WAL_SIZE_LIMIT = opening.WAL_SIZE_LIMIT
HEADROOM_BYTES = 2**20     # free space a crossing needs whatever the config says (its pages, its WAL frames)
PURGE_BATCH = 2000         # rows per retention transaction
REPLAY_MEMORY_S = 86400.0  # command ids are remembered this long (a command is valid for minutes, see commands)


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path, max_db_bytes: int, min_free_bytes: int,
                 *, read_only: bool = False, reserve: Reserve | None = None) -> None:
        self.conn = conn
        self.path = path
        self.max_db_bytes = max_db_bytes
        self.min_free_bytes = min_free_bytes
        self.read_only = read_only
        self.reserve = reserve or Reserve(path, 0)
        self.damaged: str | None = None       # set when damage is met while running: no new crossings
        self.highwater = HighWater(path, read_only=read_only)
        self._data_version = -1

    @classmethod
    def open(cls, path: Path | str, *, max_db_mb: int = 2048, min_free_mb: int = 200,
             busy_timeout_ms: int = 10000, synchronous: str = "FULL", read_only: bool = False,
             reserve_bytes: int = RESERVE_BYTES) -> Store:
        """Open (creating or migrating) the store; `read_only` for commands that only read (never writes).

        `synchronous="NORMAL"` is for the uplink's connection only: what it writes (delivered marks) may be
        lost on a power cut, which can only cause a duplicate publish, never a lost event.
        """
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        path = Path(path)
        limits = (max_db_mb * 1024 * 1024, min_free_mb * 1024 * 1024)
        if read_only:
            return cls(opening.open_read_only(path), path, *limits, read_only=True)
        reserve = Reserve(path, reserve_bytes)
        conn = opening.open_writable(path, busy_timeout_ms, synchronous, reserve)
        try:
            store = cls(conn, path, *limits, reserve=reserve)
        except OSError as exc:
            conn.close()
            raise StoreError(f"{path}: cannot open its sequence mark ({exc.strerror or exc})") from None
        reserve.take()   # best effort: when the disk has no room for it, capacity_problem() says so
        store._settle_sequence()
        return store

    def close(self) -> None:
        self.highwater.close()
        self.conn.close()

    # ---------------------------------------------------------------- errors and health
    def _fault(self, exc: sqlite3.DatabaseError, doing: str) -> StoreError:
        """The StoreError for an SQLite error met while `doing`; damage is checked again and remembered."""
        if integrity.is_full(exc, self.path):
            return StorageFull(f"storage full: {exc}; nothing of this write was kept")
        if integrity.is_damage(exc, self.path):
            problem = None
            try:
                ro = sqlite3.connect(opening._uri(self.path), uri=True)
                try:
                    problem = integrity.quick_check(ro, self.path)
                finally:
                    ro.close()
            except sqlite3.Error as again:
                problem = str(again)
            first = self.damaged is None
            self.damaged = integrity.damaged_message(self.path, problem or str(exc))
            if first and not self.read_only:   # a service's log tells the technician; a read command prints it
                log.error("%s", self.damaged)
            return StoreError(self.damaged)
        return StoreError(f"{self.path}: {doing.strip('_')}: {exc}")

    def sequence_loss(self) -> dict[str, Any] | None:
        """Numbers once committed that this database no longer holds (a lost WAL), as recorded; None if none."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (SEQUENCE_LOSS_KEY,)).fetchone()
        except sqlite3.Error:
            row = None
        if row is not None:
            return json.loads(row[0])
        if self.read_only:
            found = self._loss_now()
            return None if found is None else found.to_dict()
        return None

    def _loss_now(self) -> Loss | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        return loss(self.highwater.mark, int(row[0])) if row else None

    def _settle_sequence(self) -> None:
        """At open: numbers at or below the high-water mark are never handed out again; a loss is reported."""
        found = self._loss_now()
        if found is None:
            return
        detail = found.to_dict()
        msg = (f"sequence numbers {found.first}-{found.last} were "
               f"{'committed' if found.certain else 'handed out'} but are not in {self.path} (its WAL was lost or "
               "an older copy was restored): they will not be reused; the agency is told in telemetry")
        log.error("%s", msg)
        try:
            with self.transaction() as tx:
                tx.conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(found.last + 1),))
                tx.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                (SEQUENCE_LOSS_KEY, json.dumps(detail)))
                tx.audit("store", "store.sequence_loss", "", detail)
        except StoreError as exc:   # next_seq() still keeps above the mark
            log.error("could not record the sequence loss in the store: %s", exc)

    def health(self) -> dict[str, Any]:
        """What the station, the UIs and telemetry show about the store (no personal data)."""
        problem = None if self.read_only else self.capacity_problem()
        return {
            "storage_full": problem is not None and self.damaged is None, "problem": problem,
            "damaged": self.damaged, "sequence_loss": self.sequence_loss(), "read_only": self.read_only,
            "delivery_reserve_held": self.reserve.held,
        }

    # ---------------------------------------------------------------- writing
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT). A disk-full error rolls back and says so.

        Sequence numbers handed out inside are written to the high-water mark (fsynced) before the commit.
        """
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._fault(exc, "begin a write") from None
        tx = Transaction(self)
        try:
            yield tx
            if tx.max_seq:
                self.highwater.allocate(tx.max_seq)
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback()
            fault = self._fault(exc, "write")
            if not isinstance(fault, StorageFull) and self.damaged is None:
                fault = StoreError(f"write failed and was rolled back: {exc}")
            raise fault from None
        except OSError as exc:   # the high-water mark could not be made durable: nothing is committed
            self._rollback()
            raise StoreError(f"{self.highwater.path}: cannot record the sequence mark ({exc.strerror or exc}); "
                             "nothing of this write was kept") from None
        except BaseException:
            self._rollback()
            raise
        if tx.max_seq:
            with contextlib.suppress(OSError):   # losing it only makes a later loss look uncertain
                self.highwater.committed(tx.max_seq)

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass   # SQLite may have ended it already; the caller reports the real error

    def _delivery_write(self, write: Callable[[], Any]) -> Any:
        """Delivery bookkeeping: on a full disk the reserve is released and the write tried once more.

        Delivery is what frees space, so it must go on when nothing else can be written.
        """
        try:
            return write()
        except StorageFull:
            if not self.reserve.release():
                raise
            log.warning("storage full: the delivery reserve was released so PUBACKs can still be recorded; "
                        "no new crossings are taken until space is freed")
            self.conn.execute("PRAGMA wal_autocheckpoint = 64")   # keep the WAL small while space is short
            return write()

    def capacity_problem(self) -> str | None:
        """Why new crossings must not be taken now, or None. Checked before a crossing starts.

        The limit applies to the pages holding data: pages freed by retention are reused by SQLite (the file does
        not shrink without VACUUM) and the WAL is transient, so counting either would keep a purged store 'full'.
        The disk itself is guarded by the free-space check, and by the delivery reserve: while it is not held
        (released for PUBACKs, or no room to take it) only delivery may write.
        """
        if self.damaged:
            return self.damaged
        if self.read_only:
            return f"{self.path}: opened read-only"
        size = self.data_bytes()
        if size >= self.max_db_bytes:
            return f"database is {size // 2**20} MB, at its limit of {self.max_db_bytes // 2**20} MB"
        free = shutil.disk_usage(self.path.parent).free
        floor = max(self.min_free_bytes, HEADROOM_BYTES)
        if free < floor:
            return f"only {free / 2**20:.1f} MB free on disk, below {floor // 2**20} MB"
        if not self.reserve.take():
            return (f"only {free / 2**20:.1f} MB free on disk: the space kept for delivery is in use "
                    "(delivered events are purged at retention; free other files to take crossings again)")
        return None

    def ensure_capacity(self) -> None:
        problem = self.capacity_problem()
        if problem:
            if self.damaged:
                raise StoreError(problem)
            raise StorageFull(f"storage full: {problem}")

    # ---------------------------------------------------------------- outbox (uplink side)
    @_guarded
    def changed(self) -> bool:
        """True when another connection committed since the last call (first call: True)."""
        v = self.conn.execute("PRAGMA data_version").fetchone()[0]
        changed, self._data_version = v != self._data_version, v
        return changed

    @_guarded
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
        rows = list(zip(times, seqs, strict=True))

        def write() -> None:
            with self.transaction():
                self.conn.executemany(
                    "UPDATE events SET state = 'delivered', delivered_at = ? WHERE seq = ? AND state = 'pending'",
                    rows)

        self._delivery_write(write)

    def park(self, seq: int, reason: str) -> bool:
        """Park a pending event the broker refused; False if it is no longer pending (e.g. a copy was delivered)."""
        def write() -> int:
            with self.transaction() as tx:
                n = self.conn.execute("UPDATE events SET state = 'parked', park_reason = ? WHERE seq = ? "
                                      "AND state = 'pending'", (reason, seq)).rowcount
                if n:
                    tx.audit("uplink", "event.parked", str(seq), {"reason": reason})
            return n

        return bool(self._delivery_write(write))

    @_guarded
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
    @_guarded
    def data_bytes(self) -> int:
        """Bytes of the database's pages that hold data (excluding free pages and the WAL)."""
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self.conn.execute("PRAGMA page_size").fetchone()[0]

    @_guarded
    def db_size_bytes(self) -> int:
        """On-disk size: the database file and its WAL."""
        page_count = self.conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        wal = self.path.with_name(self.path.name + "-wal")
        return page_count * page_size + (wal.stat().st_size if wal.exists() else 0)

    @_guarded
    def stats(self) -> Stats:
        counts = dict(self.conn.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
        oldest = self.conn.execute("SELECT min(created_at) FROM events WHERE state = 'pending'").fetchone()[0]
        next_seq = int(self.conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        return Stats(
            total=sum(counts.values()), pending=counts.get("pending", 0), delivered=counts.get("delivered", 0),
            parked=counts.get("parked", 0), purged=counts.get("purged", 0),
            oldest_pending_age_s=None if oldest is None else round(max(0.0, time.time() - oldest), 3),
            db_size_bytes=self.db_size_bytes(), next_seq=next_seq, sequence_loss=self.sequence_loss(),
        )

    @_guarded
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

    @_guarded
    def payload(self, event_id: str) -> bytes | None:
        row = self.conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
        return row[0] if row else None

    @_guarded
    def audit_entries(self, limit: int = 200) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    @_guarded
    def verify_audit_chain(self) -> bool:
        prev = ""
        for row in self._rows("SELECT * FROM audit ORDER BY id"):
            if row["prev_hash"] != prev or row["hash"] != _audit_hash(prev, row):
                return False
            prev = row["hash"]
        return True

    # ---------------------------------------------------------------- devices and commands
    def set_device_status(self, name: str, backend: str, status: str, detail: str = "") -> bool:
        """Record a device's status; False when the store cannot take it now (full or damaged).

        A status is advisory and rewritten every few seconds: on a full disk it must not take the space that
        delivery marks need, nor stop the station's loop.
        """
        if self.damaged or not self.reserve.held:
            return False
        try:
            self.conn.execute(
                "INSERT INTO device_status(name, backend, status, detail, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET backend=excluded.backend, status=excluded.status, "
                "detail=excluded.detail, updated_at=excluded.updated_at",
                (name, backend, status, detail, time.time()),
            )
        except sqlite3.DatabaseError as exc:
            fault = self._fault(exc, "set_device_status")
            if isinstance(fault, StorageFull) or self.damaged:
                return False
            raise fault from None
        return True

    @_guarded
    def device_statuses(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT name, status FROM device_status").fetchall())

    @_guarded
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

        def write() -> None:
            with self.transaction():
                self.conn.execute("DELETE FROM commands_seen WHERE at < ?", (now - REPLAY_MEMORY_S,))
                self.conn.execute("INSERT OR REPLACE INTO commands_seen(id, at, result) VALUES (?, ?, ?)",
                                  (command_id, now, result))

        self._delivery_write(write)

    # ---------------------------------------------------------------- retention
    @_guarded
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


def _audit_hash(prev: str, row: dict[str, Any]) -> str:
    body = json.dumps([prev, row["at"], row["actor"], row["action"], row["subject"], row["detail"]],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


class Transaction:
    """What may be written inside one store transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
        self.max_seq = 0   # the highest number handed out here (to the high-water mark before commit)

    def next_seq(self) -> int:
        """The next sequence number: never one at or below the high-water mark, whatever the database says."""
        stored = int(self.conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        seq = max(stored, self.store.highwater.floor())
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(seq + 1),))
        self.max_seq = max(self.max_seq, seq)
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
