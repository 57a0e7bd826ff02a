"""Write what the ingest verified: events once (by id), crossings' rows, quarantine, sequence gaps — one transaction.

The caller acknowledges the broker only after `write` returned (the commit), so a crash loses nothing: the
broker delivers again, and the id makes the second copy a no-op. A second copy whose signature differs is
different content under the same id: the first stays, the second goes to quarantine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from central import db, sequences, store_pg
from central.rows import crossing_row
from central.verify import CONFLICT, Accepted, Quarantined

QUARANTINE_KEEP_BYTES = 64 * 1024


@dataclass
class Batch:
    accepted: list[tuple[Accepted, str, float]] = field(default_factory=list)   # (event, raw JSON, received_at)
    quarantined: list[tuple[Quarantined, str, bytes, float]] = field(default_factory=list)  # (+ topic, payload)
    rows: dict[str, dict[str, Any]] | None = None   # crossing rows by event id (EventStore.prepare)


@dataclass
class Written:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    gaps_opened: int = 0
    gaps_filled: int = 0


def _insert(engine: Engine, table: sa.Table):  # type: ignore[no-untyped-def]
    return (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(table)


class EventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.partitions = db.Partitions()
        self.pseudonym_key = bytes.fromhex(db.setting(engine, "pseudonym_key", lambda: os.urandom(32).hex()))

    def prepare(self, batch: Batch) -> None:
        """The crossings' statistics rows, made before `write` (by the ingest's checking thread, not its writer);
        of two copies of one id in a batch, the first's, as it is the one stored."""
        batch.rows = {}
        for a, _, _ in batch.accepted:
            if a.kind == "crossing" and a.event_id not in batch.rows:
                batch.rows[a.event_id] = crossing_row(a.event, self.pseudonym_key)

    def write(self, batch: Batch) -> Written:
        out = Written()
        if batch.rows is None:
            self.prepare(batch)
        rows = batch.rows or {}
        self.partitions.ensure(self.engine, {r["day"] for r in rows.values()})
        with self.engine.begin() as conn:
            inserted = self._insert_events(conn, batch)
            conflicts, consistent = self._conflicts(conn, batch, inserted)
            # new: inserted now, and what is stored is this copy (another process may have won a race for the id)
            new_ids = inserted.keys() & {a.event_id for a, _ in consistent}
            out.duplicates = len(batch.accepted) - len(new_ids)
            fresh = [r for eid, r in rows.items() if eid in new_ids]
            if fresh and self.pg:
                store_pg.insert_crossings(conn, fresh)
            elif fresh:
                conn.execute(_insert(self.engine, db.crossings)
                             .on_conflict_do_nothing(index_elements=["event_id", "time"]), fresh)
            quarantined = list(batch.quarantined) + conflicts
            if quarantined:
                conn.execute(db.quarantine.insert(), [
                    {"received_at": rec, "topic": topic[:500], "event_id": q.event_id, "reason_code": q.reason_code,
                     "reason": q.reason, "payload": payload[:QUARANTINE_KEEP_BYTES]}
                    for q, topic, payload, rec in quarantined])
            out.quarantined = len(quarantined)
        # Sequences in a second, short transaction: its per-device row locks are held for milliseconds, not for
        # the whole batch, so ingest processes sharing devices do not queue behind each other. It takes every
        # stored copy, not only new ones: after a crash between the two commits, the broker's redelivery (nothing
        # was acknowledged) brings the sequences in; seeing a sequence twice changes nothing.
        if consistent:
            with self.engine.begin() as conn:
                self._sequences(conn, consistent, out)
        out.stored = len(new_ids)
        return out

    def _insert_events(self, conn: Connection, batch: Batch) -> dict[str, str]:
        """Insert the copies whose id is not stored yet; returns the signatures stored now, by id."""
        ids = list({a.event_id for a, _, _ in batch.accepted})
        seen: set[str] = set()
        if ids and not self.pg:   # PostgreSQL: RETURNING says which were new
            seen = set(conn.execute(sa.select(db.events.c.id).where(db.events.c.id.in_(ids))).scalars())
        values = []
        for a, raw, rec in batch.accepted:
            if a.event_id in seen:
                continue
            seen.add(a.event_id)
            values.append({"id": a.event_id, "post": a.post, "device": a.device, "seq": a.seq, "kind": a.kind,
                           "time": a.event["time"], "received_at": rec, "signature": a.event["signature"],
                           "payload": raw})
        if self.pg:
            new = store_pg.insert_events(conn, values)
            return {v["id"]: v["signature"] for v in values if v["id"] in new}
        if not values:
            return {}
        # executemany of one statement, prepared once (psycopg pipelines it): a multi-row VALUES (`.values(list)`,
        # or RETURNING) is a new statement text per batch, and compiling and parsing it cost more than the database
        conn.execute(_insert(self.engine, db.events).on_conflict_do_nothing(index_elements=["id"]), values)
        return {v["id"]: v["signature"] for v in values}   # BEGIN IMMEDIATE: the read above saw every other writer

    def _conflicts(self, conn: Connection, batch: Batch, inserted: dict[str, str]
                   ) -> tuple[list[tuple[Quarantined, str, bytes, float]], list[tuple[Accepted, float]]]:
        """Copies whose id was already stored (now or before) with another signature: different content; and
        the copies that are the stored content. Only ids stored before this batch are read back."""
        ids = list({a.event_id for a, _, _ in batch.accepted} - inserted.keys())
        if self.pg:
            stored = store_pg.stored_signatures(conn, ids)
        else:
            stored = dict(conn.execute(sa.select(db.events.c.id, db.events.c.signature)
                                       .where(db.events.c.id.in_(ids))).all()) if ids else {}
        stored.update(inserted)
        conflicts, consistent = [], []
        for a, raw, rec in batch.accepted:
            if stored.get(a.event_id) == a.event["signature"]:
                consistent.append((a, rec))
            else:
                conflicts.append((Quarantined(CONFLICT, "same id as a stored event, different content: the first is "
                                              "kept", a.event_id), f"{a.post}/{a.device}", raw.encode(), rec))
        return conflicts, consistent

    def _sequences(self, conn: Connection, fresh: list[tuple[Accepted, float]], out: Written) -> None:
        """Per device: a sequence above the highest seen + 1 opens a gap; one at or below it may fill one.

        A few statements per batch whatever the number of devices or gaps: one upsert, one locking read
        (PostgreSQL: FOR UPDATE, in one order, so ingest processes neither deadlock nor lose a gap), one read of
        the open gaps of the devices that got an old sequence, one delete and one insert of gaps, one update."""
        by_device: dict[tuple[str, str], list[int]] = {}
        last: dict[tuple[str, str], float] = {}
        for a, rec in fresh:
            by_device.setdefault((a.post, a.device), []).append(a.seq)
            last[(a.post, a.device)] = max(last.get((a.post, a.device), 0.0), rec)
        if not by_device:
            return
        keys = sorted(by_device)
        f = db.fleet
        if self.pg:
            highs = store_pg.lock_fleet(conn, keys)
        else:
            conn.execute(_insert(self.engine, f).on_conflict_do_nothing(index_elements=["post", "device"]),
                         [{"post": p, "device": d, "high_seq": 0} for p, d in keys])
            highs = {(p, d): h for p, d, h in conn.execute(
                sa.select(f.c.post, f.c.device, f.c.high_seq).where(sa.tuple_(f.c.post, f.c.device).in_(keys)))}
        behind = [k for k in keys if min(by_device[k]) <= highs[k]]   # may fill a gap: read those devices' gaps
        gaps = self._open_gaps(conn, behind)
        now = time.time()
        delete: list[int] = []
        insert: list[dict[str, Any]] = []
        updates = []
        for key in keys:
            step = sequences.advance(highs[key], by_device[key], gaps.get(key, ()), now)
            delete += step.delete
            insert += [{"post": key[0], "device": key[1], "from_seq": g.from_seq, "to_seq": g.to_seq,
                        "opened_at": g.opened_at, "resend_at": g.resend_at, "resends": g.resends}
                       for g in step.insert]
            out.gaps_opened += step.opened
            out.gaps_filled += step.filled
            updates.append({"k_post": key[0], "k_device": key[1], "k_high": step.high, "k_seen": last[key]})
        if self.pg:
            store_pg.replace_gaps(conn, delete, insert)
            store_pg.update_fleet(conn, updates)
            return
        if delete:
            conn.execute(db.gaps.delete().where(db.gaps.c.id.in_(delete)))
        if insert:
            conn.execute(db.gaps.insert(), insert)
        conn.execute(f.update().where(f.c.post == sa.bindparam("k_post"), f.c.device == sa.bindparam("k_device"))
                     .values(high_seq=sa.bindparam("k_high"), last_event_at=sa.bindparam("k_seen"),
                             last_seen=sa.bindparam("k_seen")), updates)

    def _open_gaps(self, conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[sequences.Gap]]:
        if not keys:
            return {}
        g = db.gaps
        rows = store_pg.open_gaps(conn, keys) if self.pg else conn.execute(
            sa.select(g.c.id, g.c.post, g.c.device, g.c.from_seq, g.c.to_seq, g.c.opened_at, g.c.resend_at,
                      g.c.resends).where(sa.tuple_(g.c.post, g.c.device).in_(keys))).all()
        found: dict[tuple[str, str], list[sequences.Gap]] = {}
        for gid, post, device, from_seq, to_seq, opened_at, resend_at, resends in rows:
            found.setdefault((post, device), []).append(
                sequences.Gap(from_seq, to_seq, opened_at, resend_at, resends, gid))
        return found

    # ------------------------------------------------------------------ fleet messages (not stored events)
    def fleet_update(self, post: str, device: str, kind: str, data: dict[str, Any], received_at: float,
                     live: bool = True) -> None:
        """`live` is False for a retained status replayed by the broker: it says nothing of when the device spoke."""
        values: dict[str, Any] = {"last_seen": received_at} if live else {}
        if kind == "status":
            values.update(status=data.get("state"), status_at=received_at, version=data.get("version"))
        elif kind == "telemetry":
            values.update(telemetry=json.dumps(data, sort_keys=True), telemetry_at=received_at)
        with self.engine.begin() as conn:
            conn.execute(_insert(self.engine, db.fleet).values(post=post, device=device, high_seq=0)
                         .on_conflict_do_nothing(index_elements=["post", "device"]))
            conn.execute(db.fleet.update().where(db.fleet.c.post == post, db.fleet.c.device == device)
                         .values(**values))

    def command_result(self, data: dict[str, Any], received_at: float) -> bool:
        cid = data.get("command_id")
        if not isinstance(cid, str):
            return False
        with self.engine.begin() as conn:
            return bool(conn.execute(db.commands.update().where(db.commands.c.id == cid).values(
                result_ok=bool(data.get("ok")), result=json.dumps({"result": data.get("result"),
                                                                   "error": data.get("error")}),
                result_at=received_at)).rowcount)
