"""Store schema migrations, applied in order and recorded in `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3

import sqlite_utils

LATEST = 4


def _v1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["events"].create(
        {
            "seq": int,            # the device's monotonic sequence (also the outbox order)
            "id": str,             # UUIDv7, unique
            "kind": str,           # crossing | biometrics | ...
            "topic": str,          # MQTT topic below the device's prefix, e.g. events/crossing
            "created_at": float,
            "payload": bytes,      # the signed CloudEvent as published; NULL once purged
            "state": str,          # pending | delivered | parked | purged
            "delivered_at": float,
            "park_reason": str,
            "biometric": int,      # 1 when the payload carries (sealed) biometric samples
            "summary": str,        # JSON, no personal data: for listings and the UIs' queues
        },
        pk="seq",
        not_null={"id", "kind", "topic", "created_at", "state", "biometric"},
        defaults={"biometric": 0},
    )
    db["events"].create_index(["id"], unique=True)
    db.execute("CREATE INDEX events_pending ON events(seq) WHERE state = 'pending'")
    db.execute("CREATE INDEX events_delivered_at ON events(delivered_at) WHERE state = 'delivered'")
    db["audit"].create(
        {"id": int, "at": float, "actor": str, "action": str, "subject": str, "detail": str,
         "prev_hash": str, "hash": str},
        pk="id",
        not_null={"at", "actor", "action", "hash"},
    )
    db.execute("CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit "
               "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
    db.execute("CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit "
               "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
    db["device_status"].create(
        {"name": str, "backend": str, "status": str, "detail": str, "updated_at": float}, pk="name"
    )
    db["commands_seen"].create({"id": str, "at": float}, pk="id")
    db["meta"].insert({"key": "next_seq", "value": "1"})


def _v2(db: sqlite_utils.Database) -> None:
    """Officer and technician accounts, and the booth's queue of kiosk transactions (issue 8)."""
    db["accounts"].create(
        {
            "id": str,               # the officer's or technician's id, as it appears in decisions
            "name": str,
            "role": str,             # officer | technician
            "hash": str,             # argon2id; never the password
            "failures": int,         # failed sign-ins since the last success
            "locked_until": float,   # unix time; NULL when not locked
            "disabled": int,
            "created_at": float,
        },
        pk="id",
        not_null={"name", "role", "hash", "failures", "disabled", "created_at"},
        defaults={"failures": 0, "disabled": 0},
    )
    db["queue"].create(
        {
            "code": str,             # the transaction code shown to the traveller
            "created_at": float,
            "ending": str,           # complete | handover
            "data": str,             # the session's document/face/finger results (JSON; deleted once decided)
            "doc_key": str,          # sha256 of the document number, to open the transaction by scanning it
        },
        pk="code",
        not_null={"created_at", "ending", "data"},
    )
    db["queue"].create_index(["doc_key"])


def _v3(db: sqlite_utils.Database) -> None:
    """The signed answer to each command done: a command the broker delivers again after a crash (it was
    never acknowledged) is answered again with it, not run twice and not refused as a replay."""
    db["commands_seen"].add_column("result", bytes)


def _v4(db: sqlite_utils.Database) -> None:
    """A queued kiosk transaction's photos and prints, sealed with the device's at-rest key (edge.store.atrest):
    they outlive a restart between kiosk and booth, and go with the row when it is decided or expires."""
    db["queue"].add_column("samples", bytes)


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4}


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to LATEST; each step in its own transaction. Returns the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > LATEST:
        raise RuntimeError(f"database schema version {found} is newer than this software ({LATEST})")
    db = sqlite_utils.Database(conn)
    for version in range(found + 1, LATEST + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # read again under the write lock: another process (station and uplink start together on first
            # boot) may have migrated while this one waited for the lock
            if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                conn.execute("COMMIT")
                continue
            MIGRATIONS[version](db)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have ended it already (I/O error, disk full): keep the real error
                conn.execute("ROLLBACK")
            raise
    return found
