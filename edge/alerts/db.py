"""The applied alert list on the appliance: its own SQLite file beside the store (alerts.db).

At rest (a stolen appliance leaks no list):
- a document entry is kept as HMAC-SHA256(index key, issuing state + ':' + folded number): its reason,
  action, document code and holder name sealed (AES-256-GCM) with the device's at-rest key; the number and
  state themselves are not stored. A lookup hashes the traveller's document the same way.
- a person entry is sealed whole with the at-rest key (the entry id is the associated data, so a blob cannot
  be moved to another id) and opened into memory when the matcher is built.
The ids, kinds, counts, versions and dates of the list stay readable; see docs/alerts.md.

Atomic: a bundle is applied in one SQLite transaction (WAL, synchronous=FULL); a kill -9 during it leaves the
list as it was before (SQLite rolls the unfinished transaction back on the next open). Readers (status, the
document lookups, the booth, a station loading the list) use their own connection and see the last committed
list meanwhile.
"""

from __future__ import annotations

import calendar
import contextlib
import hmac
import io
import itertools
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.alerts.bundle import MAX_BUNDLE_BYTES, BundleError, check_version, open_bundle
from edge.alerts.entries import Entry, ListError, Op, entry_from_obj, iter_entry_lines, iter_ops
from edge.alerts.normalise import document_key
from edge.alerts.packed import pack_person
from edge.fsutil import fsync_dir
from edge.store.atrest import AtRestError, AtRestKey

if TYPE_CHECKING:
    from edge.alerts.match import Matcher

DB_NAME = "alerts.db"
ATREST_KEY_NAME = "queue_samples.key"     # the device's at-rest key (edge.store.atrest), shared with the kiosk queue
INDEX_KEY_NAME = "alerts_index.key"       # keys the document hashes
APPLY_CACHE_KB = 65536                    # SQLite's page cache while a list is applied (its default is 2 MB)
APPLY_BATCH = 20000                       # rows per executemany
_ENTRIES_TABLE = """CREATE TABLE IF NOT EXISTS entries(id TEXT PRIMARY KEY, kind TEXT NOT NULL, dockey BLOB,
    sealed BLOB NOT NULL, packed BLOB)"""
_ENTRIES_INDEX = "CREATE INDEX IF NOT EXISTS entries_dockey ON entries(dockey) WHERE dockey IS NOT NULL"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
{_ENTRIES_TABLE};
{_ENTRIES_INDEX};
CREATE TABLE IF NOT EXISTS applied(version INTEGER PRIMARY KEY, kind TEXT NOT NULL, issued_at TEXT NOT NULL,
    applied_at REAL NOT NULL, source TEXT NOT NULL, changes INTEGER NOT NULL);
"""
_DOC_SEALED_FIELDS = ("reason", "action", "document_code", "surname", "given_names", "birth_date",
                      "nationality", "sex")


class AlertDBError(Exception):
    """The alert database or its keys cannot be used; one line saying why."""


def load_secret(path: Path) -> bytes:
    """A 32-byte device secret at `path` (mode 0600), made on first use; two processes agree on one."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
        fsync_dir(path.parent)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AlertDBError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) != 32:
        raise AlertDBError(f"{path}: a device secret is 32 bytes, found {len(data)}")
    return data


@dataclass(frozen=True)
class Applied:
    kind: str
    version: int
    entries: int           # entries in the list after the apply
    changes: int           # lines of the bundle
    seconds: float


def parse_time(iso: str) -> float | None:
    with contextlib.suppress(ValueError):
        return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))
    return None


