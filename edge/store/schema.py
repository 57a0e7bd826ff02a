"""Store schema migrations, applied in order and recorded in `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3

LATEST = 4

# Each step is frozen SQL: a store made by any release reads the same, whatever library versions build it.

_V1 = (
    """CREATE TABLE "meta" (
   "key" TEXT PRIMARY KEY,
   "value" TEXT
)""",
    # seq: the device's monotonic sequence (also the outbox order); id: UUIDv7; kind: crossing | biometrics | ...;
    # topic: below the device's prefix, e.g. events/crossing; payload: the signed CloudEvent as published, NULL
    # once purged; state: pending | delivered | parked | purged; biometric: 1 when the payload carries (sealed)
    # biometric samples; summary: JSON without personal data, for listings and the UIs' queues
    """CREATE TABLE "events" (
   "seq" INTEGER PRIMARY KEY,
   "id" TEXT NOT NULL,
   "kind" TEXT NOT NULL,
   "topic" TEXT NOT NULL,
   "created_at" REAL NOT NULL,
   "payload" BLOB,
   "state" TEXT NOT NULL,
   "delivered_at" REAL,
   "park_reason" TEXT,
   "biometric" INTEGER NOT NULL DEFAULT 0,
   "summary" TEXT
)""",
    'CREATE UNIQUE INDEX "idx_events_id"\n    ON "events" ("id")',
    "CREATE INDEX events_pending ON events(seq) WHERE state = 'pending'",
    "CREATE INDEX events_delivered_at ON events(delivered_at) WHERE state = 'delivered'",
    """CREATE TABLE "audit" (
   "id" INTEGER PRIMARY KEY,
   "at" REAL NOT NULL,
   "actor" TEXT NOT NULL,
   "action" TEXT NOT NULL,
   "subject" TEXT,
   "detail" TEXT,
   "prev_hash" TEXT,
   "hash" TEXT NOT NULL
)""",
    "CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    """CREATE TABLE "device_status" (
   "name" TEXT PRIMARY KEY,
   "backend" TEXT,
   "status" TEXT,
   "detail" TEXT,
   "updated_at" REAL
)""",
    """CREATE TABLE "commands_seen" (
   "id" TEXT PRIMARY KEY,
   "at" REAL
)""",
    "INSERT INTO meta (key, value) VALUES ('next_seq', '1')",
)

# Officer and technician accounts (hash: argon2id, never the password; failures: failed sign-ins since the last
# success; locked_until: unix time, NULL when not locked), and the booth's queue of kiosk transactions (code: shown
# to the traveller; ending: complete | handover; data: the session's results as JSON, deleted once decided;
# doc_key: sha256 of the document number, to open the transaction by scanning it).
_V2 = (
    """CREATE TABLE "accounts" (
   "id" TEXT PRIMARY KEY,
   "name" TEXT NOT NULL,
   "role" TEXT NOT NULL,
   "hash" TEXT NOT NULL,
   "failures" INTEGER NOT NULL DEFAULT 0,
   "locked_until" REAL,
   "disabled" INTEGER NOT NULL DEFAULT 0,
   "created_at" REAL NOT NULL
)""",
    """CREATE TABLE "queue" (
   "code" TEXT PRIMARY KEY,
   "created_at" REAL NOT NULL,
   "ending" TEXT NOT NULL,
   "data" TEXT NOT NULL,
   "doc_key" TEXT
)""",
    'CREATE INDEX "idx_queue_doc_key"\n    ON "queue" ("doc_key")',
)

# The signed answer to each command done: a command the broker delivers again after a crash (it was never
# acknowledged) is answered again with it, not run twice and not refused as a replay.
_V3 = ('ALTER TABLE "commands_seen" ADD COLUMN "result" BLOB',)

# A queued kiosk transaction's photos and prints, sealed with the device's at-rest key (edge.store.atrest): they
# outlive a restart between kiosk and booth, and go with the row when it is decided or expires.
_V4 = ('ALTER TABLE "queue" ADD COLUMN "samples" BLOB',)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4}


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to LATEST; each step in its own transaction. Returns the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > LATEST:
        raise RuntimeError(f"database schema version {found} is newer than this software ({LATEST})")
    for version in range(found + 1, LATEST + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # read again under the write lock: another process (station and uplink start together on first
            # boot) may have migrated while this one waited for the lock
            if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have ended it already (I/O error, disk full): keep the real error
                conn.execute("ROLLBACK")
            raise
    return found
