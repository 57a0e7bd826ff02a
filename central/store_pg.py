"""PostgreSQL statements for a whole batch at once: each column travels as one array parameter and `unnest`
turns them back into rows.

Why: one statement text per table whatever the batch size (prepared once, no expanding IN lists to compile),
one round trip instead of one per row. Parameters go in binary (`%(name)b`): a text array in text form escapes
every quote of every JSON payload (a regex per element), which cost more than the rest of the batch.
SQLite keeps the SQLAlchemy statements in `central.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

EVENT_COLUMNS = (("id", "text"), ("post", "text"), ("device", "text"), ("seq", "bigint"), ("kind", "text"),
                 ("time", "text"), ("received_at", "float8"), ("signature", "text"), ("payload", "text"))
CROSSING_COLUMNS = (("event_id", "text"), ("time", "timestamptz"), ("day", "date"), ("post", "text"),
                    ("device", "text"), ("role", "text"), ("direction", "text"), ("nationality", "text"),
                    ("sex", "text"), ("age_band", "text"), ("outcome", "text"), ("decided_by", "text"),
                    ("reason_codes", "text"), ("alert_hits", "integer"), ("traveller", "text"))


def _insert_sql(table: str, columns: Sequence[tuple[str, str]], conflict: str) -> str:
    names = ", ".join(f'"{c}"' for c, _ in columns)
    arrays = ", ".join(f"%({c})b::{t}[]" for c, t in columns)
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT ({conflict}) DO NOTHING"


INSERT_EVENTS = _insert_sql("events", EVENT_COLUMNS, "id") + " RETURNING id"
INSERT_CROSSINGS = _insert_sql("crossings", CROSSING_COLUMNS, "event_id, time")
STORED_SIGNATURES = "SELECT id, signature FROM events WHERE id = ANY(%(ids)b::text[])"
ENSURE_FLEET = ("INSERT INTO fleet (post, device, high_seq) SELECT p, d, 0 FROM unnest(%(p)b::text[], %(d)b::text[]) "
                "AS k(p, d) ON CONFLICT (post, device) DO NOTHING")
LOCK_FLEET = ("SELECT f.post, f.device, f.high_seq FROM fleet f JOIN unnest(%(p)b::text[], %(d)b::text[]) AS k(p, d) "
              "ON f.post = k.p AND f.device = k.d ORDER BY f.post, f.device FOR UPDATE OF f")
GAP_COLUMNS = (("post", "text"), ("device", "text"), ("from_seq", "bigint"), ("to_seq", "bigint"),
               ("opened_at", "float8"), ("resend_at", "float8"), ("resends", "integer"))
OPEN_GAPS = ("SELECT g.id, g.post, g.device, g.from_seq, g.to_seq, g.opened_at, g.resend_at, g.resends FROM gaps g "
             "JOIN unnest(%(p)b::text[], %(d)b::text[]) AS k(p, d) ON g.post = k.p AND g.device = k.d")
DELETE_GAPS = "DELETE FROM gaps WHERE id = ANY(%(ids)b::integer[])"
INSERT_GAPS = ("INSERT INTO gaps (" + ", ".join(c for c, _ in GAP_COLUMNS) + ") SELECT * FROM unnest("
               + ", ".join(f"%({c})b::{t}[]" for c, t in GAP_COLUMNS) + ")")
UPDATE_FLEET = ("UPDATE fleet f SET high_seq = u.h, last_event_at = u.s, last_seen = u.s FROM "
                "unnest(%(p)b::text[], %(d)b::text[], %(h)b::bigint[], %(s)b::float8[]) AS u(p, d, h, s) "
                "WHERE f.post = u.p AND f.device = u.d")


def _run(conn: Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """On the transaction's own psycopg connection, with binary parameters (SQLAlchemy cannot ask for them)."""
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(sql, params, binary=True)
        return cur.fetchall() if cur.description else []


def _columns(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> dict[str, list[Any]]:
    return {c: [r[c] for r in rows] for c, _ in columns}


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Returns the ids inserted by this statement (not those another process stored first)."""
    if not rows:
        return set()
    return {r[0] for r in _run(conn, INSERT_EVENTS, _columns(rows, EVENT_COLUMNS))}


def insert_crossings(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        _run(conn, INSERT_CROSSINGS, _columns(rows, CROSSING_COLUMNS))


def stored_signatures(conn: Connection, ids: list[str]) -> dict[str, str]:
    return {i: sig for i, sig in _run(conn, STORED_SIGNATURES, {"ids": ids})} if ids else {}


def lock_fleet(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Make the missing fleet rows, then lock them in one order (ingest processes neither deadlock nor lose a gap)."""
    p, d = [k[0] for k in keys], [k[1] for k in keys]
    _run(conn, ENSURE_FLEET, {"p": p, "d": d})
    return {(post, device): high for post, device, high in _run(conn, LOCK_FLEET, {"p": p, "d": d})}


def update_fleet(conn: Connection, updates: Sequence[dict[str, Any]]) -> None:
    _run(conn, UPDATE_FLEET, {"p": [u["k_post"] for u in updates], "d": [u["k_device"] for u in updates],
                                        "h": [u["k_high"] for u in updates], "s": [u["k_seen"] for u in updates]})


def open_gaps(conn: Connection, keys: list[tuple[str, str]]) -> list[tuple[Any, ...]]:
    """(id, post, device, from_seq, to_seq, opened_at, resend_at, resends) of the devices' open gaps."""
    return _run(conn, OPEN_GAPS, {"p": [k[0] for k in keys], "d": [k[1] for k in keys]}) if keys else []


def replace_gaps(conn: Connection, delete: list[int], insert: Sequence[dict[str, Any]]) -> None:
    if delete:
        _run(conn, DELETE_GAPS, {"ids": delete})
    if insert:
        _run(conn, INSERT_GAPS, _columns(insert, GAP_COLUMNS))