class AlertDB:
    """The applied list: apply bundles atomically, answer document lookups, build the person matcher."""

    def __init__(self, path: Path, atrest: AtRestKey, index_key: bytes, public_key: Ed25519PublicKey | None) -> None:
        self.path = path
        self.atrest = atrest
        self.index_key = index_key
        self.public_key = public_key
        self._lock = threading.Lock()       # the writer's: an apply holds it for its whole transaction
        self._rlock = threading.Lock()      # the reader's: status, lookups and the booth never wait for an apply
        try:
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
            self.rconn = self._connect()
        except sqlite3.Error as exc:
            raise AlertDBError(f"{path}: cannot open the alert list database: {exc}") from None
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)

    @classmethod
    def beside(cls, store_path: Path, public_key: Ed25519PublicKey | None = None) -> AlertDB:
        """The alert database next to the store file, with the device's keys from the same directory."""
        d = store_path.parent
        d.mkdir(parents=True, exist_ok=True)
        try:
            atrest = AtRestKey.load_or_create(d / ATREST_KEY_NAME)
        except (AtRestError, OSError) as exc:
            raise AlertDBError(f"{d / ATREST_KEY_NAME}: {exc}") from None
        return cls(d / DB_NAME, atrest, load_secret(d / INDEX_KEY_NAME), public_key)

    def _connect(self) -> sqlite3.Connection:
        """A connection for reading (WAL: it sees the last committed list while an apply writes the next)."""
        return sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)

    def close(self) -> None:
        self.rconn.close()
        self.conn.close()

    # ------------------------------------------------------------ reading
    def meta(self) -> dict[str, str]:
        with self._rlock:
            return dict(self.rconn.execute("SELECT key, value FROM meta").fetchall())

    def version(self) -> int | None:
        with self._rlock:
            row = self.rconn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return int(row[0]) if row else None

    def counts(self) -> dict[str, int]:
        with self._rlock:
            rows = self.rconn.execute("SELECT kind, count(*) FROM entries GROUP BY kind").fetchall()
        out = {"document": 0, "person": 0}
        out.update(dict(rows))
        return out

    def status(self, now: float | None = None, stale_after_hours: float | None = None,
               with_counts: bool = True) -> dict[str, Any]:
        """Version, entries, age (hours since the agency issued it), source, and whether it is stale
        (`with_counts=False`: the total the last apply recorded, not counted by kind, which reads the table)."""
        m = self.meta()
        counts = self.counts() if with_counts else {"document": None, "person": None}
        issued = parse_time(m.get("issued_at", ""))
        now = time.time() if now is None else now
        age = None if issued is None else round(max(0.0, now - issued) / 3600, 2)
        stale = None if stale_after_hours is None else (age is None or age > stale_after_hours)
        total = sum(counts.values()) if with_counts else (int(m["entries"]) if "entries" in m else None)
        return {"version": int(m["version"]) if "version" in m else None, "entries": total,
                "documents": counts["document"], "persons": counts["person"], "issued_at": m.get("issued_at"),
                "applied_at": m.get("applied_at"), "age_hours": age, "source": m.get("source"),
                "stale": stale}

    def doc_key_hash(self, key: str) -> bytes:
        return hmac.digest(self.index_key, key.encode(), "sha256")      # the one-shot C path

    def lookup_document(self, key: str) -> list[tuple[str, Entry | None]]:
        """The document entries for a folded 'STATE:NUMBER' key (found by its keyed hash)."""
        with self._rlock:
            rows = self.rconn.execute("SELECT id, sealed FROM entries WHERE dockey=?",
                                     (self.doc_key_hash(key),)).fetchall()
        out = []
        for eid, sealed in rows:
            try:
                obj = json.loads(self.atrest.open(sealed, f"alerts:{eid}"))
                out.append((eid, Entry(id=eid, kind="document", **obj)))
            except (AtRestError, ValueError, TypeError):
                out.append((eid, None))       # still a hit: the keyed hash matched
        return out

    def entry(self, eid: str) -> Entry | None:
        """One entry opened (a document entry without its state and number, which are not kept)."""
        with self._rlock:
            row = self.rconn.execute("SELECT kind, sealed FROM entries WHERE id=?", (eid,)).fetchone()
        if row is None:
            return None
        try:
            obj = json.loads(self.atrest.open(row[1], f"alerts:{eid}"))
        except (AtRestError, ValueError):
            return None
        if row[0] == "document":
            return Entry(id=eid, kind="document", **obj)
        return entry_from_obj(obj)

    def matcher(self) -> Matcher:
        """Documents through the keyed-hash index, persons opened into memory (their packed, pre-folded form).
        The matcher is imported here: the uplink applies lists without ever matching."""
        from edge.alerts.match import Matcher

        m = Matcher(doc_lookup=self.lookup_document)
        conn = self._connect()          # its own: reading the whole list must not hold up status or lookups
        try:
            cur = conn.cursor()
            cur.execute("SELECT id, packed FROM entries WHERE kind='person'")
            add, open_ = m.persons.add_packed, self.atrest.open
            while rows := cur.fetchmany(5000):
                for eid, sealed in rows:
                    try:
                        add(open_(sealed, f"alerts-packed:{eid}").decode())
                    except AtRestError:
                        raise AlertDBError("the alert list was sealed with another device key: import it again") \
                            from None
        finally:
            conn.close()
        m.persons.prepare()
        return m

    # ------------------------------------------------------------ applying
    def _row(self, e: Entry, line: bytes | None = None) -> tuple[str, str, bytes | None, bytes, bytes | None]:
        """The table row of an entry (`line`: its validated JSON line, sealed as it came for a person)."""
        if e.kind == "document":
            detail = {k: getattr(e, k) for k in _DOC_SEALED_FIELDS if getattr(e, k) is not None}
            return (e.id, e.kind, self.doc_key_hash(document_key(e.issuing_state, e.document_number)),
                    self.atrest.seal(json.dumps(detail).encode(), f"alerts:{e.id}"), None)
        whole = line if line is not None else json.dumps(e.to_dict()).encode()
        return (e.id, e.kind, None, self.atrest.seal(whole, f"alerts:{e.id}"),
                self.atrest.seal(pack_person(e).encode(), f"alerts-packed:{e.id}"))

    def apply_bundle(self, data: bytes, source: str, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Applied:
        """Verify and apply a bundle in one transaction, line by line (a 1,000,000-entry list is never held as
        objects). A snapshot drops the table and builds it anew, its index after the rows; a kill -9 anywhere
        in it leaves the old list (SQLite rolls the transaction back on the next open). BundleError/ListError
        (the reason) when refused: the transaction is rolled back, the list stays."""
        if self.public_key is None:
            raise BundleError("no alert-list key configured ([keys] alert_list_public_key): nothing can be verified")
        started = time.monotonic()
        bundle = open_bundle(data, self.public_key, current_version=self.version(), max_bytes=max_bytes)
        lines = io.BytesIO(bundle.body)
        with self._lock:
            try:
                self.conn.execute(f"PRAGMA cache_size=-{APPLY_CACHE_KB}")   # the build's pages stay in memory
                self.conn.execute("BEGIN IMMEDIATE")
                row = self.conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
                check_version(bundle.header, int(row[0]) if row else None)   # another process may have applied
                if bundle.kind == "snapshot":
                    self.conn.execute("DROP INDEX IF EXISTS entries_dockey")
                    self.conn.execute("DROP TABLE entries")
                    self.conn.execute(_ENTRIES_TABLE)
                    count = self._insert_entries(iter_entry_lines(lines))
                    self.conn.execute(_ENTRIES_INDEX)
                else:
                    count = self._apply_ops(iter_ops(lines))
                if count != bundle.entries:
                    raise ListError(f"the body has {count} lines, the signed header says {bundle.entries}")
                total = self.conn.execute("SELECT count(*) FROM entries").fetchone()[0]
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                meta = {"version": str(bundle.version), "issued_at": bundle.issued_at, "applied_at": now,
                        "source": source[:200], "kind": bundle.kind, "entries": str(total)}
                self.conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)", meta.items())
                self.conn.execute("INSERT INTO applied(version, kind, issued_at, applied_at, source, changes) "
                                  "VALUES (?,?,?,?,?,?)", (bundle.version, bundle.kind, bundle.issued_at,
                                                           time.time(), source[:200], count))
                self.conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
            finally:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("PRAGMA cache_size=-2000")          # SQLite's default again
        if bundle.kind == "snapshot":
            with contextlib.suppress(sqlite3.Error), self._lock:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Applied(bundle.kind, bundle.version, total, count, time.monotonic() - started)

    def _insert_entries(self, entries: Iterator[tuple[int, bytes, Entry]]) -> int:
        count = 0
        batch: list[tuple[int, tuple[str, str, bytes | None, bytes, bytes | None]]] = []

        def flush() -> None:
            self.conn.execute("SAVEPOINT batch")
            try:
                self.conn.executemany("INSERT INTO entries(id, kind, dockey, sealed, packed) VALUES (?,?,?,?,?)",
                                      [r for _, r in batch])
            except sqlite3.IntegrityError:
                self.conn.execute("ROLLBACK TO batch")     # the rows of this batch before the duplicate
                raise ListError(f"line {self._duplicate(batch)}: an id appears twice") from None
            self.conn.execute("RELEASE batch")
            batch.clear()

        row = self._row
        for n, line, e in entries:
            batch.append((n, row(e, line)))
            count += 1
            if len(batch) >= APPLY_BATCH:
                flush()
        flush()
        return count

    def _duplicate(self, batch: list[tuple[int, tuple[str, str, bytes | None, bytes, bytes | None]]]) -> int:
        """The line of the first id in `batch` already in the table (earlier batches) or earlier in the batch."""
        seen: set[str] = set()
        for n, r in batch:
            if r[0] in seen or self.conn.execute("SELECT 1 FROM entries WHERE id=?", (r[0],)).fetchone():
                return n
            seen.add(r[0])
        return batch[0][0]

    def _apply_ops(self, ops: Iterator[tuple[int, Op]]) -> int:
        """A delta's changes in order, each run of removes or of adds in one executemany."""
        count = 0
        for kind, run in itertools.groupby((op for _, op in ops), key=lambda op: op.op):
            changes = list(run)
            count += len(changes)
            if kind == "remove":
                self.conn.executemany("DELETE FROM entries WHERE id=?", [(op.id,) for op in changes])
            else:
                self.conn.executemany("INSERT OR REPLACE INTO entries(id, kind, dockey, sealed, packed) "
                                      "VALUES (?,?,?,?,?)", [self._row(op.entry) for op in changes
                                                             if op.entry is not None])
        return count

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
